"""Resources and prompts on Nexus's MCP server: its own (registry, apps, app events) and the satellites'.

:class:`ResourceServer` is the part of :class:`nexus_agent.server.NexusMCPServer` that lists, reads and
renders resources and prompts, each filtered by the caller's role; :func:`add_resources` and
:func:`add_prompts` register Nexus's own.
"""

from __future__ import annotations

import json
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.types import ListResourcesResult

import prompts as prompt_files
from nexus_agent.access import PrincipalOf, refused
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
from nexus_agent.server_results import as_contents
from nexus_agent.services import NexusServices
from nexus_agent.wire.errors import Forbidden, NexusError, NotFound

__all__ = ["ResourceServer", "add_prompts", "add_resources"]


class ResourceServer(MCPServer[Any]):
    """Resources and prompts, Nexus's and (when exposed) the satellites', as the caller's role allows."""

    _services: NexusServices
    _policy: RolePolicy
    _expose_satellites: bool
    principal_of: PrincipalOf

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
            return [as_contents(item) for item in result.contents]
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


def add_resources(server: MCPServer[Any], services: NexusServices) -> None:
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
        store = AppEventStore(services.shared.database if services.shared else services.database)  # PG: shared
        events = await store.database.run(store.recent, slug, 50)
        return json.dumps([e.model_dump(mode="json") for e in events], indent=1)


def add_prompts(server: MCPServer[Any]) -> None:
    for template in prompt_files.list_prompts():
        if template.name.startswith("planner_"):
            continue  # the planner's own system prompts are internal
        server.add_prompt(prompt_files.as_mcp_prompt(template))
