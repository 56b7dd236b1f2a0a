"""The HTTP face of a satellite: ``/mcp``, ``GET /api/health``, ``POST /api/webhooks/nexus``.

Built by :meth:`satellite_template.Satellite.create_app`. Responses to the webhook:

    200 {"status": "processed" | "ignored", "delivery_id"}   handled, or no handler for that event
    400 / 401 / 409 / 413 / 503                               rejected, see nexus_agent.wire.signing
    500 {"code": "handler_failed"}                            the handler raised; the delivery id is
                                                              forgotten so Nexus's retry is processed
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING

import anyio.to_thread
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import BearerAuthBackend, RequireAuthMiddleware
from mcp.server.auth.provider import AccessToken
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from nexus_agent.wire.errors import ConfigError, NexusError
from nexus_agent.wire.inbound import BodyDeadline, SameOriginOnly
from nexus_agent.wire.signing import InMemoryReplayGuard, ReplayGuard, WebhookRejected, verify_request
from nexus_agent.wire.webhook_body import read_webhook_body
from satellite_template.kit import HEALTH_PATH, MCP_PATH, WEBHOOK_PATH
from satellite_template.replay import SqliteReplayGuard
from satellite_template.settings import SatelliteSettings, is_loopback_host

if TYPE_CHECKING:
    from satellite_template.kit import Satellite

__all__ = ["StaticTokenVerifier", "build_app"]

log = logging.getLogger("satellite_template")


class StaticTokenVerifier:
    """An MCP ``TokenVerifier`` accepting a fixed set of bearer tokens (compared in constant time)."""

    def __init__(self, tokens: Sequence[str]) -> None:
        self._digests = [hashlib.sha256(t.encode("utf-8")).digest() for t in tokens]

    async def verify_token(self, token: str) -> AccessToken | None:
        presented = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        match = None
        for index, known in enumerate(self._digests):  # no early exit: timing does not reveal which one
            if hmac.compare_digest(presented, known):
                match = index
        if match is None:
            return None
        return AccessToken(token=token, client_id=f"token-{match + 1}", scopes=[])


def build_app(
    sat: Satellite,
    settings: SatelliteSettings,
    *,
    clock: Callable[[], float] = time.time,
    replay_guard: ReplayGuard | None = None,
) -> Starlette:
    mcp_app = _mcp_app(sat, settings)
    endpoints = _Endpoints(sat, settings, clock, replay_guard)
    routes = [
        Route(HEALTH_PATH, endpoints.health, methods=["GET"]),
        Route(WEBHOOK_PATH, endpoints.webhook, methods=["POST"]),
        Route(MCP_PATH, endpoint=mcp_app),  # an ASGI app: every method goes to the MCP transport
    ]
    origins = [o for h in settings.allowed_hosts for o in (f"http://{h}", f"https://{h}")]
    middleware = [  # browsers only from the satellite's own origin; bodies within a deadline (408)
        Middleware(SameOriginOnly, allowed=origins),
        Middleware(BodyDeadline, timeout_s=settings.body_timeout_s),
    ]
    return Starlette(routes=routes, lifespan=endpoints.lifespan, middleware=middleware)


def _mcp_app(sat: Satellite, settings: SatelliteSettings) -> ASGIApp:
    """The streamable-HTTP MCP transport, behind bearer-token auth when tokens are configured."""
    tokens = settings.token_values()
    if not tokens and not is_loopback_host(settings.host):
        raise ConfigError(
            f"refusing to serve MCP on {settings.host} without bearer tokens",
            hint="Set SATELLITE_TOKENS or SATELLITE_TOKEN_FILE, or listen on 127.0.0.1.",
        )
    security = None
    if settings.allowed_hosts:
        security = TransportSecuritySettings(allowed_hosts=list(settings.allowed_hosts))
    mcp_app: ASGIApp = sat.mcp_server.streamable_http_app(
        streamable_http_path=MCP_PATH, transport_security=security, host=settings.host
    )
    if tokens:
        mcp_app = AuthenticationMiddleware(
            AuthContextMiddleware(RequireAuthMiddleware(mcp_app, required_scopes=[])),
            backend=BearerAuthBackend(StaticTokenVerifier(tokens)),
        )
    return mcp_app


class _Endpoints:
    """The lifespan, health and webhook endpoints of one app (one session manager, one replay guard)."""

    def __init__(
        self,
        sat: Satellite,
        settings: SatelliteSettings,
        clock: Callable[[], float],
        replay_guard: ReplayGuard | None,
    ) -> None:
        self.sat, self.settings, self.clock = sat, settings, clock
        self.session_manager = sat.mcp_server.session_manager  # the one made for this app's MCP transport
        self.secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        self.given_guard = replay_guard
        self.guard: ReplayGuard = InMemoryReplayGuard()
        self.started = time.monotonic()
        tokens = settings.token_values()
        self.verifier = StaticTokenVerifier(tokens) if tokens else None

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        guard, owned = self.given_guard, None
        if guard is None and self.settings.replay_db is not None:
            guard = owned = await anyio.to_thread.run_sync(SqliteReplayGuard, self.settings.replay_db)
        self.guard = InMemoryReplayGuard() if guard is None else guard
        self.started = time.monotonic()
        try:
            async with self.session_manager.run():
                yield
        finally:
            if owned is not None:
                await anyio.to_thread.run_sync(owned.close)

    async def health(self, request: Request) -> JSONResponse:
        """Bare liveness without a token (load balancers); the checks only with one of the satellite's tokens."""
        sat = self.sat
        if self.verifier is not None:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if not (scheme.lower() == "bearer" and token.strip()):
                return JSONResponse({"status": "ok"})
            if await self.verifier.verify_token(token.strip()) is None:
                return JSONResponse({"error": "invalid_token"}, status_code=401)
        checks: dict[str, dict[str, str]] = {"mcp": {"status": "pass"}}
        if self.secret:
            checks["webhooks"] = {"status": "pass"}
        elif sat.event_types:
            checks["webhooks"] = {"status": "fail", "detail": "no webhook secret configured"}
        else:
            checks["webhooks"] = {"status": "skip", "detail": "no events subscribed"}
        for name, ok in (await sat.run_checks()).items():
            checks[name] = {"status": "pass" if ok else "fail"}
        healthy = all(c["status"] != "fail" for c in checks.values())
        body = {
            "status": "ok" if healthy else "degraded",
            "slug": sat.slug,
            "name": sat.name,
            "version": sat.version,
            "uptime_s": round(time.monotonic() - self.started, 3),
            "checks": checks,
        }
        return JSONResponse(body, status_code=200 if healthy else 503)

    async def webhook(self, request: Request) -> JSONResponse:
        if not self.secret:
            return _rejected(request, WebhookRejected("not_configured", "this satellite has no webhook secret"))
        settings = self.settings
        try:
            body = await read_webhook_body(request, settings.max_webhook_bytes)
            verify = functools.partial(
                verify_request,
                body,
                request.headers,
                self.secret,
                now=self.clock(),
                seen=self.guard,
                window_s=settings.webhook_window_s,
                max_bytes=settings.max_webhook_bytes,
            )
            envelope = await anyio.to_thread.run_sync(verify)  # a SQLite guard blocks
        except WebhookRejected as exc:
            return _rejected(request, exc)
        try:
            handled = await self.sat.dispatch_event(envelope)
        except Exception as exc:
            log.exception("handler of %s failed for delivery %s", envelope.event, envelope.delivery_id)
            await anyio.to_thread.run_sync(self.guard.release, envelope.delivery_id)
            if isinstance(exc, NexusError):
                return JSONResponse(exc.to_dict(), status_code=exc.http_status)
            failure = {"code": "handler_failed", "message": f"the handler of {envelope.event} failed"}
            return JSONResponse(failure, status_code=500)
        status = "processed" if handled else "ignored"
        log.info("webhook %s %s: %s", envelope.event, envelope.delivery_id, status)
        return JSONResponse({"status": status, "delivery_id": envelope.delivery_id})


def _rejected(request: Request, exc: WebhookRejected) -> JSONResponse:
    client = request.client.host if request.client else "unknown"
    log.warning("webhook from %s rejected (%s, HTTP %d)", client, exc.reason, exc.http_status)
    return JSONResponse(exc.to_dict(), status_code=exc.http_status)
