"""Turn whatever a satellite connection raised into one clear :class:`UpstreamError`.

The MCP SDK reports faults as httpx2 errors, ``MCPError`` codes (some of them
synthesised by the transport from HTTP statuses), pydantic ``ValidationError``
or ``OSError``, often wrapped in ``ExceptionGroup``s. Callers get an
``UpstreamError`` whose ``details`` hold ``{"slug", "reason"}``; ``reason`` is
one of the constants below.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import anyio
import httpx2
import mcp_types as types
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from nexus_agent.outbound import refusal_of
from nexus_agent.wire.errors import NexusError, UpstreamError
from nexus_agent.wire.secret_guard import redact as redact_detected

UNREACHABLE = "unreachable"
TIMEOUT = "timeout"
TOKEN_REJECTED = "token_rejected"
TOKEN_MISSING = "token_missing"
PROTOCOL = "protocol"
HTTP_ERROR = "http_error"
DISCONNECTED = "disconnected"
REJECTED = "rejected"
SATELLITE_ERROR = "satellite_error"
CIRCUIT_OPEN = "circuit_open"
FAILED = "failed"
REFUSED_BY_POLICY = "refused_by_policy"

#: Reasons that say nothing about the satellite's health (it answered, and said no).
NOT_A_FAULT = frozenset({REJECTED, CIRCUIT_OPEN, TOKEN_MISSING, REFUSED_BY_POLICY})
#: Reasons after which the connection is dropped and reopened on next use.
DROP_CONNECTION = frozenset({UNREACHABLE, PROTOCOL, HTTP_ERROR, DISCONNECTED, TOKEN_REJECTED, TOKEN_MISSING})
#: Reasons worth a retry (only ever for read-only or idempotent tools).
TRANSIENT = frozenset({UNREACHABLE, DISCONNECTED, HTTP_ERROR})


@dataclass
class FaultContext:
    """What is known about the connection when a fault happens."""

    slug: str
    where: str
    token_env: str | None = None
    secrets: tuple[str, ...] = ()


def reason_of(error: UpstreamError) -> str:
    details = error.details if isinstance(error.details, dict) else {}
    return str(details.get("reason", FAILED))


def satellite_error(ctx: FaultContext, reason: str, message: str, hint: str | None = None) -> UpstreamError:
    return UpstreamError(
        redact(message, ctx.secrets),
        hint=redact(hint, ctx.secrets) if hint else None,
        details={"slug": ctx.slug, "reason": reason},
    )


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` without the connection's own secrets, nor any the secret guard detects (a satellite's error
    message reaches the client, as its answer does, and an answer carrying a secret is withheld)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return redact_detected(text)


def innermost(exc: BaseException) -> BaseException:
    """The first real cause inside nested exception groups."""
    while isinstance(exc, BaseExceptionGroup):
        inner = [e for e in exc.exceptions if not isinstance(e, anyio.get_cancelled_exc_class())]
        exc = (inner or list(exc.exceptions))[0]
    return exc


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, httpx2.ConnectError) and (not text or "connection attempts failed" in text):
        text = "connection refused"
    return text or type(exc).__name__


def _http_fault(ctx: FaultContext, status: int, action: str) -> UpstreamError:
    if status in (401, 403):
        if ctx.token_env is None:
            return satellite_error(
                ctx,
                TOKEN_MISSING,
                f"satellite '{ctx.slug}' requires a bearer token (HTTP {status}) but none is configured",
                "Set endpoints.token_env in the registry to the name of the environment variable holding its token.",
            )
        return satellite_error(
            ctx,
            TOKEN_REJECTED,
            f"satellite '{ctx.slug}' rejected Nexus's token (HTTP {status}) while {action}",
            f"Check that the environment variable {ctx.token_env} holds the token the satellite expects.",
        )
    if status == 404:
        return satellite_error(
            ctx,
            PROTOCOL,
            f"satellite '{ctx.slug}' has no MCP endpoint at {ctx.where} (HTTP 404)",
            "Check endpoints.mcp_url in the registry (MCP servers usually serve '/mcp').",
        )
    return satellite_error(
        ctx,
        HTTP_ERROR,
        f"satellite '{ctx.slug}' answered HTTP {status} at {ctx.where} while {action}",
        "The satellite is failing; check its logs." if status >= 500 else None,
    )


def classify(
    exc: BaseException,
    ctx: FaultContext,
    action: str,
    timeout: float | None = None,
    http_status: int | None = None,
) -> UpstreamError:
    """Describe ``exc`` as a per-satellite :class:`UpstreamError`.

    ``action`` reads like 'calling tool x'; ``http_status`` is the failing HTTP status the request met, if any.
    """
    exc = innermost(exc)
    if isinstance(exc, UpstreamError):
        return exc
    slug = ctx.slug
    if isinstance(exc, TimeoutError | httpx2.TimeoutException) or (
        isinstance(exc, MCPError) and exc.code == types.REQUEST_TIMEOUT
    ):
        within = f" within {timeout:g} s" if timeout is not None else " in time"
        return satellite_error(
            ctx,
            TIMEOUT,
            f"satellite '{slug}' did not answer{within} while {action}",
            "The satellite may be overloaded or stuck; try again later or allow a longer timeout.",
        )
    refusal = exc if isinstance(exc, NexusError) else refusal_of(exc)
    if refusal is not None:  # Nexus's own rules (outbound URL policy, untrusted command): nothing was contacted
        return satellite_error(
            ctx, REFUSED_BY_POLICY, f"satellite '{slug}' was not contacted: {refusal.message}", refusal.hint
        )
    if http_status is not None and http_status >= 400 and not isinstance(exc, ValidationError):
        return _http_fault(ctx, http_status, action)
    if isinstance(exc, httpx2.ConnectError | ConnectionRefusedError):
        return satellite_error(
            ctx,
            UNREACHABLE,
            f"satellite '{slug}' is unreachable at {ctx.where}: {_describe(exc)}",
            "Check that the satellite is running and that its registry endpoint is right.",
        )
    if isinstance(exc, OSError):  # a stdio command that cannot be started
        return satellite_error(
            ctx,
            UNREACHABLE,
            f"could not start satellite '{slug}' ({ctx.where}): {_describe(exc)}",
            "Check endpoints.mcp_command in the registry and that the program is installed.",
        )
    if isinstance(exc, httpx2.TransportError | anyio.ClosedResourceError | anyio.BrokenResourceError | EOFError):
        return satellite_error(
            ctx, DISCONNECTED, f"lost the connection to satellite '{slug}' while {action}: {_describe(exc)}"
        )
    if isinstance(exc, ValidationError):
        errors = exc.errors(include_url=False)
        where = ".".join(str(p) for p in errors[0]["loc"]) if errors else ""
        first_problem = errors[0]["msg"] if errors else "invalid"
        return satellite_error(
            ctx,
            PROTOCOL,
            f"satellite '{slug}' sent a reply Nexus could not understand while {action} "
            f"({exc.error_count()} problem(s), first at '{where}': {first_problem})",
            "The satellite does not follow the MCP schema; fix the satellite.",
        )
    if isinstance(exc, MCPError):
        return _mcp_fault(exc, ctx, action)
    if isinstance(exc, RuntimeError) and ("structured content" in str(exc) or "Invalid schema" in str(exc)):
        return satellite_error(ctx, PROTOCOL, f"satellite '{slug}' answered badly while {action}: {exc}")
    return satellite_error(ctx, FAILED, f"satellite '{slug}' failed while {action}: {type(exc).__name__}: {exc}")


def _mcp_fault(exc: MCPError, ctx: FaultContext, action: str) -> UpstreamError:
    slug, text = ctx.slug, exc.message
    if exc.code == types.CONNECTION_CLOSED or text == "Session terminated":
        return satellite_error(ctx, DISCONNECTED, f"lost the connection to satellite '{slug}' while {action}: {text}")
    if exc.code == types.PARSE_ERROR or text.startswith("Unexpected content type"):
        return satellite_error(
            ctx,
            PROTOCOL,
            f"satellite '{slug}' did not answer with MCP at {ctx.where} while {action}: {text}",
            "Check that the registry endpoint points at the satellite's MCP endpoint.",
        )
    if exc.code == types.METHOD_NOT_FOUND and "connecting" in action:
        return satellite_error(
            ctx, PROTOCOL, f"satellite '{slug}' at {ctx.where} does not speak MCP (the handshake failed: {text})"
        )
    if exc.code == types.INTERNAL_ERROR:
        return satellite_error(ctx, SATELLITE_ERROR, f"satellite '{slug}' failed internally while {action}: {text}")
    return satellite_error(
        ctx, REJECTED, f"satellite '{slug}' refused the request while {action}: {text} (JSON-RPC error {exc.code})"
    )
