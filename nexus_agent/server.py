"""Nexus's own MCP server: tools, resources and prompts on the SDK's ``MCPServer``.

This module is the one place where a :class:`~nexus_agent.wire.errors.NexusError`
becomes an MCP tool error (``is_error=True`` with the message and the fix), and
where argument validation failures are rewritten into a readable list.
"""

from __future__ import annotations

import base64
import contextlib
import inspect
import json
import logging
import uuid
from collections.abc import Sequence
from typing import Annotated, Any

import anyio
import anyio.lowlevel
import pydantic_core
from mcp.server import MCPServer
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError, UnexpectedToolError
from mcp.server.subscriptions import InMemorySubscriptionBus
from mcp.shared.subscriptions import ToolsListChanged
from mcp.types import (
    BlobResourceContents,
    CallToolResult,
    ListResourcesResult,
    ListToolsResult,
    TextContent,
    ToolAnnotations,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

import prompts as prompt_files
from nexus_agent import __version__
from nexus_agent.access import PrincipalOf, principal_resolver, refused, visible_tools
from nexus_agent.auth import Principal, Role
from nexus_agent.auth.policy import RolePolicy
from nexus_agent.events.app_webhooks import AppEventStore
from nexus_agent.satellites.extras import (
    get_satellite_prompt,
    is_satellite_resource,
    list_satellite_prompts,
    list_satellite_resources,
    read_satellite_resource,
    satellite_resource_uri,
)
from nexus_agent.services import REGISTRY_RECHECK_S, NexusServices
from nexus_agent.toolset import ALL_TOOLS
from nexus_agent.wire.errors import Forbidden, InvalidInput, NexusError, NotFound
from nexus_agent.wire.secret_guard import ensure_no_secrets
from tools.base import ToolCall, ToolSpec, check_argument_size
from tools.scope import ServicesLookup

__all__ = [
    "SERVER_INSTRUCTIONS",
    "NexusMCPServer",
    "build_mcp_server",
    "relay_satellite_tool_changes",
    "tool_error_text",
]

log = logging.getLogger("nexus.server")
#: Handshake-era sessions remembered to be told of tool-list changes (the oldest is forgotten past this).
_MAX_LISTING_SESSIONS = 1024

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


def tool_error_text(exc: BaseException) -> str:
    if isinstance(exc, NexusError):
        return exc.user_message()
    if isinstance(exc, ValidationError):
        return InvalidInput.from_validation(exc, "the arguments").user_message()
    return str(exc)


def _signature_for(spec: ToolSpec[Any, Any]) -> inspect.Signature:
    params = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Context)]
    for name, info in spec.input_model.model_fields.items():
        params.append(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[info.annotation, info],
            )
        )
    return inspect.Signature(params, return_annotation=spec.output_model)


def _make_tool_function(spec: ToolSpec[Any, Any], services: NexusServices, principal_of: PrincipalOf) -> Any:
    async def run_tool(ctx: Context, **arguments: Any) -> Any:
        async def progress(done: float, total: float | None, message: str | None) -> None:
            try:
                await ctx.report_progress(done, total, message)
            except Exception:  # a client without progress support must not fail the call
                log.debug("progress report dropped", exc_info=True)

        principal = principal_of(ctx)
        call = ToolCall(services=services, actor=principal.name, progress=progress, context=ctx, principal=principal)
        try:
            # Re-validate through the model: runs model-level validators and size limits.
            result = await spec.invoke(call, arguments, max_bytes=services.settings.max_input_bytes)
            ensure_no_secrets(
                result.model_dump(mode="json"), f"result of {spec.name}", "return", known=services.known_secrets
            )
            return result
        except Forbidden as exc:  # a scope rule of the role policy (another app's record, another's plan...)
            raise await refused(services, principal, spec.name, exc) from exc
        except NexusError as exc:
            log.info("tool %s failed: %s", spec.name, exc.code)
            raise ToolError(services.known_secrets.redact(exc.user_message())) from exc
        except Exception as exc:
            incident = uuid.uuid4().hex[:8]
            log.exception("tool %s crashed (incident %s)", spec.name, incident)
            raise ToolError(
                f"[internal_error] {spec.name} failed unexpectedly (incident {incident}).\n"
                "How to fix: this is a bug in Nexus, not in your input; the server log has the details."
            ) from exc

    run_tool.__name__ = spec.name
    run_tool.__signature__ = _signature_for(spec)  # type: ignore[attr-defined]
    return run_tool


