from __future__ import annotations

from collections.abc import Callable

import pytest

from memory.database import Database
from nexus_agent.registry import SqliteRegistry
from nexus_agent.wire.models import AppRecord
from tests.conftest import TickingClock

MakeApp = Callable[..., AppRecord]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> TickingClock:
    return TickingClock()


@pytest.fixture
def registry(engine: str, request: pytest.FixtureRequest, clock: TickingClock) -> SqliteRegistry:
    """The registry under test, on each engine (``engine``: sqlite, then postgresql)."""
    if engine == "postgresql":
        from nexus_agent.registry_pg import PgRegistry

        return PgRegistry(request.getfixturevalue("pg_database"), clock=clock)
    database: Database = request.getfixturevalue("database")
    return SqliteRegistry(database, clock=clock)
