"""The satellites' tools as a planner :class:`ToolProvider` (over the satellite pool)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nexus_agent.planner.catalogue import ToolDescriptor, ToolOutcome
from nexus_agent.satellites import BreakerState, SatellitePool, split_qualified
from nexus_agent.wire.errors import NexusError

__all__ = ["SatelliteToolProvider"]


class SatelliteToolProvider:
    """Every tool of every callable satellite, named ``<slug>__<tool>``, with its app's capabilities."""

    def __init__(self, pool: SatellitePool) -> None:
        self._pool = pool

    async def descriptors(self) -> list[ToolDescriptor]:
        listing = await self._pool.list_tools()
        records = self._pool.records
        out: list[ToolDescriptor] = []
        for tool in listing.tools:
            record = records.get(tool.slug)
            hints = tool.annotations
            out.append(
                ToolDescriptor(
                    name=tool.qualified_name,
                    title=tool.title or "",
                    description=tool.description or "",
                    input_schema=tool.input_schema,
                    read_only=bool(hints and hints.read_only_hint),
                    idempotent=bool(hints and hints.idempotent_hint),
                    # MCP's default for a tool that is not read-only is "may be destructive".
                    destructive=bool(hints is None or hints.destructive_hint is not False),
                    source=tool.slug,
                    app_capabilities=tuple(record.capability_names()) if record else (),
                    app_status=record.status.value if record else None,
                )
            )
        return out

    async def call(self, name: str, arguments: Mapping[str, Any]) -> ToolOutcome:
        try:
            result = await self._pool.call(name, dict(arguments))
        except NexusError as exc:
            return ToolOutcome(ok=False, error=exc.user_message())
        if result.is_error:
            return ToolOutcome(ok=False, content=result.structured_content, error=result.text)
        return ToolOutcome(ok=True, content=result.structured_content if result.structured_content else result.text)

    def is_available(self, name: str) -> bool | str:
        try:
            slug, _ = split_qualified(name)
        except NexusError as exc:
            return exc.message
        if slug not in self._pool.records:
            return f"no callable satellite {slug!r}"
        if unset := self._pool.unset_secret(slug):
            return f"its secret {unset} is not set, so its calls fail: set {unset} where Nexus runs and restart Nexus"
        if self._pool.breaker_state(slug) is BreakerState.open:
            return f"satellite {slug!r} is circuit-broken after repeated failures; try again later"
        return True
