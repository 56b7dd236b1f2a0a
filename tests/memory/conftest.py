from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from memory.database import Database
from memory.store import MIGRATIONS, SqliteMemoryStore


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2025, 11, 3, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def ago(self, **delta: float) -> datetime:
        return self.now - timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "nexus.db"


@pytest.fixture
def database(db_path: Path) -> Iterator[Database]:
    db = Database(db_path)
    db.migrate([MIGRATIONS])
    yield db
    db.close()


@pytest.fixture
def store(engine: str, request: pytest.FixtureRequest, clock: Clock) -> SqliteMemoryStore:
    """The memory store under test, on each engine (``engine``: sqlite, then postgresql)."""
    if engine == "postgresql":
        from memory.pg.store import PgMemoryStore

        return PgMemoryStore(request.getfixturevalue("pg_database"), clock=clock)
    return SqliteMemoryStore(request.getfixturevalue("database"), clock=clock)
