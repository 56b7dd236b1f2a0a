"""The HTTP face of Nexus: streamable HTTP MCP at ``/mcp`` and ``GET /api/health``.

One Starlette app under uvicorn. Its lifespan opens the services, builds the MCP
server and runs its session manager; a bearer-token gate sits in front of every
route whenever tokens are configured (and tokens are required to bind anything
but loopback). NexusErrors become JSON bodies here, and only here.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Mapping

import anyio
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from memory.database import Database
from nexus_agent.config import Settings, is_loopback_host
from nexus_agent.events import GITHUB_WEBHOOK_PATH, GitHubEvent, github_webhook_route
from nexus_agent.github_inbox import GitHubInbox
from nexus_agent.planner.build import attach_planner
from nexus_agent.server import build_mcp_server, http_caller, relay_satellite_tool_changes
from nexus_agent.services import NexusServices, open_services
from nexus_agent.wire.errors import ConfigError, NexusError, Unauthorized
from nexus_agent.wire.secret_guard import install_log_redaction
from tools.health_tools import collect_health

__all__ = ["BearerTokenGate", "create_app", "error_response"]

log = logging.getLogger("nexus.http")


def error_response(exc: NexusError) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="nexus"'} if isinstance(exc, Unauthorized) else None
    return JSONResponse({"error": exc.to_dict()}, status_code=exc.http_status, headers=headers)


class BearerTokenGate:
    """Pure ASGI middleware: every HTTP request needs ``Authorization: Bearer <token>``.

    ``open_paths`` authenticate themselves (GitHub's webhook is signed with HMAC, and GitHub
    cannot send a bearer token).
    """

    def __init__(self, app: ASGIApp, tokens: list[str], open_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self._tokens = [t.encode() for t in tokens]
        self._open_paths = open_paths

    def _valid(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                if scheme.lower() != b"bearer" or not token:
                    return False
                # Compare against every token so timing does not reveal which one matched.
                matched = False
                for known in self._tokens:
                    matched |= hmac.compare_digest(known, token.strip())
                return matched
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in self._open_paths and not self._valid(scope):
            response = error_response(
                Unauthorized(
                    "a valid bearer token is required",
                    hint="Send 'Authorization: Bearer <token>' with one of the tokens in NEXUS_TOKENS.",
                )
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class _LateBoundApp:
    """Routes to the MCP app once the lifespan has built it."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

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
        if self.app is None:
            response = JSONResponse({"error": {"code": "starting", "message": "Nexus is starting"}}, 503)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _transport_security(settings: Settings, allowed_hosts: list[str] | None) -> TransportSecuritySettings:
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
    if not is_loopback_host(settings.http_host):
        hosts.append(f"{settings.http_host}:*")
    hosts += allowed_hosts or []
    origins = [f"http://{h}" for h in hosts] + [f"https://{h}" for h in hosts]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


def create_app(
    settings: Settings,
    *,
    services: NexusServices | None = None,
    secrets: Mapping[str, str] | None = None,
    allowed_hosts: list[str] | None = None,
) -> Starlette:
    """Build the Starlette app.

    ``secrets`` is where satellite tokens are read from (the CLI passes the environment).
    Pass ``services`` to share already-open services (tests).
    """
    tokens = settings.token_values()
    if not tokens and not is_loopback_host(settings.http_host):
        raise ConfigError(
            f"refusing to serve on {settings.http_host} without bearer tokens",
            hint="Set NEXUS_TOKENS (or NEXUS_TOKEN_FILE), or bind 127.0.0.1 for local use.",
        )
    mcp_endpoint = _LateBoundApp()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        install_log_redaction()  # uvicorn has configured its loggers by now
        async with contextlib.AsyncExitStack() as stack:
            svc = (
                services
                if services is not None
                else await stack.enter_async_context(open_services(settings, secrets=secrets, monitor=True))
            )
            app.state.services = svc
            install_log_redaction(svc.known_secrets)  # the exact configured secret values, on every handler
            if svc.planner is None:
                attach_planner(svc)
            server = build_mcp_server(svc, actor=http_caller(settings))
            mcp_endpoint.app = server.streamable_http_app(
                streamable_http_path="/mcp",
                transport_security=_transport_security(settings, allowed_hosts),
                host=settings.http_host,
            )
            await stack.enter_async_context(server.session_manager.run())
            tg = await stack.enter_async_context(anyio.create_task_group())
            tg.start_soon(relay_satellite_tool_changes, server, svc)
            inbox.services = svc
            tg.start_soon(inbox.run)
            log.info("Nexus MCP endpoint ready at /mcp")
            try:
                yield
            finally:
                mcp_endpoint.app = None
                tg.cancel_scope.cancel()

    async def health(request: Request) -> JSONResponse:
        svc: NexusServices = request.app.state.services
        try:
            report = await collect_health(svc)
        except NexusError as exc:
            return error_response(exc)
        return JSONResponse(json.loads(report.model_dump_json()), status_code=200 if report.status != "down" else 503)

    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            {
                "error": {
                    "code": "not_found",
                    "message": f"no route {request.url.path}",
                    "hint": "Use /mcp or /api/health.",
                }
            },
            status_code=404,
        )

    async def nexus_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, NexusError)
        return error_response(exc)

    inbox = _LateInbox()
    github_secret = settings.github_webhook_secret
    github = github_webhook_route(
        lambda: github_secret.get_secret_value() if github_secret else None,
        inbox.on_event,
        lambda: inbox.database(),
    )
    return Starlette(
        routes=[Route("/api/health", health, methods=["GET"]), github, Mount("/", app=mcp_endpoint)],
        lifespan=lifespan,
        exception_handlers={NexusError: nexus_error},
        middleware=[Middleware(BearerTokenGate, tokens=tokens, open_paths=frozenset({GITHUB_WEBHOOK_PATH}))]
        if tokens
        else [],
    )


class _LateInbox:
    """The GitHub inbox of the services the lifespan opens."""

    def __init__(self) -> None:
        self.services: NexusServices | None = None
        self._inbox: GitHubInbox | None = None

    def database(self) -> Database:
        if self.services is None:
            raise NexusError("Nexus is starting", hint="Retry in a moment.")
        return self.services.database

    async def on_event(self, event: GitHubEvent) -> None:
        if self.services is None:
            raise NexusError("Nexus is starting", hint="GitHub will redeliver.")
        if self._inbox is None:
            self._inbox = GitHubInbox(self.services)
        await self._inbox.on_event(event)

    async def run(self) -> None:
        if self.services is None:
            raise RuntimeError("the GitHub inbox runs only inside the app's lifespan")
        if self._inbox is None:
            self._inbox = GitHubInbox(self.services)
        await self._inbox.run()
