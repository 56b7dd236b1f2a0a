from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus_agent.config import Settings
from nexus_agent.services import NexusServices, open_services_sync


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
