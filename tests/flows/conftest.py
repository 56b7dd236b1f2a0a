"""Fixtures of the flow tests: Nexus's parts on a fresh database, and a truth repository seen by two
clients (Nexus's and a satellite's), local git or the fake GitHub on 127.0.0.1."""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest

from memory.database import Database
from memory.store import SqliteMemoryStore
from nexus_agent.flows import InstructionService
from nexus_agent.registry import SqliteRegistry
from nexus_agent.testing.fake_github import FakeGitHub
from nexus_agent.testing.fake_github._repo import person
from nexus_agent.truth import GitHubTokenAuth, GitHubTruthSource, LocalGitTruthSource, TruthSource
from nexus_agent.wire.errors import UpstreamError
from nexus_agent.wire.models import AppRecord
from satellite_template import Satellite
from tests.conftest import TickingClock
from tests.flows.flow_support import World

NEXUS_TOKEN = "nexus-test-token-0123456789"
SATELLITE_TOKEN = "satellite-test-token-0123456789"
_names = itertools.count(1)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- the truth repository, from both sides ---------------------------------------------------------
@pytest.fixture(scope="session")
def fake_github() -> FakeGitHub:
    return FakeGitHub(tokens={NEXUS_TOKEN: "nexus-bot", SATELLITE_TOKEN: "quote-engine-bot"})


@pytest.fixture(scope="session")
def github_url(fake_github: FakeGitHub) -> Iterator[str]:
    with fake_github.serve() as url:
        yield url


def _github(url: str, repo: str, token: str) -> GitHubTruthSource:
    options: dict[str, Any] = {"retries": 0, "seconds_between_requests": None, "seconds_between_writes": None}
    return GitHubTruthSource(repo, GitHubTokenAuth(token=token), base_url=url, timeout=5, **options)


@pytest.fixture
def github_world(fake_github: FakeGitHub, github_url: str) -> Iterator[World]:
    name = f"sfg/flows-{next(_names)}"
    fake_github.create_repo(name)

    async def raw_commit(files: dict[str, bytes], message: str) -> None:
        with fake_github.lock:  # a satellite pushing with plain git: no secret guard on the way
            fake_github.repo(name).commit_files(None, dict(files), message, person("quote-engine-bot"))

    nexus, satellite = _github(github_url, name, NEXUS_TOKEN), _github(github_url, name, SATELLITE_TOKEN)
    yield World("github", nexus, satellite, raw_commit)
    nexus.close()
    satellite.close()


@pytest.fixture
def local_world(tmp_path: Path) -> World:
    folder = tmp_path / "truth"
    nexus = LocalGitTruthSource(folder, author_name="Nexus", author_email="nexus@test.invalid")
    satellite = LocalGitTruthSource(folder, author_name="Quote Engine", author_email="quote-engine@test.invalid")

    async def raw_commit(files: dict[str, bytes], message: str) -> None:
        def commit() -> None:  # a satellite committing with plain git: no secret guard on the way
            satellite._ensure()
            with satellite._locked():
                satellite._commit_sync(dict(files), message)

        await anyio.to_thread.run_sync(commit)

    return World("local", nexus, satellite, raw_commit)


@pytest.fixture(params=["local", "github"])
def world(request: pytest.FixtureRequest) -> World:
    """Each truth source in turn."""
    return request.getfixturevalue(f"{request.param}_world")


@pytest.fixture
def truth(world: World) -> TruthSource:
    return world.nexus


# -- Nexus's parts ----------------------------------------------------------------------------------
Clock = TickingClock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def memory(database: Database) -> SqliteMemoryStore:
    return SqliteMemoryStore(database)


class RecordingNotify:
    """A fake event outbox: records each notification and returns a delivery id (or fails while ``failing``)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.failing = False

    async def __call__(self, event: str, target: AppRecord, data: dict[str, Any]) -> str:
        if self.failing:
            raise UpstreamError("the outbox is down")
        self.calls.append((event, target.slug, data))
        return f"dlv-{len(self.calls)}"


@pytest.fixture
def notify() -> RecordingNotify:
    return RecordingNotify()


@pytest.fixture
def service(
    engine: str, request: pytest.FixtureRequest, database: Database, truth: TruthSource, registry: SqliteRegistry,
    memory: SqliteMemoryStore, notify: RecordingNotify, clock: Clock,
) -> InstructionService:  # fmt: skip
    """The instruction service, its instructions on each engine (``engine``: sqlite, then postgresql).

    Tests that look inside the SQLite file (they take ``db_path``) run on SQLite only.
    """
    if engine == "postgresql":
        if "db_path" in inspect.signature(request.function).parameters:
            pytest.skip("this test looks inside the SQLite file")
        database = request.getfixturevalue("pg_database")
    return InstructionService(database, truth, registry, memory, notify, clock=clock)


# -- a satellite built with the kit -------------------------------------------------------------------
def make_satellite(slug: str = "quote-engine", name: str = "Quote Engine", **fields: Any) -> Satellite:
    fields.setdefault("owner", "sales-team")
    fields.setdefault("description", "Quotes for aluminium windows and doors.")
    sat = Satellite(slug, name, version="1.2.3", category="sales", capabilities=["quote status lookup"], **fields)

    @sat.tool(read_only=True, idempotent=True)
    def quote_status(quote_id: str) -> str:
        """Status of one quote."""
        return "draft"

    return sat


@pytest.fixture
def sat() -> Satellite:
    return make_satellite()
