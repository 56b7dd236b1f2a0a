"""The :class:`Satellite`: what a satellite app declares, and everything the kit derives from it.

A satellite module declares its tools (typed functions), event handlers and
capabilities on one ``Satellite``; the kit turns that into an MCP server (stdio
or streamable HTTP with bearer auth), a health endpoint, a verified webhook
receiver and the :class:`~nexus_agent.wire.models.AppRecord` it registers with Nexus.
The declaration holds no configuration and no resources: settings arrive in
:meth:`Satellite.create_app`, whose Starlette lifespan owns what the app opens.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import ValidationError

from nexus_agent.wire.errors import Conflict, InvalidInput, NexusError
from nexus_agent.wire.models import AppRecord, AppStatus, Capability
from nexus_agent.wire.signing import EVENT_PATTERN, ReplayGuard, WebhookEnvelope

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from satellite_template.settings import SatelliteSettings

__all__ = ["EventHandler", "HealthCheck", "Satellite", "ToolInfo"]

log = logging.getLogger("satellite_template")

EventHandler = Callable[[WebhookEnvelope], Awaitable[None] | None]
HealthCheck = Callable[[], Awaitable[bool] | bool]
_F = TypeVar("_F", bound=Callable[..., Any])

MCP_PATH = "/mcp"
HEALTH_PATH = "/api/health"
WEBHOOK_PATH = "/api/webhooks/nexus"


@dataclass(frozen=True)
class ToolInfo:
    """One declared tool, as listed in the satellite's AppRecord."""

    name: str
    description: str
    read_only: bool
    idempotent: bool
    destructive: bool = False


