"""The operations face of the HTTP app: ``/metrics``, ``/status``, ``/login``, ``/logout``.

:class:`OpsWeb` is built by ``create_app`` and gives it three things:

- ``routes`` (Starlette routes) and :data:`ROLES`, the one place saying who may use each
  (the bearer gate's role policy reads it; each handler checks it too);
- ``open_paths``: routes that authenticate themselves (a browser's login cookie);
- ``running()``: a lifespan part that serves the database figures on ``/metrics`` and takes
  the daily backup.

It is built over an open runtime whose measurement counts into the same ``metrics``
(``open_services(..., measure=measurement(metrics))``; its observer times the MCP server,
the satellite pool and the planner), so every route has what it reads from the start.

:func:`observe_request` times every HTTP request (the front door, ``http_front.FrontDoor``, calls it).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import anyio
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Scope

from nexus_agent.auth import Role
from nexus_agent.config import Settings
from nexus_agent.ops.web_auth import COOKIE, SESSION_S, Resolver, WebAuth
from nexus_agent.services import NexusServices

if TYPE_CHECKING:  # the heavy parts (prometheus_client, jinja2) load when the HTTP app is built, not on import:
    # `nexus serve` over stdio imports this module too, and its cold start must not pay for them.
    from nexus_agent.ops.metrics import NexusMetrics, PoolSnapshot
    from nexus_agent.ops.observer import OpsObserver

__all__ = ["KNOWN_ROUTES", "ROLES", "OpsWeb", "observe_request"]

log = logging.getLogger("nexus.ops")

#: Who may use each operations route. The login form itself is open (it is how a browser gets a cookie).
ROLES: dict[str, frozenset[Role]] = {
    "/metrics": frozenset({Role.MONITOR, Role.OWNER}),
    "/status": frozenset({Role.OWNER, Role.MONITOR}),  # the monitor reads it; nothing on it changes anything
}
#: Route labels of ``nexus_http_request_duration_seconds``; any other path is ``other``.
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # the Prometheus text format
KNOWN_ROUTES = frozenset({"/mcp", "/api/health", "/metrics", "/status", "/login", "/logout", "/api/webhooks/github"})


class OpsWeb:
    def __init__(
        self,
        settings: Settings,
        services: NexusServices,
        *,
        metrics: NexusMetrics | None = None,
        resolve: Resolver | None = None,
        backup_first_delay: float = 300.0,
    ):
        from nexus_agent.ops.metrics import DatabaseCollector, NexusMetrics
        from nexus_agent.ops.status_page import StatusPage

        self.settings = settings
        self.services = services
        self.auth = WebAuth(settings, resolve)
        self.page = StatusPage()
        self.metrics = metrics or NexusMetrics()
        #: The runtime's observer (``measure=measurement(self.metrics)``); None: requests are not timed.
        self.observer: OpsObserver | None = services.observer
        shared = services.shared.database if services.shared is not None else None  # NEXUS_DATABASE_URL
        self._collector = DatabaseCollector(services.database, shared=shared)
        self._backup_first_delay = backup_first_delay
        self._scrape_lock = anyio.Lock()
        self.open_paths = frozenset({"/status", "/login", "/logout"})
        self.routes = [
            Route("/metrics", self.metrics_endpoint, methods=["GET"]),
            Route("/status", self.status_endpoint, methods=["GET"]),
            Route("/login", self.login_endpoint, methods=["GET", "POST"]),
            Route("/logout", self.logout_endpoint, methods=["POST", "GET"]),
        ]

    # -- lifespan --------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Serve the database figures on ``/metrics`` and take the daily backup while the block runs."""
        from nexus_agent.ops.scheduler import BackupScheduler

        self.metrics.registry.register(self._collector)
        try:
            async with anyio.create_task_group() as tg:
                if self.settings.backup_dir is not None:
                    scheduler = BackupScheduler(
                        self.settings,
                        self.services.database,
                        folder=self.settings.backup_dir,
                        keep=self.settings.backup_keep,
                        first_delay=self._backup_first_delay,
                    )
                    tg.start_soon(scheduler.run)
                yield
                tg.cancel_scope.cancel()
        finally:
            self.metrics.registry.unregister(self._collector)

    # -- routes ----------------------------------------------------------------------------------
    async def metrics_endpoint(self, request: Request) -> Response:
        principal = await self.auth.principal(request)
        if not self.auth.allowed(principal, ROLES["/metrics"]):
            return _denied(principal is not None, "/metrics")
        async with self._scrape_lock:
            self._collector.snapshot = _snapshot(self.services)
            self._collector.snapshot.apps = await self.services.registry.count_by_status()
            body = await anyio.to_thread.run_sync(self.metrics.render)
        return Response(body, media_type=METRICS_CONTENT_TYPE)

    async def status_endpoint(self, request: Request) -> Response:
        principal = await self.auth.principal(request)
        if principal is None:
            return RedirectResponse("/login", status_code=303)
        if not self.auth.allowed(principal, ROLES["/status"]):
            return _denied(True, "/status")
        html = await self.page.render(self.services, principal.label())
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    async def login_endpoint(self, request: Request) -> Response:
        if request.method == "GET":
            return HTMLResponse(self.page.login(), headers={"Cache-Control": "no-store"})
        form = await request.form()
        token = str(form.get("token") or "").strip()
        principal = await self.auth.check_token(token)
        if principal is None or principal.role not in ROLES["/status"]:
            log.warning("status page: a sign-in was refused")
            error = "That token is not valid for the status page." if token else "Paste a token."
            return HTMLResponse(self.page.login(error), status_code=401)
        response = RedirectResponse("/status", status_code=303)
        response.set_cookie(
            COOKIE,
            self.auth.session_cookie(principal),
            max_age=SESSION_S,
            path="/",
            secure=True,
            httponly=True,
            samesite="strict",
        )
        return response

    async def logout_endpoint(self, request: Request) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
        return response


def _denied(authenticated: bool, path: str) -> Response:
    if not authenticated:
        return Response(
            '{"error": {"code": "unauthorized", "message": "a valid bearer token is required"}}',
            status_code=401,
            media_type="application/json",
            headers={"WWW-Authenticate": 'Bearer realm="nexus"'},
        )
    roles = ", ".join(sorted(r.value for r in ROLES[path]))
    return Response(
        f'{{"error": {{"code": "forbidden", "message": "{path} is open to: {roles}"}}}}',
        status_code=403,
        media_type="application/json",
    )


def _snapshot(services: NexusServices) -> PoolSnapshot:
    from nexus_agent.ops.metrics import PoolSnapshot

    snapshot = PoolSnapshot()
    pool = services.pool
    if pool is None:
        return snapshot
    for slug in pool.records:
        state = pool.breaker_state(slug).value
        snapshot.breakers[state] = snapshot.breakers.get(state, 0) + 1
    for health in list(pool.last_health.values()):
        snapshot.health[health.state.value] = snapshot.health.get(health.state.value, 0) + 1
    return snapshot


def observe_request(observer: OpsObserver, scope: Scope, status: int, seconds: float) -> None:
    """Count one answered request in ``nexus_http_request_duration_seconds`` (an unknown path as ``other``)."""
    path = scope["path"].rstrip("/") or "/"
    route = path if path in KNOWN_ROUTES else "other"
    observer.http_request(route, scope.get("method", "GET"), status, seconds)
