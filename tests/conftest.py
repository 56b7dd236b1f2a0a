from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pg_fixtures import deselect_sqlite_only, engine, pg_database, pg_server, pg_url  # noqa: F401  (PostgreSQL: a real server, or a skip)

from memory.database import Database
from nexus_agent.config import Settings
from nexus_agent.registry import SqliteRegistry
from nexus_agent.services import ALL_MIGRATIONS, NexusServices, open_services_sync
from nexus_agent.wire.models import AppRecord

MakeApp = Callable[..., AppRecord]


class TickingClock:
    """A deterministic clock: every call is one second after the previous one."""

    def __init__(self) -> None:
        self.now = datetime(2025, 11, 3, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    deselect_sqlite_only(config, items)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.load({"NEXUS_HOME": str(tmp_path / "home"), "NEXUS_DB_SYNC": "normal"})


@pytest.fixture
def services(settings: Settings) -> Iterator[NexusServices]:
    with open_services_sync(settings) as svc:
        yield svc


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "nexus.db"


@pytest.fixture
def database(db_path: Path) -> Iterator[Database]:
    """A Nexus database with every migration applied (memory, registry, flows, events)."""
    db = Database(db_path, sync="normal")
    db.migrate(ALL_MIGRATIONS)
    yield db
    db.close()


@pytest.fixture
def registry(database: Database) -> SqliteRegistry:
    return SqliteRegistry(database)


@pytest.fixture
def make_app() -> MakeApp:
    """``make_app("quote-engine", status="active")``: a valid AppRecord (live apps get an endpoint)."""

    def make(slug: str, **fields: Any) -> AppRecord:
        data: dict[str, Any] = {"slug": slug, "name": slug.replace("-", " ").title(), **fields}
        if data.get("status") in {"active", "degraded"} and "endpoints" not in data:
            data["endpoints"] = {"mcp_url": f"http://{slug}.example.test/mcp"}
        return AppRecord.model_validate(data)

    return make
