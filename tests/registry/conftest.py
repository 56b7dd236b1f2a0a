from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from memory.database import Database
from nexus_agent.models import AppRecord
from nexus_agent.registry import REGISTRY_MIGRATIONS, SqliteRegistry

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
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "nexus.db"


@pytest.fixture
def database(db_path: Path) -> Iterator[Database]:
    db = Database(db_path, sync="normal")
    db.migrate([REGISTRY_MIGRATIONS])
    yield db
    db.close()


@pytest.fixture
def clock() -> TickingClock:
    return TickingClock()


@pytest.fixture
def registry(database: Database, clock: TickingClock) -> SqliteRegistry:
    return SqliteRegistry(database, clock=clock)


@pytest.fixture
def make_app() -> MakeApp:
    def make(slug: str, **fields: Any) -> AppRecord:
        data: dict[str, Any] = {"slug": slug, "name": slug.replace("-", " ").title(), **fields}
        if data.get("status") in {"active", "degraded"} and "endpoints" not in data:
            data["endpoints"] = {"mcp_url": f"http://{slug}.example.test/mcp"}
        return AppRecord.model_validate(data)

    return make
