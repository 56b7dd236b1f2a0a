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
    assert (report.counts["api_keys"], report.counts["plans"]) == (1, 1)  # the run travels in its plan row
    assert ApiKeyStore(pg_database).verify(issued.secret).name == "yard-bot"
    states = PgPlanStateStore(pg_database)
    assert await states.load(plan.id) == waiting
    assert (await states.claim(plan.id, {"awaiting_approval"})).instruction == "chase quote Q-7"


@pytest.mark.anyio
async def test_copy_brings_the_outbox_instructions_inbound_events_and_call_log_across(
    settings: Settings, pg_database: Any
) -> None:
    """A queued webhook is still sent, an open instruction still reported on, a replayed event still refused."""
    from nexus_agent.events import AppEvent, AppEventStore, GitHubDeliveries, GitHubEvent, Outbox
    from nexus_agent.events._pg_store import PgOutboxStore
    from nexus_agent.flows import InstructionService
    from nexus_agent.ops.calllog import CallLog
    from nexus_agent.ops.figures import compute_figures

    hook = {"mcp_url": "http://quote-engine.example.test/mcp", "webhook_url": "http://quote-engine.example.test/hook"}
    with open_services_sync(settings) as services:
        app = AppRecord.model_validate({"slug": "quote-engine", "name": "Quote Engine", "endpoints": hook})
        await services.registry.register(app, "owner")
        (made,) = await services.instructions.create("quote-engine", "recalculate-quote", "Q-7", actor="owner")
        await services.outbox.enqueue("stock.low", "quote-engine", hook["webhook_url"], {"sku": "AL-6063"})
        AppEventStore(services.database).claim(
            AppEvent(slug="quote-engine", event="quote.sent", delivery_id="q-1", timestamp=1, received_at=1.0)
        )
        GitHubDeliveries(services.database).claim(GitHubEvent(event="ping", delivery_id="gh-1"))
        calls = CallLog(services.database)
        for outcome in ("ok", "ok", "error"):
            calls.record("tool", "nexus", "memory_search", outcome, 0.01)
        await calls.flush()
    report = copy_sqlite_to_pg(settings.db_path, pg_database)
    assert {
        t: report.counts[t] for t in ("outbox", "instructions", "app_events", "github_deliveries", "ops_calls")
    } == {
        "outbox": 2,  # the instruction's notice and the stock event
        "instructions": 1,
        "app_events": 1,
        "github_deliveries": 1,
        "ops_calls": 3,
    }
    assert pg_database.table_counts(COPIED_TABLES) == report.counts

    outbox = Outbox(pg_database, store_type=PgOutboxStore)
    assert (await outbox.get(made.id)).target == "quote-engine"  # the notice keeps its delivery id
    assert [e.event for e in await outbox.claim(5, 30, owner="replica-a")] == ["instruction.created", "stock.low"]
    later = await outbox.enqueue("stock.low", "quote-engine", hook["webhook_url"], {"sku": "AL-6060"})
    assert later.id > 2  # the id sequence moved past the copied rows
    registry = PgRegistry(pg_database)
    moved = InstructionService(pg_database, services.truth, registry, PgMemoryStore(pg_database), services.notify)
    got = await moved.get(made.id)
    assert (got.status.value, [h.to_status.value for h in got.history]) == ("delivered", ["pending", "delivered"])
    assert AppEventStore(pg_database).claim(
        AppEvent(slug="quote-engine", event="quote.sent", delivery_id="q-1", timestamp=1, received_at=1.0)
    ) is None  # fmt: skip
    assert GitHubDeliveries(pg_database).claim(GitHubEvent(event="ping", delivery_id="gh-1")) is False
    with pg_database.read() as pg:
        figures = compute_figures(None, 0, shared=pg)  # type: ignore[arg-type]
    assert (figures.tool_calls, figures.tool_errors) == (3, 1)
