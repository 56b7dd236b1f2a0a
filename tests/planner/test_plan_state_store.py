"""The one plan store on both engines: the planner's run state in the plan's own row, one contract,
and plan claims exclusive across replicas.

Each "replica" is a store on its own connection (a second SQLite ``Database`` on the same
file; a second PostgreSQL pool on the same database), as two ``nexus`` processes have.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from nexus_agent.planner.state import PLANNER_MIGRATIONS, RunState, SqlitePlanStateStore
from nexus_agent.wire.errors import Conflict, NotFound, StorageError

pytestmark = pytest.mark.anyio


@pytest.fixture
def replicas(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[list[SqlitePlanStateStore]]:
    """Two state stores on one database, each with its own connection(s)."""
    if engine == "postgresql":
        from memory.pg.database import PgDatabase
        from nexus_agent.planner._state_pg import open_pg_state_store

        url = request.getfixturevalue("pg_url")
        pools = [PgDatabase(url), PgDatabase(url)]
        try:
            yield [open_pg_state_store(pool) for pool in pools]
        finally:
            for pool in pools:
                pool.close()
        return
    from memory.database import Database

    files = [Database(tmp_path / "nexus.db"), Database(tmp_path / "nexus.db")]
    files[0].migrate([PLANNER_MIGRATIONS])
    try:
        yield [SqlitePlanStateStore(db) for db in files]
    finally:
        for db in files:
            db.close()


def _state(plan_id: int, status: str = "awaiting_approval") -> RunState:
    return RunState.model_validate({"plan_id": plan_id, "instruction": f"chase quote {plan_id}", "status": status})


def _plan_rows(store: SqlitePlanStateStore, *ids: int) -> None:
    """The plans' rows, as memory's create_plan writes them before the planner saves its run."""
    with store._db.write() as db:
        for plan_id in ids:
            db.execute(
                "INSERT INTO plans (id, instruction, status, created_by, created_at, updated_at) "
                "VALUES (?, ?, 'running', 'owner', 1, 1)",
                [plan_id, f"chase quote {plan_id}"],
            )


async def _saved(store: SqlitePlanStateStore, state: RunState) -> None:
    _plan_rows(store, state.plan_id)
    await store.save(state)


async def test_a_saved_run_loads_back_on_the_other_replica(replicas: list[SqlitePlanStateStore]) -> None:
    mine, theirs = replicas
    state = _state(7).model_copy(update={"answer": "quote Q-7 chased", "notes": ["left out: 2 tools"]})
    await _saved(mine, state)
    loaded = await theirs.load(7)
    assert loaded == state
    assert await theirs.ids_with_status("awaiting_approval") == [7]
    with theirs._db.read() as db:  # the plan's one row says the planner's status: no second vocabulary
        assert db.execute("SELECT status FROM plans WHERE id = 7").fetchone()[0] == "awaiting_approval"
    with pytest.raises(NotFound, match="plan 8 was not made by the planner"):
        await theirs.load(8)
    _plan_rows(mine, 8)  # a plan memory recorded that no planner ran
    with pytest.raises(NotFound, match="plan 8 was not made by the planner"):
        await theirs.load(8)
    with pytest.raises(StorageError, match="plan 9 has no row"):
        await mine.save(_state(9))


async def test_a_claim_excludes_the_other_replica_until_released(replicas: list[SqlitePlanStateStore]) -> None:
    mine, theirs = replicas
    await _saved(mine, _state(3))
    claimed = await mine.claim(3, {"awaiting_approval"})
    assert claimed.status == "awaiting_approval"
    assert await theirs.ids_with_status("claimed") == [3]
    assert await theirs.ids_with_status("awaiting_approval") == [3]  # a claim leaves the status as it is
    with pytest.raises(Conflict, match="another Nexus process"):
        await theirs.claim(3, {"awaiting_approval"})
    await mine.release(3, claimed.status)  # given back untouched: claimable again, by anyone
    assert await theirs.ids_with_status("awaiting_approval") == [3]
    assert (await theirs.claim(3, {"awaiting_approval"})).plan_id == 3


async def test_a_claim_checks_the_status_and_the_plan(replicas: list[SqlitePlanStateStore]) -> None:
    mine, _ = replicas
    await _saved(mine, _state(4, "succeeded"))
    with pytest.raises(Conflict, match="plan 4 is succeeded"):
        await mine.claim(4, {"awaiting_approval"})
    with pytest.raises(NotFound):
        await mine.claim(99, {"awaiting_approval"})


async def test_a_claim_left_by_a_dead_process_is_taken_over(replicas: list[SqlitePlanStateStore], engine: str) -> None:
    from nexus_agent.planner.state import _HOST

    mine, theirs = replicas
    await _saved(mine, _state(5))
    with mine._db.write() as db:  # a process on this host that claimed plan 5 and died (pid beyond any real one)
        db.execute("UPDATE plans SET claimed_by = ? WHERE id = 5", [f"{_HOST}:4194999"])
    assert (await theirs.claim(5, {"awaiting_approval"})).plan_id == 5


async def test_two_replicas_racing_claim_each_of_100_plans_exactly_once(replicas: list[SqlitePlanStateStore]) -> None:
    for plan_id in range(1, 101):
        await _saved(replicas[0], _state(plan_id))
    won: dict[int, list[int]] = {plan_id: [] for plan_id in range(1, 101)}

    async def claim_all(index: int, store: SqlitePlanStateStore) -> None:
        order = range(1, 101) if index % 2 == 0 else range(100, 0, -1)  # they meet in the middle
        for plan_id in order:
            try:
                await store.claim(plan_id, {"awaiting_approval"})
            except Conflict:
                continue
            won[plan_id].append(index)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            for index, store in enumerate(replicas * 2):  # two claimers per replica, four in all
                tg.start_soon(claim_all, index, store)
    assert all(len(winners) == 1 for winners in won.values()), {p: w for p, w in won.items() if len(w) != 1}
    assert len({winners[0] for winners in won.values()}) > 1  # a real race: more than one claimer won plans
    assert sorted(await replicas[1].ids_with_status("claimed")) == list(range(1, 101))


async def test_replicas_on_one_database_url_share_the_planner_state(tmp_path: Path, pg_url: str) -> None:
    """`nexus serve` with NEXUS_DATABASE_URL builds its planner on the shared state (not per replica)."""
    from nexus_agent.config import Settings
    from nexus_agent.planner import OfflineModel, build_planner
    from nexus_agent.planner._state_pg import PgPlanStateStore
    from nexus_agent.services import open_services_sync

    def settings(name: str) -> Settings:
        return Settings.load({"NEXUS_HOME": str(tmp_path / name), "NEXUS_DATABASE_URL": pg_url})

    with open_services_sync(settings("a")) as a, open_services_sync(settings("b")) as b:
        first, second = build_planner(a, model=OfflineModel()), build_planner(b, model=OfflineModel())
        assert isinstance(first.states, PgPlanStateStore) and isinstance(second.states, PgPlanStateStore)
        result = await first.run("what do we know about the glass racks?")
        assert (await second.get(result.plan_id)).instruction == result.instruction
        state = await second.states.load(result.plan_id)
        await second.states.save(state.model_copy(update={"status": "awaiting_approval"}))
        await first.states.claim(result.plan_id, {"awaiting_approval"})
        with pytest.raises(Conflict, match="another Nexus process"):
            await second.states.claim(result.plan_id, {"awaiting_approval"})
