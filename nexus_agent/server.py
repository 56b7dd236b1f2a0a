"""Nexus's own MCP server: tools, resources and prompts on the SDK's ``MCPServer``.

Tool calls are authorized, validated and translated here; the parts live beside it, one concept each:
:mod:`nexus_agent.server_results` (the one place a :class:`~nexus_agent.wire.errors.NexusError` becomes
an MCP tool error, and argument validation failures a readable list), :mod:`nexus_agent.server_tools`
(tool specs as SDK tool functions), :mod:`nexus_agent.server_resources` (resources and prompts) and
:mod:`nexus_agent.server_notifications` (telling clients the tool list changed).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import anyio.lowlevel
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import InputRequiredResult, ListToolsResult

from nexus_agent import __version__
from nexus_agent.access import PrincipalOf, principal_resolver, refused, visible_tools
from nexus_agent.auth import Principal, Role
from nexus_agent.auth.policy import RolePolicy
from nexus_agent.resource_subscriptions import ResourceSubscriptions
from nexus_agent.satellites.relay_rounds import RoundsRelay
from nexus_agent.server_notifications import ToolListAnnouncer
from nexus_agent.server_resources import ResourceServer, add_prompts, add_resources
from nexus_agent.server_results import compact_text, tool_error_text, without_sdk_prefix
from nexus_agent.server_tools import add_tools
from nexus_agent.services import REGISTRY_RECHECK_S, NexusServices
from nexus_agent.toolset import ALL_TOOLS
from nexus_agent.wire.errors import Forbidden, NexusError, NotFound
from tools.base import ToolSpec, check_argument_size
from tools.scope import ServicesLookup

__all__ = [
    "SERVER_INSTRUCTIONS",
    "NexusMCPServer",
    "build_mcp_server",
    "relay_satellite_tool_changes",
    "tool_error_text",
]

log = logging.getLogger("nexus.server")

SERVER_INSTRUCTIONS = """\
Nexus conducts SFG Aluminium's satellite business apps (quotes, enquiries, surveys,
fabrication, installation, invoicing, stock...). Use the registry_* tools to find
which app does what and its status, memory_* tools to recall and record notes and
decisions (search memory before deciding; log every decision with its rationale),
gaps_analyse to find capabilities no app covers, instruct to have Nexus plan and carry
out an instruction in plain words (plan_get / plan_approve / plan_reject / plan_resume
for plans waiting on approval), satellite_* tools to discover, call and
fan out to the satellites' own tools (also listed directly as '<app>__<tool>'), and
nexus_health / satellite_health to check health.
Errors say what was wrong and how to fix it: read them and retry with corrected
arguments."""


class NexusMCPServer(ResourceServer):
    """MCPServer that validates Nexus tool arguments with the tool's own model.

    The SDK builds its argument model from the function signature and silently
    drops unknown fields; Nexus validates the raw arguments first (unknown
    fields, model validators, size limits) so every mistake gets one readable
    error, and publishes the model's exact JSON schema.
    """

    def __init__(
        self,
        *args: Any,
        specs: Sequence[ToolSpec[Any, Any]],
        services: NexusServices,
        expose_satellite_tools: bool = True,
        principal_of: PrincipalOf | None = None,
        **kwargs: Any,
    ) -> None:
        self.bus = ResourceSubscriptions()  # the SDK's bus, also heard by handshake-era sessions that subscribed
        super().__init__(*args, subscriptions=self.bus, **kwargs)
        self._specs = {spec.name: spec for spec in specs}
        self._services = services
        self._expose_satellites = expose_satellite_tools
        self.principal_of = principal_of or principal_resolver(_local_owner(services))
        self._policy = RolePolicy.from_settings(services.settings)
        self._announcer = ToolListAnnouncer(self.bus)
        self._announcer.advertise(self._lowlevel_server)
        self.rounds = RoundsRelay()  # satellite calls a 2026-07-28 client drives by rounds (hosted while served)
        self.bus.serve(self._lowlevel_server, self._policy, self.principal_of)  # resources/subscribe (2025-11-25)

    async def notify_tools_changed(self) -> None:
        """Tell every client that may hear it that Nexus's tool list changed (2026 streams and legacy sessions)."""
        await self._announcer.announce()

    async def _handle_list_tools(self, ctx: Any, params: Any) -> ListToolsResult:
        """Each caller sees only the tools its role may call (``nexus_agent.auth.policy``)."""
        self._announcer.remember(ctx)
        principal = self.principal_of(ctx)
        roles = {name: spec.roles for name, spec in self._specs.items()}
        return ListToolsResult(tools=visible_tools(self._policy, principal, await self.list_tools(), roles))

    async def _authorize(self, name: str, spec: ToolSpec[Any, Any] | None, context: Context | None) -> None:
        """Refuse (and record) a call beyond the caller's role before its arguments are even read."""
        principal = self.principal_of(context)
        if principal.role is Role.OWNER:
            return
        try:
            if spec is not None:
                self._policy.check(principal, name, spec.roles)
            elif self._policy.may_call_satellite_tool(principal, read_only=True):
                tool = await self._services.satellites.get_tool(name)
                self._policy.check_satellite_tool(principal, name, read_only=tool.read_only)
            else:
                self._policy.check_satellite_tool(principal, name, read_only=False)
        except Forbidden as exc:
            raise await refused(self._services, principal, name, exc) from exc
        except NexusError as exc:
            raise ToolError(exc.user_message()) from exc

    async def _authorize_scope(self, spec: ToolSpec[Any, Any], params: Any, context: Context | None) -> None:
        """The role policy's argument checks (own app, own plan), refused here so the refusal reads plainly."""
        principal = self.principal_of(context)
        try:
            await self._policy.authorize(principal, spec.name, spec.roles, params, ServicesLookup(self._services))
        except Forbidden as exc:
            raise await refused(self._services, principal, spec.name, exc) from exc

    async def list_tools(self) -> list[Any]:
        tools = await super().list_tools()
        for tool in tools:
            spec = self._specs.get(tool.name)
            if spec is not None:
                tool.input_schema = spec.input_schema()
                if spec.published_output_schema is not None:
                    tool.output_schema = spec.published_output_schema()
        if self._expose_satellites and self._services.pool is not None:
            await self._services.sync_satellites(max_age_s=REGISTRY_RECHECK_S)
            listing = await self._services.pool.list_tools()
            for slug, error in listing.errors.items():
                log.warning("tools of satellite %s are not listed: %s", slug, error)
            tools += [t.to_mcp_tool() for t in listing.tools if t.qualified_name not in self._specs]
        return tools

    async def _call_satellite(self, name: str, arguments: dict[str, Any], context: Context | None) -> Any:
        async def progress(done: float, total: float | None, message: str | None) -> None:
            if context is not None:
                with contextlib.suppress(Exception):
                    await context.report_progress(done, total, message)

        try:
            check_argument_size(name, arguments, self._services.settings.max_input_bytes)
            await self._services.sync_satellites(max_age_s=REGISTRY_RECHECK_S)
            # The pool withholds an answer carrying a secret; images, audio and blobs pass as data.
            # The satellite's sampling/elicitation/roots requests during the call go to this caller only
            # (a 2026-07-28 client gets them as `input_required` and drives the call by rounds).
            pool = self._services.satellites
            result = await self.rounds.call(
                context,
                self.principal_of(context),
                name,
                lambda: pool.call(name, arguments, on_progress=progress),
                keep_for=pool.settings.call_timeout,
            )
        except NexusError as exc:
            raise ToolError(self._services.known_secrets.redact(exc.user_message())) from exc
        return result if isinstance(result, InputRequiredResult) else result.to_mcp_result()

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Context | None = None) -> Any:
        observer = self._services.observer  # nexus_agent.ops: counts and times every call (None: not measured)
        if observer is None:
            return await self._call_tool(name, arguments, context)
        with observer.tool_call(name) as watch:
            result = await self._call_tool(name, arguments, context)
            watch.result(result)
            return result

    async def _call_tool(self, name: str, arguments: dict[str, Any], context: Context | None = None) -> Any:
        spec = self._specs.get(name)
        if spec is None and self._expose_satellites and "__" in name and self._services.pool is not None:
            await self._authorize(name, None, context)
            return await self._call_satellite(name, arguments, context)
        if spec is None:
            raise ToolError(
                NotFound(
                    f"there is no tool named {name!r}",
                    hint="Call tools/list to see the available tools and their exact names.",
                ).user_message()
            )
        await self._authorize(name, spec, context)
        try:
            params = spec.parse(arguments, max_bytes=self._services.settings.max_input_bytes)
        except NexusError as exc:
            raise ToolError(exc.user_message()) from exc
        await self._authorize_scope(spec, params, context)
        try:
            return compact_text(await super().call_tool(name, arguments, context))
        except ToolError as exc:
            raise without_sdk_prefix(name, exc) from exc.__cause__


