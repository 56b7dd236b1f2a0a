"""Fixtures of the events tests: a migrated database, a settable clock, scripted HTTP targets."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

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


@pytest.fixture
def outbox(database: Database, clock: FakeClock) -> Outbox:
    return Outbox(database, clock=clock, policy=RetryPolicy(base_s=2, cap_s=600, max_attempts=4), rng=random.Random(7))


@pytest.fixture
def targets(clock: FakeClock) -> Targets:
    return Targets(clock=clock)


@pytest.fixture
async def http(targets: Targets) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(targets.handle)) as client:
        yield client
