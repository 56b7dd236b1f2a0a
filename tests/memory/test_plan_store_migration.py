"""Migration ``0005_one_plan_store`` (``0003`` on PostgreSQL): a home made by the old schema, where a plan
lived twice (memory's ``plans`` with its own statuses, the planner's ``planner_runs``), opens with every
plan in the one store, nothing lost: statuses in the one vocabulary, run states and claims kept, steps,
decisions and search entries still pointing at their plan, and new plans numbered after the old ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from memory import plans
from memory.database import Database
from memory.models import PlanIn
from memory.schema import MIGRATIONS
from memory.store import SqliteMemoryStore
from nexus_agent.planner.state import PlanStore

pytestmark = pytest.mark.anyio

#: The old ``nexus-planner`` set's table, as its two migrations left it.
_OLD_RUNS = (
    "CREATE TABLE planner_runs (plan_id INTEGER PRIMARY KEY, status TEXT NOT NULL, state TEXT NOT NULL, "
    "updated_at REAL NOT NULL, claimed_by TEXT)"
)


def _run(plan_id: int, status: str, **extra: Any) -> str:
    return json.dumps({"plan_id": plan_id, "instruction": f"plan {plan_id}", "status": status, **extra})


@pytest.fixture
def old_home(tmp_path: Path) -> Iterator[Database]:
    """A database as the old schema made it (memory migrations up to 0004 and planner_runs)."""
    database = Database(tmp_path / "nexus.db")
    MIGRATIONS.apply(database.db, stop_before="0005_one_plan_store")
    database.conn.execute(_OLD_RUNS)
    yield database
    database.close()


async def test_an_old_home_opens_with_every_plan_in_the_one_store(old_home: Database) -> None:
    with old_home.write() as db:  # what the old code wrote: memory's plan rows (same statements), then its runs
        db.execute("INSERT INTO conversations (title, created_by, created_at) VALUES ('quotes', 'owner', 1)")
        made = [
            plans.insert_plan(
                db.conn, PlanIn(instruction=text, conversation_id=1, status="running", steps=[{"tool": "q"}]), 2.0
            )
            for text in ("chase the Hartley quote", "glazing order", "survey booking", "logged by hand")
        ]
        db.execute(
            "INSERT INTO decisions (decision, decided_by, plan_id, created_at) VALUES ('chase Hartley first', "
            "'owner', ?, 3)",
            [made[0].id],
        )
        db.execute("UPDATE plans SET status = 'draft' WHERE id = ?", [made[0].id])
        db.execute("UPDATE plans SET status = 'failed' WHERE id = ?", [made[1].id])
        db.execute("UPDATE plans SET status = 'approved' WHERE id = ?", [made[3].id])
        runs = [
            (made[0].id, "awaiting_approval", _run(made[0].id, "awaiting_approval"), 50.0, None),
            (made[1].id, "partial", _run(made[1].id, "partial", answer="1 call failed"), 60.0, None),
            (made[2].id, "claimed", _run(made[2].id, "running"), 70.0, "elsewhere:12"),  # claimed, mid-run
            (99, "succeeded", _run(99, "succeeded", actor="bob"), 80.0, None),  # a run whose plan row is gone
        ]
        db.conn.executemany("INSERT INTO planner_runs VALUES (?, ?, ?, ?, ?)", runs)

    old_home.migrate([MIGRATIONS])

    rows = old_home.conn.execute("SELECT id, status, created_by, claimed_by FROM plans ORDER BY id").fetchall()
    assert rows == [
        (made[0].id, "awaiting_approval", "owner", None),  # the planner's status, not memory's 'draft'
        (made[1].id, "partial", "owner", None),  # not memory's coarser 'failed'
        (made[2].id, "running", "owner", "elsewhere:12"),  # the claim stamp gave way to the real status
        (made[3].id, "running", "owner", None),  # no planner ran it: its old status, in the one vocabulary
        (99, "succeeded", "bob", None),
    ]
    tables = {r[0] for r in old_home.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "planner_runs" not in tables
    assert old_home.pending_migrations([MIGRATIONS]) == []
    assert old_home.conn.execute("PRAGMA foreign_key_check").fetchall() == []

    states = PlanStore(old_home)
    assert (await states.load(made[1].id)).answer == "1 call failed"
    assert await states.ids_with_status("awaiting_approval") == [made[0].id]
    assert await states.ids_with_status("claimed") == [made[2].id]
    memory = SqliteMemoryStore(old_home)
    plan = await memory.get_plan(made[0].id)
    assert (plan.status, [s.tool for s in plan.steps], plan.conversation_id) == ("awaiting_approval", ["q"], 1)
    assert (await memory.get_decision(1)).plan_id == made[0].id
    hits = (await memory.search({"query": "Hartley", "kinds": ["plan"]})).hits
    assert [(h.kind, h.id, h.title) for h in hits] == [("plan", made[0].id, "chase the Hartley quote")]
    assert (await memory.create_plan({"instruction": "a new one"})).id == 100  # after every old id


def test_a_home_where_no_planner_ran_takes_the_one_vocabulary(tmp_path: Path) -> None:
    database = Database(tmp_path / "nexus.db")
    try:
        MIGRATIONS.apply(database.db, stop_before="0005_one_plan_store")
        database.conn.execute(
            "INSERT INTO plans (instruction, status, created_by, created_at, updated_at) "
            "VALUES ('a', 'draft', 'o', 1, 1), ('b', 'cancelled', 'o', 1, 1)"
        )
        database.migrate([MIGRATIONS])
        statuses = database.conn.execute("SELECT status, run FROM plans ORDER BY id").fetchall()
        assert statuses == [("awaiting_approval", None), ("cancelled", None)]
    finally:
        database.close()


async def test_an_old_postgresql_database_moves_its_runs_into_the_plans_table(pg_url: str) -> None:
    from memory.pg.database import PgDatabase, PgMigrations
    from memory.pg.schema import MEMORY_PG_MIGRATIONS, TEXT_PG_MIGRATIONS
    from memory.pg.store import PgMemoryStore
    from nexus_agent.planner._state_pg import PgPlanStateStore

    old_memory = PgMigrations("nexus-memory", steps=MEMORY_PG_MIGRATIONS.steps[:2])
    old_planner = PgMigrations("nexus-planner")
    old_planner.add("0001_planner_runs", _OLD_RUNS.replace("INTEGER", "BIGINT").replace("REAL", "DOUBLE PRECISION"))
    database = PgDatabase(pg_url)
    try:
        database.migrate([TEXT_PG_MIGRATIONS, old_memory, old_planner])
        with database.write() as db:
            db.execute(
                "INSERT INTO plans (instruction, status, created_by, created_at, updated_at) "
                "VALUES ('chase Q-7', 'draft', 'owner', 1, 1), ('by hand', 'draft', 'owner', 1, 1)"
            )
            db.execute("INSERT INTO plan_steps (plan_id, seq, tool, status) VALUES (1, 1, 'q', 'pending')")
            db.execute(
                "INSERT INTO planner_runs VALUES (1, 'claimed', ?, 9, 'elsewhere:1'), (7, 'failed', ?, 9, NULL)",
                [_run(1, "awaiting_approval"), _run(7, "failed", actor="bob")],
            )

        database.migrate([TEXT_PG_MIGRATIONS, MEMORY_PG_MIGRATIONS])

        with database.read() as db:
            rows = db.execute("SELECT id, status, created_by, claimed_by FROM plans ORDER BY id").fetchall()
            runs_left = db.execute("SELECT to_regclass('planner_runs') IS NOT NULL").fetchone()[0]
        assert [tuple(r) for r in rows] == [
            (1, "awaiting_approval", "owner", "elsewhere:1"),
            (2, "awaiting_approval", "owner", None),  # no planner ran it: 'draft' in the one vocabulary
            (7, "failed", "bob", None),  # a run without its plan row keeps what its state says
        ]
        assert not runs_left
        states = PgPlanStateStore(database)
        assert (await states.load(1)).status == "awaiting_approval"
        memory = PgMemoryStore(database)
        assert [s.tool for s in (await memory.get_plan(1)).steps] == ["q"]
        assert (await memory.create_plan({"instruction": "new"})).id == 8  # after every old id
    finally:
        database.close()