def _local_owner(services: NexusServices) -> Principal:
    """The owner at this machine: the stdio server and in-process clients act as them."""
    return Principal(name=services.settings.actor, role=Role.OWNER, via="stdio", credential="local")


def build_mcp_server(
    services: NexusServices,
    *,
    tools: Sequence[ToolSpec[Any, Any]] = ALL_TOOLS,
    over_http: bool = False,
) -> MCPServer[Any]:
    """Build Nexus's MCP server over already-open services.

    Over stdio (and in-process) the caller is the local owner; ``over_http=True`` takes each
    request's principal from the HTTP gate and refuses requests without one.
    """
    principal_of = principal_resolver(None if over_http else _local_owner(services))
    server = NexusMCPServer(
        "nexus",
        specs=tools,
        services=services,
        expose_satellite_tools=services.settings.expose_satellite_tools,
        principal_of=principal_of,
        title="Nexus",
        description="Conductor of SFG Aluminium's satellite apps",
        instructions=SERVER_INSTRUCTIONS,
        version=__version__,
        warn_on_duplicate_tools=True,
    )
    add_tools(server, tools, services, principal_of)
    add_resources(server, services)
    add_prompts(server)
    return server


async def relay_satellite_tool_changes(server: MCPServer[Any], services: NexusServices) -> None:
    """Re-announce Nexus's tool list whenever a satellite announces a change to its own; meanwhile host the
    satellite calls that 2026-07-28 clients drive by rounds (``nexus_agent.satellites.relay_rounds``)."""
    if not isinstance(server, NexusMCPServer) or services.pool is None:
        return
    pool = services.pool
    async with server.rounds.serving():
        while True:
            await pool.wait_tools_changed()
            log.info("a satellite's tools changed; telling Nexus's clients")
            await server.notify_tools_changed()
            await anyio.lowlevel.checkpoint()