class Satellite:
    """A satellite app's declarations.

    ``Satellite("quote-engine", "Quote Engine", version="1.2.0", capabilities=["quote generation"])``
    """

    def __init__(
        self,
        slug: str,
        name: str,
        *,
        version: str = "0.1.0",
        description: str = "",
        category: str = "uncategorised",
        capabilities: Iterable[str | Capability] = (),
        subscribes_to: Iterable[str] = (),
        message_types: Iterable[str] = (),
        owner: str = "",
        tags: Iterable[str] = (),
    ) -> None:
        fields = {
            "slug": slug,
            "name": name,
            "version": version,
            "description": description,
            "category": category,
            "capabilities": list(capabilities),
            "subscribes_to": list(subscribes_to),
            "message_types": list(message_types),
            "owner": owner,
            "tags": list(tags),
        }
        try:  # validate the declaration once, with the same model Nexus validates the registration with
            self._declared = AppRecord.model_validate(fields)
        except ValidationError as exc:
            raise InvalidInput.from_validation(exc, f"the declaration of satellite {slug!r}") from None
        self.slug = self._declared.slug
        self.name = self._declared.name
        self.version = self._declared.version
        self._mcp = MCPServer(name=self.slug, title=self.name, description=description or None, version=version)
        self._tools: dict[str, ToolInfo] = {}
        self._handlers: dict[str, EventHandler] = {}
        self._checks: dict[str, HealthCheck] = {}

    # -- declarations -----------------------------------------------------------------------

    @property
    def mcp_server(self) -> MCPServer:
        """The MCP server holding the declared tools (``Client(sat.mcp_server)`` in tests)."""
        return self._mcp

    @property
    def tools(self) -> list[ToolInfo]:
        return list(self._tools.values())

    @property
    def event_types(self) -> list[str]:
        """Event types this satellite wants: the declared ones and those with a handler."""
        return list(dict.fromkeys([*self._declared.subscribes_to, *self._handlers]))

    def tool(
        self,
        *,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        read_only: bool = False,
        idempotent: bool = False,
        destructive: bool | None = None,
        open_world: bool = False,
    ) -> Callable[[_F], _F]:
        """Register a typed function (sync or async) as an MCP tool.

        ``read_only``/``idempotent``/``destructive``/``open_world`` become the tool's MCP
        annotations. A :class:`~nexus_agent.wire.errors.NexusError` raised by the function reaches
        the caller as a readable tool error (message and hint); any other exception is reported
        as a crash without its text.
        """

        def decorator(fn: _F) -> _F:
            tool_name = name or fn.__name__
            if tool_name in self._tools:
                raise Conflict(f"satellite {self.slug!r} already has a tool named {tool_name!r}")
            doc = description or inspect.getdoc(fn) or ""
            annotations = ToolAnnotations(
                title=title,
                read_only_hint=read_only,
                idempotent_hint=idempotent,
                destructive_hint=None if read_only else (True if destructive is None else destructive),
                open_world_hint=open_world,
            )
            self._mcp.tool(name=tool_name, title=title, description=doc or None, annotations=annotations)(
                _readable_errors(fn)
            )
            summary = doc.strip().split("\n\n", 1)[0].replace("\n", " ")
            self._tools[tool_name] = ToolInfo(
                tool_name, summary, read_only, idempotent, bool(annotations.destructive_hint)
            )
            return fn

        return decorator

    def on_event(self, event_type: str) -> Callable[[EventHandler], EventHandler]:
        """Register the handler (sync or async) of one event type, e.g. ``"instruction.created"``.

        It receives the verified :class:`~nexus_agent.wire.signing.WebhookEnvelope`. If it raises, the
        delivery is answered 500 and forgotten, so Nexus's retry of it is processed again.
        """
        if not re.match(EVENT_PATTERN, event_type):
            raise InvalidInput(
                f"{event_type!r} is not an event type",
                hint="Use dotted lower-case names such as 'instruction.created'.",
            )

        def decorator(fn: EventHandler) -> EventHandler:
            if event_type in self._handlers:
                raise Conflict(f"satellite {self.slug!r} already handles {event_type!r}")
            self._handlers[event_type] = fn
            return fn

        return decorator

    def health_check(self, name: str) -> Callable[[HealthCheck], HealthCheck]:
        """Register a check (sync or async) reported by ``GET /api/health``: truthy passes, falsy or raising fails."""

        def decorator(fn: HealthCheck) -> HealthCheck:
            if name in self._checks or name in {"mcp", "webhooks"}:
                raise Conflict(f"satellite {self.slug!r} already has a health check named {name!r}")
            self._checks[name] = fn
            return fn

        return decorator

    # -- what the kit derives --------------------------------------------------------------

    def app_record(
        self, base_url: str, *, status: AppStatus = AppStatus.pending, token_env: str | None = None
    ) -> AppRecord:
        """The AppRecord this satellite registers: declarations, its tools, endpoints.

        ``token_env`` names the variable Nexus reads this satellite's bearer token from
        (default ``SATELLITE_<SLUG>_TOKEN``); the token itself is never part of the record.
        """
        base = base_url.rstrip("/")
        declared = self._declared
        tools = [
            {
                "name": t.name,
                "description": t.description[:4000],
                "read_only": t.read_only,
                "idempotent": t.idempotent,
                "destructive": t.destructive,
            }
            for t in self._tools.values()
        ]
        try:
            return AppRecord.model_validate(
                {
                    **declared.model_dump(),
                    "status": status,
                    "capabilities": [c.model_dump() for c in declared.capabilities],
                    "tools": tools,
                    "subscribes_to": self.event_types,
                    "endpoints": {
                        "mcp_url": f"{base}{MCP_PATH}",
                        "health_url": f"{base}{HEALTH_PATH}",
                        "webhook_url": f"{base}{WEBHOOK_PATH}",
                        "token_env": token_env or f"SATELLITE_{self.slug.upper().replace('-', '_')}_TOKEN",
                    },
                }
            )
        except ValidationError as exc:
            raise InvalidInput.from_validation(exc, f"the registration of {self.slug!r} at {base_url!r}") from None

    def create_app(
        self,
        settings: SatelliteSettings,
        *,
        clock: Callable[[], float] = time.time,
        replay_guard: ReplayGuard | None = None,
    ) -> Starlette:
        """A Starlette app serving ``/mcp``, ``GET /api/health`` and ``POST /api/webhooks/nexus``.

        Build a fresh app for each server lifetime (the MCP session manager runs once).
        """
        from satellite_template.http import build_app

        return build_app(self, settings, clock=clock, replay_guard=replay_guard)

    def run_stdio(self) -> None:
        """Serve the tools over stdio (blocks). Only MCP: no health endpoint, no webhooks."""
        self._mcp.run()

    async def dispatch_event(self, envelope: WebhookEnvelope) -> bool:
        """Run the handler of ``envelope.event``; False when there is none. Sync handlers run in a thread."""
        handler = self._handlers.get(envelope.event)
        if handler is None:
            return False
        if inspect.iscoroutinefunction(handler):
            await handler(envelope)
        else:
            outcome = await anyio.to_thread.run_sync(handler, envelope)
            if inspect.isawaitable(outcome):
                await outcome
        return True

    async def run_checks(self) -> dict[str, bool]:
        """Run the declared health checks; a raising check fails (its error is logged, not returned)."""
        results: dict[str, bool] = {}
        for name, check in self._checks.items():
            try:
                outcome = await check() if inspect.iscoroutinefunction(check) else await anyio.to_thread.run_sync(check)
                results[name] = bool(outcome)
            except Exception:
                log.exception("health check %r of %s failed", name, self.slug)
                results[name] = False
        return results

    async def register_with_nexus(
        self, nexus_mcp_url: str, token: str, *, base_url: str, timeout_s: float = 30.0
    ) -> dict[str, Any]:
        """Submit this satellite's AppRecord to Nexus's ``registry_register`` tool; returns Nexus's answer."""
        from satellite_template.registration import register

        return await register(self.app_record(base_url), nexus_mcp_url, token, timeout_s=timeout_s)


def _readable_errors(fn: _F) -> _F:
    """Wrap ``fn`` so a NexusError becomes a ToolError (the SDK hides other exceptions' text)."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except NexusError as exc:
                raise ToolError(exc.user_message()) from exc

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except NexusError as exc:
            raise ToolError(exc.user_message()) from exc

    return wrapper  # type: ignore[return-value]