class NexusMCPServer(MCPServer[Any]):
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
        self.bus = InMemorySubscriptionBus()
        super().__init__(*args, subscriptions=self.bus, **kwargs)
        self._specs = {spec.name: spec for spec in specs}
        self._services = services
        self._expose_satellites = expose_satellite_tools
        self.principal_of = principal_of or principal_resolver(_local_owner(services))
        self._policy = RolePolicy.from_settings(services.settings)
        # Handshake-era clients (2025-11-25 and older) hear of tool-list changes by notification on their
        # session: say so in `initialize`, and remember the sessions that listed tools to tell them.
        self._listing_sessions: dict[int, Any] = {}  # by id, oldest first; a dead one is dropped when told
        lowlevel = self._lowlevel_server
        make_options = lowlevel.create_initialization_options

        def initialization_options(notification_options: Any = None, *args: Any, **kwargs: Any) -> Any:
            options = notification_options or NotificationOptions(tools_changed=True)
            return make_options(options, *args, **kwargs)

        lowlevel.create_initialization_options = initialization_options  # type: ignore[method-assign]

    async def notify_tools_changed(self) -> None:
        """Tell every client that may hear it that Nexus's tool list changed (2026 streams and legacy sessions)."""
        await self.bus.publish(ToolsListChanged())
        for key, session in list(self._listing_sessions.items()):
            try:
                with anyio.fail_after(2):  # a stuck client must not hold up the others
                    await session.send_tool_list_changed()
            except Exception:  # a closed session, or a stateless one with no channel back
                self._listing_sessions.pop(key, None)

    async def _handle_list_tools(self, ctx: Any, params: Any) -> ListToolsResult:
        """Each caller sees only the tools its role may call (``nexus_agent.auth.policy``)."""
        if getattr(ctx, "protocol_version", None) not in MODERN_PROTOCOL_VERSIONS and ctx.session is not None:
            self._listing_sessions[id(ctx.session)] = ctx.session
            while len(self._listing_sessions) > _MAX_LISTING_SESSIONS:
                self._listing_sessions.pop(next(iter(self._listing_sessions)))
        principal = self.principal_of(ctx)
        roles = {name: spec.roles for name, spec in self._specs.items()}
        return ListToolsResult(tools=visible_tools(self._policy, principal, await self.list_tools(), roles))

    async def read_resource(self, uri: Any, context: Any = None) -> Any:
        principal = self.principal_of(context)
        try:
            self._policy.check_resource(principal, str(uri))
        except Forbidden as exc:
            await refused(self._services, principal, f"read {uri}", exc)
            raise ResourceError(exc.user_message()) from exc
        if is_satellite_resource(str(uri)) and self._services.pool is not None:
            try:
                result = await read_satellite_resource(self._services.pool, str(uri))
            except NexusError as exc:
                raise ResourceError(self._services.known_secrets.redact(exc.user_message())) from exc
            return [_as_contents(item) for item in result.contents]
        return await super().read_resource(uri, context)

    async def _handle_list_resources(self, ctx: Any, params: Any) -> ListResourcesResult:
        """Each caller sees only the resources its role may read (a satellite: its own app's)."""
        principal = self.principal_of(ctx)
        listed = await self.list_resources()
        return ListResourcesResult(
            resources=[r for r in listed if self._policy.may_read_resource(principal, str(r.uri))]
        )

    async def list_resources(self) -> list[Any]:
        resources = await super().list_resources()
        if self._expose_satellites and self._services.pool is not None:
            resources += await list_satellite_resources(self._services.pool)
        return resources

    async def list_prompts(self) -> list[Any]:
        prompts = await super().list_prompts()
        if self._expose_satellites and self._services.pool is not None:
            prompts += await list_satellite_prompts(self._services.pool)
        return prompts

    async def get_prompt(self, name: str, arguments: dict[str, Any] | None = None, context: Any = None) -> Any:
        pool = self._services.pool
        if "__" not in name or pool is None or not self._expose_satellites:
            return await super().get_prompt(name, arguments, context)
        principal = self.principal_of(context)
        try:
            self._policy.check_resource(principal, satellite_resource_uri(name.partition("__")[0], name))
            return await get_satellite_prompt(pool, name, arguments)
        except Forbidden as exc:
            raise await refused(self._services, principal, f"prompt {name}", exc) from exc
        except NexusError as exc:
            raise ToolError(self._services.known_secrets.redact(exc.user_message())) from exc

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
            result = await self._services.satellites.call(name, arguments, on_progress=progress)
        except NexusError as exc:
            raise ToolError(self._services.known_secrets.redact(exc.user_message())) from exc
        return result.to_mcp_result()

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
            return _compact_text(await super().call_tool(name, arguments, context))
        except ToolError as exc:
            raise _without_sdk_prefix(name, exc) from exc.__cause__


