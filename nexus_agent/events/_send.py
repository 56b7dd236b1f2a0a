"""Sending one signed delivery and judging the answer (private to :mod:`nexus_agent.events`).

See :mod:`nexus_agent.events.dispatcher` for what each answer means. Nothing here logs a
body or a header; an answer's text is cut short, redacted, and scrubbed of the secret.
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from typing import Any

import anyio
import httpx

from nexus_agent.events.models import OutboxEntry
from nexus_agent.events.store import DeliveryOutcome
from nexus_agent.outbound import refusal_of
from nexus_agent.wire.secret_guard import redact
from nexus_agent.wire.signing import SIGNATURE_HEADER, WebhookEnvelope, build_signed_request

__all__ = ["send_signed"]

log = logging.getLogger("nexus.events")

_RETRYABLE_4XX = {408, 429}


async def send_signed(
    http: httpx.AsyncClient,
    entry: OutboxEntry,
    secret: str,
    *,
    timestamp: int,
    timeout_s: float,
    max_response_bytes: int,
    user_agent: str,
    signature_header: str | None = None,
) -> DeliveryOutcome:
    """POST ``entry`` signed with ``secret``, stamped ``timestamp``; never raises (but for cancellation).

    ``signature_header``: a header the target reads the signature from besides ``X-Nexus-Signature`` (legacy apps).
    """
    envelope = WebhookEnvelope(delivery_id=entry.delivery_id, event=entry.event, timestamp=timestamp, data=entry.data)
    body, headers = build_signed_request(envelope, secret)
    headers.update({"User-Agent": user_agent, "Accept-Encoding": "identity"})
    if signature_header and signature_header.lower() != SIGNATURE_HEADER.lower():
        headers[signature_header] = headers[SIGNATURE_HEADER]
    try:
        with anyio.fail_after(timeout_s):
            async with http.stream("POST", entry.url, content=body, headers=headers, timeout=timeout_s) as response:
                answer = await _read_some(response, max_response_bytes)
    except TimeoutError:
        return DeliveryOutcome(entry, False, f"no answer within {timeout_s:g} s")
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        return DeliveryOutcome(entry, False, f"cannot send to {entry.url}: {exc}", permanent=True)
    except httpx.ConnectError as exc:
        refusal = refusal_of(exc)  # the outbound URL policy refused the (resolved) address: retrying cannot help
        if refusal is not None:
            return DeliveryOutcome(entry, False, f"not sent: {refusal.message}", permanent=True)
        return DeliveryOutcome(entry, False, f"ConnectError: {exc}" if str(exc) else "ConnectError")
    except httpx.HTTPError as exc:
        return DeliveryOutcome(entry, False, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    except Exception as exc:
        log.exception("unexpected error sending event %s to %s", entry.id, entry.target)
        return DeliveryOutcome(entry, False, f"unexpected {type(exc).__name__} while sending")
    return _judge(entry, response, answer.replace(secret.encode(), b"[REDACTED:webhook_secret]"))


async def _read_some(response: httpx.Response, limit: int) -> bytes:
    """At most ``limit`` bytes of the answer: a satellite answering with a flood cannot exhaust Nexus."""
    buffer = bytearray()
    try:
        async for chunk in response.aiter_raw():  # raw: no decompression, so no zip bomb either
            buffer += chunk
            if len(buffer) >= limit:
                break
    except httpx.StreamConsumed:  # a response already read in full (a transport that does not stream)
        return response.content[:limit]
    return bytes(buffer[:limit])


def _judge(entry: OutboxEntry, response: httpx.Response, answer: bytes) -> DeliveryOutcome:
    code = response.status_code
    if 200 <= code < 300 or code == 409:
        return DeliveryOutcome(entry, True, status_code=code)
    error = f"HTTP {code}{_explain(answer)}"
    if code >= 500 or code in _RETRYABLE_4XX:
        return DeliveryOutcome(entry, False, error, code, retry_after_s=_retry_after(response))
    if 300 <= code < 400:
        error += f" (redirected to {response.headers.get('location', '?')}; update the app's webhook_url)"
    return DeliveryOutcome(entry, False, error, code, permanent=True)


def _explain(answer: bytes) -> str:
    """``: code: message`` from a JSON error body (kit or Nexus shape), else a short excerpt; redacted."""
    text = answer.decode("utf-8", errors="replace").strip()
    if not text:
        return ""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        inner: dict[str, Any] = body["error"] if isinstance(body.get("error"), dict) else body
        parts = [str(inner.get(k)) for k in ("code", "message") if inner.get(k)]
        if parts:
            text = ": ".join(parts)
    text = redact(" ".join(text[:1000].split())[:300])  # cut first: redact() is slow on long runs of letters
    return f": {text[:200]}"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
