"""API keys on both engines: a key issued or revoked through one replica holds on every replica.

Each "replica" is a key store on its own connection to one database (two SQLite ``Database``
objects on one file; two PostgreSQL pools on one database), as two ``nexus`` processes have.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from nexus_agent.auth import Role
from nexus_agent.auth.credentials import CredentialResolver
from nexus_agent.auth.keys import AUTH_MIGRATIONS, ApiKeyStore
from nexus_agent.config import Settings
from nexus_agent.wire.errors import InvalidInput, NotFound, Unauthorized

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def replicas(engine: str, tmp_path: Path, request: pytest.FixtureRequest, clock: Clock) -> Iterator[list[ApiKeyStore]]:
    if engine == "postgresql":
        from memory.pg.database import PgDatabase
        from nexus_agent.services_pg import PG_MIGRATIONS

        url = request.getfixturevalue("pg_url")
        databases: list[object] = [PgDatabase(url), PgDatabase(url)]
        databases[0].migrate(PG_MIGRATIONS)  # type: ignore[attr-defined]
    else:
        from memory.database import Database

        databases = [Database(tmp_path / "nexus.db"), Database(tmp_path / "nexus.db")]
        databases[0].migrate([AUTH_MIGRATIONS])  # type: ignore[attr-defined]
    try:
        yield [ApiKeyStore(db, clock=clock) for db in databases]  # type: ignore[arg-type]
    finally:
        for db in databases:
            db.close()  # type: ignore[attr-defined]


async def test_a_key_issued_on_one_replica_is_verified_and_listed_on_the_other(replicas: list[ApiKeyStore]) -> None:
    mine, theirs = replicas
    issued = mine.create("satellite", app="quote-engine", expires_in=timedelta(days=30), created_by="boss")
    key = theirs.verify(issued.secret)
    assert (key.id, key.name, key.role, key.app, key.created_by) == (
        issued.key.id, "quote-engine", Role.SATELLITE, "quote-engine", "boss",
    )  # fmt: skip
    assert key.principal().app == "quote-engine"
    assert [k.id for k in theirs.list()] == [issued.key.id]
    assert theirs.count_active() == 1
    stored = [str(v) for k in theirs.list() for v in k.model_dump().values()]
    assert not any(issued.secret in v or issued.secret.split("_")[-1] in v for v in stored)


async def test_a_key_revoked_on_one_replica_stops_working_on_the_other(replicas: list[ApiKeyStore]) -> None:
    mine, theirs = replicas
    issued = mine.create("agent", name="yard-bot")
    assert theirs.verify(issued.secret).name == "yard-bot"
    revoked = theirs.revoke(issued.key.id, by="boss")
    assert revoked.revoked_by == "boss" and revoked.state(datetime.now(UTC)) == "revoked"
    with pytest.raises(Unauthorized, match="API key revoked"):
        mine.verify(issued.secret)
    assert mine.count_active() == 0
    with pytest.raises(NotFound, match="no API key with id"):
        mine.revoke("000000000000")


async def test_unknown_tampered_and_expired_keys_are_refused_on_every_replica(
    replicas: list[ApiKeyStore], clock: Clock
) -> None:
    mine, theirs = replicas
    issued = mine.create("monitor", expires_in=timedelta(hours=1))
    with pytest.raises(Unauthorized, match="unknown API key"):
        theirs.verify(issued.secret[:-4] + "AAAA")
    with pytest.raises(Unauthorized, match="unknown API key"):
        theirs.verify("nxk_000000000000_" + "x" * 43)
    clock.now += timedelta(hours=2)
    with pytest.raises(Unauthorized, match="API key expired"):
        theirs.verify(issued.secret)
    with pytest.raises(InvalidInput, match="needs the slug of its one app"):
        theirs.create("satellite")


async def test_a_replica_server_resolves_keys_from_the_shared_database(tmp_path: Path, pg_url: str) -> None:
    """With NEXUS_DATABASE_URL the HTTP bearer gate reads keys from PostgreSQL, not the replica's file."""
    from nexus_agent.services import open_services_sync

    def settings(name: str) -> Settings:
        return Settings.load({"NEXUS_HOME": str(tmp_path / name), "NEXUS_DATABASE_URL": pg_url})

    with open_services_sync(settings("a")) as a, open_services_sync(settings("b")) as b:
        issued = ApiKeyStore(a.keys_database).create("agent", name="yard-bot")
        resolver = CredentialResolver(settings("b"), b.keys_database)
        assert not await resolver.open_locally()  # an active key exists on the shared database
        principal = await resolver.resolve(issued.secret)
        assert (principal.name, principal.role, principal.credential) == ("yard-bot", Role.AGENT, "api_key")
        with b.database.read() as local:  # nothing in the replica's own file
            assert local.execute("SELECT count(*) FROM api_keys").fetchone()[0] == 0


async def test_nexus_keys_on_any_home_with_the_url_manages_the_shared_keys(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from nexus_agent.cli import main

    def keys(home: str, *argv: str) -> Any:
        env = {"NEXUS_HOME": str(tmp_path / home), "NEXUS_DATABASE_URL": pg_url}
        assert main(["keys", *argv, "--json"], env=env) == 0
        return json.loads(capsys.readouterr().out)

    issued = keys("a", "create", "--role", "agent", "--name", "yard-bot")
    listed = keys("b", "list")  # another machine's home, the same database
    assert [(k["id"], k["state"]) for k in listed] == [(issued["id"], "active")]
    keys("b", "revoke", issued["id"])
    assert [k["state"] for k in keys("a", "list")] == ["revoked"]