def _without_sdk_prefix(name: str, exc: ToolError) -> ToolError:
    """The SDK's ``Error executing tool <name>: ...`` wrapper as Nexus's one format: ``[code] message\nHow to fix``.

    Every tool error reaches the client in that format, whichever layer refused the call; the cause
    chain is kept (the observer reads the NexusError code from it, the SDK logs a crash's traceback).
    """
    cause = exc.__cause__
    if isinstance(exc, UnexpectedToolError):
        return UnexpectedToolError(
            f"[internal_error] {name} failed unexpectedly.\n"
            "How to fix: this is a bug in Nexus, not in your input; the server log has the details."
        )
    if isinstance(cause, ValidationError):
        return ToolError(InvalidInput.from_validation(cause, f"arguments to {name}").user_message())
    text = str(cause) if isinstance(cause, ToolError | ResourceError) else str(exc)
    if isinstance(cause, NexusError | ToolError) and text.startswith("["):
        return ToolError(text)  # already "[code] message\nHow to fix: ..." (run_tool translated it)
    text = text.removeprefix(f"Error executing tool {name}: ")
    return ToolError(
        f"[tool_error] {name} failed: {text}\nHow to fix: read the message, correct the call and try again."
    )


def _as_contents(item: Any) -> ReadResourceContents:
    """A satellite's resource contents as the SDK's server side wants them (it re-encodes blobs)."""
    if isinstance(item, BlobResourceContents):
        return ReadResourceContents(content=base64.b64decode(item.blob), mime_type=item.mime_type)
    return ReadResourceContents(content=item.text, mime_type=item.mime_type)


def _compact_text(result: Any) -> Any:
    """The text copy of a structured result as compact JSON: the SDK indents it, which made a 500-app page's
    answer 1.5 MB instead of 1.1 MB for every client to read (the text is the same JSON either way)."""
    if isinstance(result, CallToolResult) and result.structured_content is not None and len(result.content) == 1:
        (block,) = result.content
        if isinstance(block, TextContent):
            text = pydantic_core.to_json(result.structured_content).decode()
            result.content = [TextContent(type="text", text=text, annotations=block.annotations, meta=block.meta)]
    return result


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
    for spec in tools:
        server.add_tool(
            _make_tool_function(spec, services, principal_of),
            name=spec.name,
            title=spec.title,
            description=spec.description,
            annotations=ToolAnnotations(
                title=spec.title,
                read_only_hint=spec.read_only,
                destructive_hint=spec.destructive,
                idempotent_hint=spec.idempotent,
                open_world_hint=spec.open_world,
            ),
            structured_output=True,
        )
    _add_resources(server, services)
    _add_prompts(server)
    return server


async def relay_satellite_tool_changes(server: MCPServer[Any], services: NexusServices) -> None:
    """Re-announce Nexus's tool list whenever a satellite announces a change to its own."""
    if not isinstance(server, NexusMCPServer) or services.pool is None:
        return
    pool = services.pool
    while True:
        await pool.wait_tools_changed()
        log.info("a satellite's tools changed; telling Nexus's clients")
        await server.notify_tools_changed()
        await anyio.lowlevel.checkpoint()


def _add_resources(server: MCPServer[Any], services: NexusServices) -> None:
    @server.resource(
        "nexus://registry",
        name="registry",
        title="App registry",
        description="Every registered satellite app: slug, name, status, category and capabilities.",
        mime_type="application/json",
    )
    async def registry_resource() -> str:
        apps = await services.registry.all()
        return json.dumps(
            [
                {
                    "slug": a.slug,
                    "name": a.name,
                    "status": a.status.value,
                    "category": a.category,
                    "capabilities": a.capability_names(),
                }
                for a in apps
            ],
            indent=1,
        )

    @server.resource(
        "nexus://apps/{slug}",
        name="app",
        title="One registered app",
        description="The full registry record (AppRecord JSON) of one satellite app.",
        mime_type="application/json",
    )
    async def app_resource(slug: str) -> str:
        try:
            record = await services.registry.get(slug)
        except NotFound as exc:
            raise ResourceNotFoundError(exc.user_message()) from exc
        except NexusError as exc:
            raise ResourceError(exc.user_message()) from exc
        return record.model_dump_json(indent=1)

    @server.resource(
        "nexus://apps/{slug}/events",
        name="app-events",
        title="Events an app posted",
        description="The latest events a legacy app posted to /api/webhooks/apps/<slug> (newest first, data "
        "redacted) and what Nexus did with each; subscribe to hear when a new one arrives.",
        mime_type="application/json",
    )
    async def app_events_resource(slug: str) -> str:
        store = AppEventStore(services.database)
        events = await services.database.run(store.recent, slug, 50)
        return json.dumps([e.model_dump(mode="json") for e in events], indent=1)


def _add_prompts(server: MCPServer[Any]) -> None:
    for template in prompt_files.list_prompts():
        if template.name.startswith("planner_"):
            continue  # the planner's own system prompts are internal
        server.add_prompt(prompt_files.as_mcp_prompt(template))
