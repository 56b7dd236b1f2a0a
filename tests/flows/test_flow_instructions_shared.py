"""Instructions on PostgreSQL, shared by replicas: two replicas moving one instruction at once are serialised."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from memory.pg.database import PgDatabase
from nexus_agent.flows._store import instruction_store
from nexus_agent.flows._store_pg import PgInstructionStore
from nexus_agent.flows.models import Instruction, InstructionStatus, InstructionTransition, new_instruction_id
from nexus_agent.wire.errors import Conflict

_S = InstructionStatus


def _instruction(n: int) -> Instruction:
    now = datetime(2026, 12, 5, 9, 0, n, tzinfo=UTC)
    return Instruction(
        id=new_instruction_id(now),
        target="quote-engine",
        action="recalculate-quote",
        created_by="owner",
        created_at=now,
        updated_at=now,
        history=[InstructionTransition(from_status=None, to_status=_S.pending, by="owner", at=now, reason="created")],
    )


def test_the_store_for_a_postgresql_database_is_the_shared_one(pg_database: Any) -> None:
    assert isinstance(instruction_store(pg_database), PgInstructionStore)


def test_two_replicas_acknowledging_one_instruction_at_once_acknowledge_it_once(pg_database: Any, pg_url: str) -> None:
    made = [_instruction(n) for n in range(20)]
    PgInstructionStore(pg_database).insert(made)
    at = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    wins: dict[str, list[str]] = {"a": [], "b": []}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def replica(name: str) -> None:
        with PgDatabase(pg_url, max_size=2) as database:  # its own pool, as another replica has
            store = PgInstructionStore(database)
            start.wait(timeout=30)
            for ins in made:
                try:
                    store.transition(
                        ins.id, [_S.delivered, _S.acknowledged], by=f"replica-{name}", reason="notice accepted",
                        at=at, expect=[_S.pending],
                    )  # fmt: skip
                except Conflict:
                    continue
                except BaseException as exc:  # surfaced below
                    errors.append(exc)
                    return
                wins[name].append(ins.id)

    threads = [threading.Thread(target=replica, args=(n,)) for n in wins]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert sorted(wins["a"] + wins["b"]) == sorted(i.id for i in made)  # each moved by exactly one replica
    store = PgInstructionStore(pg_database)
    for ins in made:
        moved = store.get(ins.id)
        assert [h.to_status for h in moved.history] == [_S.pending, _S.delivered, _S.acknowledged]
        assert moved.status is _S.acknowledged
