"""PostgreSQL for the tests: ``pg_server`` (session) and ``pg_url`` (a fresh database per test).

With ``NEXUS_TEST_DATABASE_URL`` set, its server is used (the role must be allowed to CREATE
DATABASE). Otherwise a throwaway cluster is started with the machine's ``initdb``/``pg_ctl``
(as the ``postgres`` user when root) on a free port and stopped when the session ends. Where
neither is possible the PostgreSQL tests skip, saying how to enable them.
"""

from __future__ import annotations

import inspect
import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nexus_agent.testing.postgres import ClusterUnavailable, ThrowawayCluster, create_database, drop_database

_counter = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The URL of a PostgreSQL server the tests may create databases on."""
    url = os.environ.get("NEXUS_TEST_DATABASE_URL", "").strip()
    if url:
        yield url
        return
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("PostgreSQL tests need psycopg: pip install -e '.[test]'")
    try:
        cluster = ThrowawayCluster.start()
    except ClusterUnavailable as exc:
        if os.environ.get("CI"):  # CI provides PostgreSQL (.ci/provide): missing there is a broken set-up
            pytest.fail(f"PostgreSQL tests cannot run under CI: {exc}")
        pytest.skip(f"PostgreSQL tests skipped: {exc}")
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty database for one test (dropped afterwards)."""
    name = f"nexus_test_{os.getpid()}_{next(_counter)}"
    url = create_database(pg_server, name)
    yield url
    drop_database(pg_server, name)


#: Tests of the shared suites that look inside the SQLite file itself, so they run on SQLite only.
SQLITE_ONLY = {"test_writes_are_committed_when_the_call_returns"}


#: Per test folder, the fixtures a test takes when it looks inside the SQLite file itself.
SQLITE_FILE_FIXTURES = {"events": {"database", "db_path"}, "flows": {"db_path"}}


def sqlite_only(item: pytest.Item) -> bool:
    """Whether ``item`` is the PostgreSQL case of a shared-suite test that reads the SQLite file itself."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or callspec.params.get("engine") != "postgresql":
        return False
    if getattr(item, "originalname", "") in SQLITE_ONLY:
        return True
    function = getattr(item, "function", None)
    taken = set(inspect.signature(function).parameters) if function is not None else set()
    folder = Path(str(item.path)).parent.name
    return bool(SQLITE_FILE_FIXTURES.get(folder, set()) & taken)


def deselect_sqlite_only(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out (rather than skip) the PostgreSQL cases that cannot apply, so a CI run skips nothing."""
    dropped = [item for item in items if sqlite_only(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not sqlite_only(item)]


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> str:
    """The storage engine a contract test runs on; the memory and registry suites run on both."""
    if request.param == "postgresql" and request.node.originalname in SQLITE_ONLY:
        pytest.skip("this test reads the SQLite file directly")
    return str(request.param)


@pytest.fixture
def pg_database(pg_url: str) -> Iterator[Any]:
    """A :class:`memory.pg.database.PgDatabase` on a fresh database, every PostgreSQL migration applied."""
    from memory.pg.database import PgDatabase
    from nexus_agent.services_pg import PG_MIGRATIONS

    database = PgDatabase(pg_url)
    database.migrate(PG_MIGRATIONS)
    yield database
    database.close()
