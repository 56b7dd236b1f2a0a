"""The HTTP face of Nexus: streamable HTTP MCP at ``/mcp`` and ``GET /api/health``.

One Starlette app under uvicorn, built over a runtime that is already open:
:func:`open_app` opens the services, the measurement (``/metrics``, backups) and the
planner in order, then :func:`create_app` builds the MCP server, the inboxes and the
routes over them up front. The app's lifespan only runs the MCP session manager and
the background tasks. A bearer-token gate sits in front of every route whenever
tokens are configured (and tokens are required to bind anything but loopback).
NexusErrors become JSON bodies here, and only here.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import anyio
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE, TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from nexus_agent.access import PRINCIPAL_SCOPE_KEY
from nexus_agent.app_inbox import AppInbox
from nexus_agent.auth import Principal, Role
from nexus_agent.auth.credentials import CredentialResolver
from nexus_agent.auth.policy import EVERY_ROLE
from nexus_agent.auth_routes import TOKEN_EXCHANGE_PATH, token_exchange_route
from nexus_agent.config import Settings, is_loopback_host
from nexus_agent.events import GITHUB_WEBHOOK_PATH, github_webhook_route
from nexus_agent.events.app_webhooks import APP_WEBHOOK_PREFIX
from nexus_agent.gateway_fastpath import GatewayFastPath
from nexus_agent.github_inbox import GitHubInbox
from nexus_agent.http_front import FrontDoor
from nexus_agent.ops.measure import measurement
from nexus_agent.ops.serve_lock import serving_home
from nexus_agent.ops.web import ROLES as OPS_ROLES
from nexus_agent.ops.web import OpsWeb
from nexus_agent.planner.build import planner_from_settings
from nexus_agent.server import build_mcp_server, relay_satellite_tool_changes
from nexus_agent.services import NexusServices, open_services
from nexus_agent.wire.errors import ConfigError, Forbidden, NexusError, Unauthorized
from nexus_agent.wire.inbound import (
    HEADERS_SCOPE_KEY,
    ClientDisconnectFilter,
    DrainUnreadBody,
    PlainErrorsAsJson,
)
from nexus_agent.wire.known_secrets import KnownSecrets
from nexus_agent.wire.secret_guard import install_log_redaction, redact_data
from tools.health_tools import collect_health, without_paths

__all__ = ["BearerTokenGate", "check_exposure", "create_app", "error_response", "open_app"]

log = logging.getLogger("nexus.http")
HEALTH_PATH = "/api/health"
#: The MCP SDK answers these in plain text at /mcp; Nexus answers every route in its JSON error shape.
MCP_PLAIN_ERRORS = {
    413: (
        "too_large",
        f"the request body is larger than {DEFAULT_MAX_REQUEST_BODY_SIZE // (1024 * 1024)} MiB",
        "Send a smaller MCP message (large data belongs in a file or a satellite, not in one call).",
    ),
    400: ("invalid_input", "", "POST JSON-RPC with 'Content-Type: application/json' (MCP streamable HTTP)."),
}
_DISCONNECTS = ClientDisconnectFilter()


def error_response(exc: NexusError, known: KnownSecrets | None = None) -> JSONResponse:
    """The one JSON shape of an HTTP error; message, hint and details pass the secret guard's redaction."""
    headers = {"WWW-Authenticate": 'Bearer realm="nexus"'} if isinstance(exc, Unauthorized) else None
    body = redact_data(exc.to_dict(), known=known)
    return JSONResponse({"error": body}, status_code=exc.http_status, headers=headers)


#: Which roles each route admits (by path prefix; unlisted routes: the owner only). Inside /mcp every
#: tool checks the role policy itself; /api/auth/token further requires an API key (see auth_routes).
ROUTE_ROLES: dict[str, frozenset[Role]] = {
    "/mcp": EVERY_ROLE,
    TOKEN_EXCHANGE_PATH: EVERY_ROLE,
    "/api/health": EVERY_ROLE,
    **OPS_ROLES,  # /metrics, /status: owner and monitor (nexus_agent.ops.web.ROLES)
}


