"""Reading a webhook's raw body without trusting its size: shared by Nexus and the satellite kit."""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request

from nexus_agent.wire.signing import WebhookRejected

__all__ = ["read_webhook_body"]


async def read_webhook_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 before reading past ``limit`` bytes (chunked uploads too)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise WebhookRejected("malformed", "the Content-Length header is not a number")
        if int(declared) > limit:
            raise WebhookRejected("too_large", f"the body is larger than {limit} bytes")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise WebhookRejected("too_large", f"the body is larger than {limit} bytes")
    except ClientDisconnect:
        raise WebhookRejected("malformed", "the sender disconnected before the whole body arrived") from None
    return bytes(body)
