"""Two real processes on one PostgreSQL racing to claim the same 100 plans: each plan is claimed once."""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
from typing import Any

import pytest

from memory.pg.store import PgMemoryStore
from nexus_agent.planner._state_pg import PgPlanStateStore
from nexus_agent.planner.state import RunState

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

#: One replica's claimer: waits for "go" on stdin (so both start together), claims in the given order.
CLAIMER = """
import json, sys, anyio
from memory.pg.database import PgDatabase
from nexus_agent.planner._state_pg import PgPlanStateStore
from nexus_agent.planner.state import this_process
from nexus_agent.wire.errors import Conflict

url, order = sys.argv[1], sys.argv[2]

async def main():
    with PgDatabase(url) as db:
        store = PgPlanStateStore(db)
        ids = range(1, 101) if order == "up" else range(100, 0, -1)
        print("ready", flush=True)
        sys.stdin.readline()
        won = []
        for plan_id in ids:
            try:
                await store.claim(plan_id, {"awaiting_approval"})
            except Conflict:
                continue
            won.append(plan_id)
        print(json.dumps({"me": this_process(), "won": won}), flush=True)
        sys.stdin.readline()  # a replica lives on while it carries out its plans: exit only when told

anyio.run(main)
"""


def _line_within(proc: subprocess.Popen[str], timeout_s: float) -> str:
    """The next line the process prints, or a failure after ``timeout_s`` (never blocks forever)."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        assert sel.select(timeout_s), f"no answer from the claimer within {timeout_s} s"
    return proc.stdout.readline().strip()


async def test_two_processes_racing_for_100_plans_claim_each_exactly_once(pg_database: Any, pg_url: str) -> None:
    states = PgPlanStateStore(pg_database)
    memory = PgMemoryStore(pg_database)
    for plan_id in range(1, 101):
        assert (await memory.create_plan({"instruction": f"chase quote {plan_id}"})).id == plan_id
        await states.save(RunState(plan_id=plan_id, instruction=f"chase quote {plan_id}", status="awaiting_approval"))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, pg_url, order],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for order in ("up", "down")
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", proc.stderr
        for proc in procs:  # both are connected and waiting: release them together
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        # Both claimers stay alive until both have finished: a claim by a process that has exited is
        # taken over by design, so an early exit would let the slower one take the first's plans.
        results = [json.loads(_line_within(proc, 60)) for proc in procs]
        for proc in procs:
            _, err = proc.communicate("bye\n", timeout=60)
            assert proc.returncode == 0, err
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    first, second = (set(r["won"]) for r in results)
    assert first.isdisjoint(second), sorted(first & second)
    assert first | second == set(range(1, 101))
    with pg_database.read() as db:  # each plan is stamped with the process that won it
        owners = dict(db.execute("SELECT id, claimed_by FROM plans").fetchall())
    assert all(owners[p] == results[0]["me"] for p in first) and all(owners[p] == results[1]["me"] for p in second)
    assert results[0]["me"] != results[1]["me"]
