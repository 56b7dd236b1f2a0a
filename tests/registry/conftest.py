from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from memory.database import Database
from nexus_agent.models import AppRecord
from nexus_agent.registry import SqliteRegistry

MakeApp = Callable[..., AppRecord]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class TickingClock:
    """A deterministic clock: every call is one second after the previous one."""

    def __init__(self) -> None:
        self.now = datetime(2025, 11, 3, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def clock() -> TickingClock:
    return TickingClock()


@pytest.fixture
def registry(database: Database, clock: TickingClock) -> SqliteRegistry:
    return SqliteRegistry(database, clock=clock)
