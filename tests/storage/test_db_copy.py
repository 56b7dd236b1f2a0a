"""`nexus db copy`: a SQLite home's memory and registry moved into PostgreSQL, verified by counts."""

from __future__ import annotations

from typing import Any

import pytest

from memory.pg.store import PgMemoryStore
from nexus_agent.config import Settings
from nexus_agent.db_copy import COPIED_TABLES, copy_sqlite_to_pg
from nexus_agent.registry_pg import PgRegistry
from nexus_agent.services import open_services_sync
from nexus_agent.wire.errors import Conflict
from nexus_agent.wire.models import AppFilter, AppRecord


async def _fill_sqlite_home(settings: Settings) -> dict[str, Any]:
    with open_services_sync(settings) as services:
        memory, registry = services.memory, services.registry
        note = await memory.add_note({"text": "Hartley asked for Schüco sliding doors", "apps": ["quote-engine"]})
        plan = await memory.create_plan(
            {"instruction": "quote Hartley", "created_by": "owner", "steps": [{"tool": "quote", "arguments": {}}]}
        )
        decision = await memory.log_decision(
            {"decision": "Use Kawneer frames", "decided_by": "owner", "plan_id": plan.id}
        )
        conversation = await memory.start_conversation({"created_by": "owner"})
        await memory.add_message(conversation.id, {"role": "user", "content": "what did Hartley order?"})
        await registry.register(AppRecord.model_validate({"slug": "quote-engine", "name": "Quote Engine"}), "owner")
        await registry.set_status("quote-engine", "approved", "owner", "reviewed")
        return {"note": note, "plan": plan, "decision": decision, "conversation": conversation}


@pytest.mark.anyio
async def test_copy_moves_memory_and_registry_with_their_ids_and_search(settings: Settings, pg_database: Any) -> None:
    made = await _fill_sqlite_home(settings)
    report = copy_sqlite_to_pg(settings.db_path, pg_database)
    assert report.counts["notes"] == 1 and report.counts["apps"] == 1 and report.counts["app_status_history"] == 2
    assert pg_database.table_counts(COPIED_TABLES) == report.counts

    memory, registry = PgMemoryStore(pg_database), PgRegistry(pg_database)
    hits = (await memory.search({"query": "schuco sliding"})).hits
    assert [(h.kind, h.id) for h in hits] == [("note", made["note"].id)]
    assert (await memory.get_decision(made["decision"].id)).plan_id == made["plan"].id
    assert [s.tool for s in (await memory.get_plan(made["plan"].id)).steps] == ["quote"]
    assert (await memory.get_conversation(made["conversation"].id)).conversation.message_count == 1
    assert (await registry.get("quote-engine")).status.value == "approved"
    assert [h.new_status.value for h in await registry.history("quote-engine")] == ["placeholder", "approved"]
    assert (await registry.list(AppFilter(text="quote"))).total == 1
    later = await memory.add_note({"text": "a note written after the move"})
    assert later.id > made["note"].id  # the sequences moved past the copied ids


@pytest.mark.anyio
async def test_copy_refuses_a_database_that_already_holds_a_home(settings: Settings, pg_database: Any) -> None:
    await _fill_sqlite_home(settings)
    copy_sqlite_to_pg(settings.db_path, pg_database)
    with pytest.raises(Conflict, match="already holds"):
        copy_sqlite_to_pg(settings.db_path, pg_database)
    assert pg_database.table_counts(["notes"]) == {"notes": 1}  # nothing doubled


@pytest.mark.anyio
async def test_copy_brings_api_keys_and_plans_awaiting_approval_across(settings: Settings, pg_database: Any) -> None:
    """Keys issued and plans waiting on the SQLite home keep working once the replicas run on PostgreSQL."""
    from nexus_agent.auth.keys import ApiKeyStore
    from nexus_agent.planner._state_pg import PgPlanStateStore
    from nexus_agent.planner.state import PLANNER_MIGRATIONS, RunState, SqlitePlanStateStore

    with open_services_sync(settings) as services:
        plan = await services.memory.create_plan({"instruction": "chase quote Q-7", "created_by": "owner"})
        services.database.migrate([PLANNER_MIGRATIONS])
        waiting = RunState(plan_id=plan.id, instruction="chase quote Q-7", status="awaiting_approval")
        await SqlitePlanStateStore(services.database).save(waiting)
        issued = ApiKeyStore(services.database).create("agent", name="yard-bot")
    report = copy_sqlite_to_pg(settings.db_path, pg_database)
    assert (report.counts["api_keys"], report.counts["planner_runs"]) == (1, 1)
    assert ApiKeyStore(pg_database).verify(issued.secret).name == "yard-bot"
    states = PgPlanStateStore(pg_database)
    assert await states.load(plan.id) == waiting
    assert (await states.claim(plan.id, {"awaiting_approval"})).instruction == "chase quote Q-7"
