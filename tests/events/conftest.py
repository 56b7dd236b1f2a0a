"""Fixtures of the events tests: a migrated database, a settable clock, scripted HTTP targets.

``outbox`` is the contract fixture: every test that takes it runs on SQLite and on PostgreSQL
(``PgOutboxStore``, the store replicas share), except tests that also look inside the SQLite
file (they take ``database`` or ``db_path``), which run on SQLite only.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from events_support import FakeClock, Targets, open_database

from memory.database import Database
from nexus_agent.events import Outbox, RetryPolicy


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "nexus.db"


@pytest.fixture
def database(db_path: Path) -> Iterator[Database]:
    database = open_database(db_path)
    yield database
    database.close()


SQLITE_FIXTURES = {"database", "db_path"}


@pytest.fixture
def outbox(engine: str, request: pytest.FixtureRequest, clock: FakeClock) -> Outbox:
    """The outbox under test, on each engine (``engine``: sqlite, then postgresql)."""
    options: dict[str, Any] = {
        "clock": clock,
        "policy": RetryPolicy(base_s=2, cap_s=600, max_attempts=4),
        "rng": random.Random(7),
    }
    if engine == "postgresql":
        if SQLITE_FIXTURES & set(inspect.signature(request.function).parameters):
            pytest.skip("this test looks inside the SQLite file")
        from nexus_agent.events._pg_store import PgOutboxStore

        return Outbox(request.getfixturevalue("pg_database"), store_type=PgOutboxStore, **options)
    return Outbox(request.getfixturevalue("database"), **options)


@pytest.fixture
def targets(clock: FakeClock) -> Targets:
    return Targets(clock=clock)


@pytest.fixture
async def http(targets: Targets) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(targets.handle)) as client:
        yield client
