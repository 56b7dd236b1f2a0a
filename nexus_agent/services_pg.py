"""The shared PostgreSQL stores a Nexus process uses when ``NEXUS_DATABASE_URL`` is set.

With a URL, memory, the registry, the API keys, the event outbox (leased with ``FOR UPDATE
SKIP LOCKED``, so every replica's dispatcher sends each event once), instructions, the events
legacy apps and GitHub post (and their replay guards) and the ops call log live in PostgreSQL,
so several ``nexus serve --http`` replicas share them (the planner's run state and plan claims
too: ``nexus_agent.planner._state_pg``). The records of the backups a replica took stay in the
local SQLite file of its ``NEXUS_HOME`` (the PostgreSQL database is dumped with ``nexus db dump``).
Without a URL nothing here is used.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import psycopg

from memory.pg.database import PgDatabase, PgMigrations, redact_url
from memory.pg.schema import MEMORY_PG_MIGRATIONS, TEXT_PG_MIGRATIONS
from memory.pg.store import PgMemoryStore
from nexus_agent.auth._keys_pg import AUTH_PG_MIGRATIONS
from nexus_agent.config import Settings
from nexus_agent.events import Outbox
from nexus_agent.events._pg_store import EVENTS_PG_MIGRATIONS, OUTBOX_CHANNEL, PgOutboxStore
from nexus_agent.events.app_event_notices import APP_EVENTS_CHANNEL
from nexus_agent.flows._store_pg import FLOWS_PG_MIGRATIONS
from nexus_agent.ops.schema import CALL_KINDS  # tables only: no upward import
from nexus_agent.registry_pg import REGISTRY_CHANNEL, REGISTRY_PG_MIGRATIONS, PgRegistry
from nexus_agent.registry_policy import EndpointPolicy
from nexus_agent.wire.secret_guard import KnownSecrets

__all__ = [
    "OPS_PG_MIGRATIONS",
    "PG_MIGRATIONS",
    "SHARED_STORES",
    "SharedStores",
    "follow_registry",
    "open_pg_database",
    "open_shared_stores",
]

log = logging.getLogger("nexus.postgres")

#: The ops call log (``nexus_agent.ops.calllog.CallLog``), which the figures of /metrics, the status page
#: and `nexus metrics` are computed from. Defined here, not in ops (which sits above this layer), so
#: `nexus db migrate`, copy and dump know the table.
OPS_PG_MIGRATIONS = PgMigrations("nexus-ops")
OPS_PG_MIGRATIONS.add(
    "0001_call_log",
    f"""CREATE TABLE ops_calls (
        id BIGSERIAL PRIMARY KEY, at DOUBLE PRECISION NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ({", ".join(f"'{k}'" for k in CALL_KINDS)})),
        app TEXT NOT NULL, tool TEXT NOT NULL, outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'error')),
        error_kind TEXT NOT NULL DEFAULT '', seconds DOUBLE PRECISION NOT NULL)""",
    "CREATE INDEX ops_calls_covering ON ops_calls (kind, at, seconds, outcome)",
)
#: Every PostgreSQL migration set, in the order they apply.
PG_MIGRATIONS = (
    TEXT_PG_MIGRATIONS,
    MEMORY_PG_MIGRATIONS,
    REGISTRY_PG_MIGRATIONS,
    AUTH_PG_MIGRATIONS,
    EVENTS_PG_MIGRATIONS,
    FLOWS_PG_MIGRATIONS,
    OPS_PG_MIGRATIONS,
)
#: What lives in PostgreSQL when NEXUS_DATABASE_URL is set (everything else stays in the local SQLite file).
SHARED_STORES = (
    "memory",
    "registry",
    "api keys",
    "planner run state",
    "event outbox",
    "instructions",
    "app and GitHub events",
    "ops call log",
)


@dataclass
class SharedStores:
    """The stores every replica shares. Instructions, app and GitHub events and the call log use
    ``database`` directly (their stores run the same SQL on either engine)."""

    database: PgDatabase
    memory: PgMemoryStore
    registry: PgRegistry
    outbox: Outbox

    def close(self) -> None:
        self.database.close()


def open_pg_database(url: str, *, migrate: bool = True) -> PgDatabase:
    database = PgDatabase(url)
    try:
        if migrate:
            database.migrate(PG_MIGRATIONS)
    except BaseException:
        database.close()
        raise
    return database


def open_shared_stores(settings: Settings, known: KnownSecrets) -> SharedStores | None:
    """Memory and registry on PostgreSQL (migrated), or None when no NEXUS_DATABASE_URL is set."""
    if settings.database_url is None:
        return None
    database = open_pg_database(settings.database_url.get_secret_value())
    try:
        return SharedStores(
            database=database,
            memory=PgMemoryStore(database, known_secrets=known),
            registry=PgRegistry(database, policy=EndpointPolicy.from_settings(settings), known_secrets=known),
            outbox=Outbox(database, store_type=PgOutboxStore, known_secrets=known),
        )
    except BaseException:
        database.close()
        raise


#: The listener connection's ``application_name`` (how it shows in ``pg_stat_activity``).
LISTENER_NAME = "nexus-listener"


async def follow_registry(
    url: str,
    on_change: Callable[[str], Awaitable[None]],
    *,
    ready: Callable[[], None] = lambda: None,
    on_outbox: Callable[[], None] | None = None,
    on_app_event: Callable[[str], None] | None = None,
    on_app_events_missed: Callable[[set[str]], None] | None = None,
) -> None:
    """``LISTEN`` for registry writes of any replica and call ``on_change(slug)``; runs until cancelled.

    With ``on_outbox`` (``Outbox.wake``) it also listens for outbox rows that became due on any replica,
    so this replica's dispatcher looks at once rather than at its next poll; with ``on_app_event``
    (``AppEventNotices.heard``) for events legacy apps posted to any replica. A lost connection is
    reopened after a pause (growing to 30 s), and ``on_change("")`` is called then, since writes made
    while it was down were not heard; with ``on_app_events_missed`` (``AppEventNotices.missed``) the apps
    with events recorded since the previous connection started listening are announced too (a notice sent
    while nobody listened is gone). ``ready`` is called once listening.
    """
    pause = 1.0
    seen: list[int] = []  # the newest app event id when the previous connection started listening
    while True:
        try:
            connecting = psycopg.AsyncConnection.connect(url, autocommit=True, application_name=LISTENER_NAME)
            async with await connecting as conn:
                await conn.execute(f"LISTEN {REGISTRY_CHANNEL}")
                if on_outbox is not None:
                    await conn.execute(f"LISTEN {OUTBOX_CHANNEL}")
                if on_app_event is not None:
                    await conn.execute(f"LISTEN {APP_EVENTS_CHANNEL}")
                if on_app_events_missed is not None:
                    await _catch_up_app_events(conn, seen, on_app_events_missed)
                ready()
                pause = 1.0
                async for notice in conn.notifies():
                    if notice.channel == OUTBOX_CHANNEL and on_outbox is not None:
                        on_outbox()
                    elif notice.channel == APP_EVENTS_CHANNEL and on_app_event is not None:
                        on_app_event(notice.payload)
                    elif notice.channel == REGISTRY_CHANNEL:
                        await on_change(notice.payload)
        except psycopg.Error as exc:
            log.warning("registry notifications from %s lost (%s); retrying in %.0f s", redact_url(url), exc, pause)
        await anyio.sleep(pause)
        pause = min(pause * 2, 30.0)
        await on_change("")
        if on_outbox is not None:
            on_outbox()


async def _catch_up_app_events(
    conn: psycopg.AsyncConnection[Any], seen: list[int], missed: Callable[[set[str]], None]
) -> None:
    """After (re)connecting, listening already: announce the apps whose events were recorded since the previous
    connection started listening (their notices may have gone unheard), and note the newest id for next time.
    Announcing one twice is harmless (a client reads the resource again); missing one is not."""
    if seen:
        cursor = await conn.execute("SELECT slug, max(id) FROM app_events WHERE id > %s GROUP BY slug", [seen[0]])
        rows = await cursor.fetchall()
        if rows:
            log.info("announcing events of %d app(s) recorded while this replica was not listening", len(rows))
            missed({str(slug) for slug, _ in rows})
        newest = max([seen[0], *(int(last) for _, last in rows)])
    else:
        cursor = await conn.execute("SELECT coalesce(max(id), 0) FROM app_events")
        row = await cursor.fetchone()
        newest = int(row[0]) if row is not None else 0
    seen[:] = [newest]