@functools.lru_cache(maxsize=512)
def _route_roles(path: str) -> frozenset[Role]:
    for prefix, roles in ROUTE_ROLES.items():
        if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
            return roles
    return frozenset({Role.OWNER})


def _bearer(scope: Scope) -> str | None:
    """The bearer credential ('' for another scheme or none given), None without an Authorization header.
    With the header twice, the first counts."""
    headers = scope.get(HEADERS_SCOPE_KEY)
    if headers is not None:  # the front door's (no name given twice)
        value = headers.get(b"authorization")
        return None if value is None else _credential(value)
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            return _credential(value)
    return None


def _credential(value: bytes) -> str:
    scheme, _, token = value.decode("latin-1").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else ""


#: Who a loopback server with no credential configured at all admits (the local demo set-up).
LOCAL_HTTP_OWNER = Principal(name="local-http", role=Role.OWNER, via="http", credential="none")


class BearerTokenGate:
    """Pure ASGI middleware: resolves ``Authorization: Bearer <credential>`` to a Principal.

    The credential is a ``NEXUS_TOKENS`` token, an issued API key or a Nexus JWT; the Principal goes
    into the scope (``PRINCIPAL_SCOPE_KEY``) for the MCP handlers and routes, and each route admits
    only the roles in :data:`ROUTE_ROLES`. A failure is 401 with a JSON body saying why (unknown,
    expired, revoked, wrong audience, tampered). ``open_paths`` authenticate themselves (GitHub's
    webhook is signed with HMAC, and GitHub cannot send a bearer token). A loopback server with no
    credential configured at all admits unauthenticated callers as the owner, as before roles.
    """

    def __init__(self, app: ASGIApp, resolver: CredentialResolver, open_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self._resolver = resolver
        self._open_paths = open_paths
        self._open_prefixes = tuple(p for p in open_paths if p.endswith("/"))  # each opens everything under it

    async def _principal(self, scope: Scope) -> Principal:
        token = _bearer(scope)
        if token:
            return await self._resolver.resolve(token)
        if token is None and await self._resolver.open_locally():
            return LOCAL_HTTP_OWNER
        raise Unauthorized(
            "a valid bearer token is required",
            hint="Send 'Authorization: Bearer <token>': a NEXUS_TOKENS token, an API key or a Nexus JWT.",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not await self.admit(scope, receive, send):
            return
        await self.app(scope, receive, send)

    async def admit(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Whether an HTTP request goes on: its Principal put in the scope (an open path: as it came), or
        False once the 401/403 went out."""
        path = scope.get("path", "")  # an open path ending in '/' opens everything under it
        if path in self._open_paths or path.startswith(self._open_prefixes):
            return True
        try:
            principal = await self._principal(scope)
            roles = _route_roles(scope["path"])
            if principal.role not in roles:
                raise Forbidden(
                    f"{principal.label()} may not use {scope['path']}",
                    hint=f"It is open to: {', '.join(sorted(r.value for r in roles))}.",
                )
        except NexusError as exc:
            await error_response(exc)(scope, receive, send)
            return False
        scope[PRINCIPAL_SCOPE_KEY] = principal
        return True


class _McpOnly:
    """The MCP app at ``/mcp``; any other path that no route took is a JSON 404."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") != "/mcp":
            response = JSONResponse(
                {
                    "error": {
                        "code": "not_found",
                        "message": f"no route {scope['path']}",
                        "hint": "Nexus serves MCP at /mcp and health at GET /api/health.",
                    }
                },
                status_code=404,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _transport_security(settings: Settings, allowed_hosts: list[str] | None) -> TransportSecuritySettings:
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
    if not is_loopback_host(settings.http_host):
        hosts.append(f"{settings.http_host}:*")
    hosts += allowed_hosts or []
    # Origins are full origins, port included: a page on another port of the same host is another origin.
    # (the front door checks every route against the request's own Host first; this is /mcp's second check.)
    port = settings.http_port
    names = [h.removesuffix(":*") for h in hosts]
    exact = [f"{n}:{port}" if port and h.endswith(":*") else h for n, h in zip(names, hosts, strict=True)]
    origins = [f"{scheme}://{h}" for h in exact for scheme in ("http", "https")]
    origins += [f"{scheme}://{h.removesuffix(f':{p}')}" for h in exact for scheme, p in (("http", 80), ("https", 443))]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=sorted(set(origins))
    )


def check_exposure(settings: Settings) -> None:
    """Refuse to serve beyond loopback without a credential (checked before anything opens)."""
    if not settings.token_values() and settings.jwt_secret is None and not is_loopback_host(settings.http_host):
        raise ConfigError(
            f"refusing to serve on {settings.http_host} without bearer tokens",
            hint="Set NEXUS_TOKENS (or NEXUS_TOKEN_FILE, or NEXUS_JWT_SECRET), or bind 127.0.0.1 for local use.",
        )


@contextlib.asynccontextmanager
async def open_app(
    settings: Settings, *, secrets: Mapping[str, str] | None = None, allowed_hosts: list[str] | None = None
) -> AsyncIterator[ASGIApp]:
    """Open the runtime in order, then yield the app built over it; serve it inside the block.

    The runtime (core, satellite pool, monitor, dispatcher, measurement for ``/metrics``, planner:
    all built up front, opened in that order), then the daily backup (``OpsWeb.running``).
    ``secrets`` is where satellite tokens are read from (the CLI passes the variables it resolved).
    Leaving the block closes everything in reverse order.
    """
    from nexus_agent.ops.metrics import NexusMetrics  # prometheus_client: loaded for HTTP only

    check_exposure(settings)
    metrics = NexusMetrics()  # /metrics: the runtime's observer counts calls into it
    with serving_home(settings):  # `backup restore` / `recover` refuse while this server runs
        async with open_services(
            settings, secrets=secrets, monitor=True, measure=measurement(metrics), planner=planner_from_settings
        ) as services:
            ops = OpsWeb(settings, services, metrics=metrics)  # /metrics, /status, backups (who: ops.web.ROLES)
            async with ops.running():
                yield create_app(settings, services=services, ops=ops, allowed_hosts=allowed_hosts)


def create_app(
    settings: Settings,
    *,
    services: NexusServices,
    ops: OpsWeb,
    allowed_hosts: list[str] | None = None,
) -> ASGIApp:
    """Build the app over an already-open runtime (:func:`open_app` opens it): the front door
    (``http_front.FrontDoor``, every request's checks), then the gateway fast path, then the Starlette app
    (routes, lifespan, NexusErrors as JSON). Neither of the first two is a Starlette middleware: an MCP tool
    call the fast path answers passes no layer it does not need.

    ``ops``: the operations face already running over ``services`` (``open_app``'s).
    """
    check_exposure(settings)
    resolver = CredentialResolver(settings, services.keys_database)
    server = build_mcp_server(services, over_http=True)
    security = _transport_security(settings, allowed_hosts)  # /mcp's own check; the front door: every route
    mcp_app = server.streamable_http_app(
        streamable_http_path="/mcp",
        stateless_http=settings.http_stateless,  # NEXUS_HTTP_STATELESS: legacy clients behind a balancer
        transport_security=security,
        host=settings.http_host,
    )
    logging.getLogger("mcp.server.streamable_http").addFilter(_DISCONNECTS)  # a client gone: INFO, no traceback
    stamp = server._lowlevel_server.server_info_stamp  # what the SDK stamps on each result's _meta
    fastpath = GatewayFastPath(mcp_app, services, server_info=stamp) if settings.gateway_fastpath else None
    inbox = GitHubInbox(services)
    app_events = AppInbox(services)  # legacy apps post their events to /api/webhooks/apps/<slug>, signed (HMAC)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        install_log_redaction()  # uvicorn has configured its loggers by now
        install_log_redaction(services.known_secrets)  # the exact configured secret values, on every handler
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(server.session_manager.run())
            if fastpath is not None:
                stack.push_async_callback(fastpath.aclose)
            tg = await stack.enter_async_context(anyio.create_task_group())
            tg.start_soon(relay_satellite_tool_changes, server, services)
            tg.start_soon(inbox.run)
            tg.start_soon(app_events.relay, server.bus.publish)  # type: ignore[attr-defined]
            log.info("Nexus MCP endpoint ready at /mcp")
            try:
                yield
            finally:
                tg.cancel_scope.cancel()

    github_secret = settings.github_webhook_secret
    github = github_webhook_route(
        lambda: github_secret.get_secret_value() if github_secret else None,
        inbox.on_event,
        services.shared.database if services.shared else services.database,  # PostgreSQL: one replay guard
    )
    app = Starlette(
        routes=[
            _health_route(resolver, services),
            token_exchange_route(resolver),
            github,
            app_events.route(),
            *ops.routes,
            Mount("/", app=_McpOnly(DrainUnreadBody(PlainErrorsAsJson(mcp_app, MCP_PLAIN_ERRORS)))),
        ],
        lifespan=lifespan,
        exception_handlers={NexusError: _nexus_error_handler(services.known_secrets)},
    )
    # Past every check of the front door, before Starlette (what the fast path does not take goes on to it).
    inner = fastpath.around(app) if fastpath is not None else app
    return _front_door(inner, settings, resolver, ops, allowed_hosts, security.allowed_hosts)


def _health_route(resolver: CredentialResolver, svc: NexusServices) -> Route:
    async def health(request: Request) -> JSONResponse:
        """Bare liveness without a credential (load balancers); the details only with a valid one."""
        token = _bearer(request.scope)
        try:
            if token is None and not await resolver.open_locally():
                return JSONResponse({"status": "ok"})
            if token is not None:
                await resolver.resolve(token)  # a wrong credential is 401 here as everywhere
            report = await collect_health(svc)
        except NexusError as exc:
            return error_response(exc)
        body = without_paths(report).model_dump(mode="json")  # served over the network: no filesystem paths
        return JSONResponse(body, status_code=200 if report.status != "down" else 503)

    return Route(HEALTH_PATH, health, methods=["GET"])


def _nexus_error_handler(known: KnownSecrets | None) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def nexus_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, NexusError)
        return error_response(exc, known)

    return nexus_error


def _front_door(
    app: ASGIApp,
    settings: Settings,
    resolver: CredentialResolver,
    ops: OpsWeb,
    allowed_hosts: list[str] | None,
    host_patterns: list[str],
) -> FrontDoor:
    # One layer (http_front.FrontDoor), the checks in this order: DNS rebinding (every route answers only for
    # Nexus's own names, as /mcp does: 421); browsers only from Nexus's own origin, port included (403); the
    # timer, outside the deadline, so a trickled body counts as the 408 its client got, not a 5xx; bodies within
    # a deadline (docs/security.md); the bearer credential and the route's roles (401/403).
    origins = [o for h in allowed_hosts or [] for o in (f"http://{h}", f"https://{h}")]
    # /api/health answers liveness to anyone and checks a credential itself for the details.
    open_paths = ops.open_paths | frozenset({GITHUB_WEBHOOK_PATH, APP_WEBHOOK_PREFIX, HEALTH_PATH})
    return FrontDoor(
        app,
        hosts=host_patterns,
        origins=origins,
        ops=ops,
        body_timeout_s=settings.body_timeout_s,
        gate=lambda inner: BearerTokenGate(inner, resolver=resolver, open_paths=open_paths),
    )
