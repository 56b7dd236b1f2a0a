"""Self-registration: submit an AppRecord to Nexus's ``registry_register`` MCP tool.

The satellite is a plain MCP client of Nexus here: streamable HTTP with a bearer
token, one tool call, ``{"record": <AppRecord as JSON>}``. The token is sent
only in the ``Authorization`` header and never appears in an error or a log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from nexus_agent.wire.errors import ConfigError, NexusError, Unauthorized, UpstreamError
from nexus_agent.wire.models import AppRecord

__all__ = ["REGISTER_TOOL", "register"]

log = logging.getLogger("satellite_template")

REGISTER_TOOL = "registry_register"


async def register(record: AppRecord, nexus_mcp_url: str, token: str, *, timeout_s: float = 30.0) -> dict[str, Any]:
    """Call ``registry_register`` on Nexus and return its structured answer (or ``{"text": ...}``).

    Raises :class:`Unauthorized` when Nexus refuses the token and :class:`UpstreamError` when
    Nexus cannot be reached or rejects the record (its message says why).
    """
    if record.endpoints.mcp_command:
        raise ConfigError(
            f"the self-registration of {record.slug!r} names endpoints.mcp_command; a satellite registers its URL",
            hint="Drop mcp_command (Nexus refuses it over HTTP): only Nexus's owner sets a command, on that machine.",
        )
    arguments = {
        "record": record.model_dump(mode="json", exclude_none=True),
        "reason": f"self-registration of {record.slug} {record.version} by the satellite kit",
    }
    headers = {"Authorization": f"Bearer {token}"}
    refusals: list[int] = []  # the SDK turns an HTTP error into a generic MCP error: keep the status

    async def note_refusal(response: httpx2.Response) -> None:
        if response.status_code in {401, 403}:
            refusals.append(response.status_code)

    hooks = {"response": [note_refusal]}
    try:
        with anyio.fail_after(timeout_s):
            async with (
                httpx2.AsyncClient(headers=headers, timeout=timeout_s, event_hooks=hooks) as http,
                Client(streamable_http_client(nexus_mcp_url, http_client=http)) as client,
            ):
                result = await client.call_tool(REGISTER_TOOL, arguments)
    except NexusError:
        raise
    except TimeoutError:
        raise UpstreamError(
            f"Nexus at {nexus_mcp_url} did not answer within {timeout_s:g} s",
            hint="Check that Nexus is running and NEXUS_URL points at its /mcp endpoint.",
        ) from None
    except Exception as exc:  # the SDK wraps transport failures in exception groups
        raise _translate(exc, nexus_mcp_url, refusals) from None
    text = " ".join(getattr(block, "text", "") for block in result.content).strip()
    if result.is_error:
        raise UpstreamError(
            f"Nexus refused the registration of {record.slug!r}: {text or 'no reason given'}",
            hint="Correct the satellite's declaration and register again.",
        )
    log.info("registered %s with Nexus at %s", record.slug, nexus_mcp_url)
    if isinstance(result.structured_content, dict):
        return result.structured_content
    return {"text": text}


def _translate(exc: BaseException, url: str, refusals: list[int]) -> NexusError:
    if refusals:
        return Unauthorized(
            f"Nexus at {url} refused this satellite's token (HTTP {refusals[-1]})",
            hint="Set NEXUS_TOKEN (or SATELLITE_NEXUS_TOKEN_FILE) to a token Nexus accepts.",
        )
    chain = list(_chain(exc))
    for cause in chain:
        if isinstance(cause, httpx2.HTTPStatusError):
            return UpstreamError(
                f"Nexus at {url} answered HTTP {cause.response.status_code}", hint="Check NEXUS_URL and Nexus's logs."
            )
        if isinstance(cause, httpx2.TransportError):
            return UpstreamError(
                f"cannot reach Nexus at {url}: {type(cause).__name__}",
                hint="Check that Nexus is running and NEXUS_URL points at its /mcp endpoint.",
            )
    cause = chain[-1]
    return UpstreamError(
        f"registering with Nexus at {url} failed: {type(cause).__name__}: {cause}",
        hint="Check that NEXUS_URL points at Nexus's /mcp endpoint and read Nexus's logs.",
    )


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then the first member of each exception group and each ``__cause__``, outermost first."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup) and current.exceptions:
            current = current.exceptions[0]
        else:
            current = current.__cause__
