"""What the role policy's scope rules look up, answered from the services.

:class:`nexus_agent.auth.policy.RolePolicy` decides; this reads the few facts its argument-dependent
rules need (who started a plan, which app an instruction is for, an app's current record).
"""

from __future__ import annotations

from nexus_agent.services import NexusServices
from nexus_agent.wire.errors import NexusError, NotFound
from nexus_agent.wire.models import AppRecord

__all__ = ["ServicesLookup"]


class ServicesLookup:
    def __init__(self, services: NexusServices) -> None:
        self._services = services

    async def plan_starter(self, plan_id: int) -> tuple[str, str] | None:
        planner = self._services.planner
        if planner is None:
            return None
        try:
            plan = await planner.get(plan_id)
        except NexusError:
            return None
        return (plan.started_by, plan.started_by_role) if plan.started_by else None

    async def instruction_target(self, instruction_id: str) -> str | None:
        shared = self._services.shared  # with NEXUS_DATABASE_URL instructions live in PostgreSQL
        database = shared.database if shared is not None else self._services.database

        def read() -> str | None:
            with database.read() as db:
                row = db.execute("SELECT target FROM instructions WHERE id = ?", [instruction_id]).fetchone()
                return str(row[0]) if row else None

        result: str | None = await database.run(read)
        return result

    async def conversation_plan(self, conversation_id: int) -> int | None:
        def read() -> int | None:
            with self._services.database.read() as db:
                sql = "SELECT id FROM plans WHERE conversation_id = ? ORDER BY id LIMIT 1"
                row = db.execute(sql, [conversation_id]).fetchone()
                return int(row[0]) if row else None

        return await self._services.database.run(read)

    async def app(self, slug: str) -> AppRecord | None:
        try:
            return await self._services.registry.get(slug)
        except NotFound:
            return None
