"""The events tables on PostgreSQL: :class:`PgOutboxStore`, leasing rows with ``FOR UPDATE SKIP LOCKED``.

Everything but the claim is :class:`~nexus_agent.events.store.OutboxStore`'s (the same
statements, through :class:`~memory.pg.database.PgDatabase`). A claim locks the due rows it
takes and skips rows another dispatcher has locked at that moment, so several dispatchers on
several replicas lease disjoint rows and each event goes out once per lease, without one
waiting for another. Expired leases are taken over as on SQLite.

:data:`EVENTS_PG_MIGRATIONS` (set ``nexus-events``, as on SQLite) also creates
``github_deliveries`` and ``app_events``: :class:`~nexus_agent.events.GitHubDeliveries` and
:class:`~nexus_agent.events.AppEventStore` run their plain SQL on either engine, so a redelivered
GitHub or legacy-app event is refused by whichever replica it reaches. With
``NEXUS_DATABASE_URL`` ``nexus_agent.services_pg`` wires all three::

    database.migrate([EVENTS_PG_MIGRATIONS])
    outbox = Outbox(database, store_type=PgOutboxStore)
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import Any

from memory.pg.database import PgDatabase, PgMigrations
from nexus_agent.events.models import EnqueueItem, OutboxEntry, ReplayResult
from nexus_agent.events.store import _COLUMNS, OutboxStore, _entry, _lease

__all__ = ["EVENTS_PG_MIGRATIONS", "OUTBOX_CHANNEL", "PgOutboxStore"]

#: ``NOTIFY``'d after rows become due (queued, replayed, given back), so every replica's dispatcher looks at
#: once (``nexus_agent.services_pg.follow_registry(..., on_outbox=outbox.wake)``) instead of at its next poll.
OUTBOX_CHANNEL = "nexus_outbox"

EVENTS_PG_MIGRATIONS = PgMigrations("nexus-events")
EVENTS_PG_MIGRATIONS.add(
    "0001_outbox",
    """CREATE TABLE outbox (
        id BIGSERIAL PRIMARY KEY, delivery_id TEXT NOT NULL UNIQUE, event TEXT NOT NULL, target TEXT NOT NULL,
        url TEXT NOT NULL, payload TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'in_flight', 'delivered', 'dead')),
        attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at DOUBLE PRECISION NOT NULL, last_error TEXT,
        last_status INTEGER, created_at DOUBLE PRECISION NOT NULL, delivered_at DOUBLE PRECISION,
        lease_owner TEXT, lease_expires_at DOUBLE PRECISION)""",
    "CREATE INDEX outbox_due ON outbox (status, next_attempt_at, id)",
    "CREATE INDEX outbox_lease ON outbox (status, lease_expires_at)",
    "CREATE INDEX outbox_target ON outbox (target, status)",
)
EVENTS_PG_MIGRATIONS.add(
    "0002_github_deliveries",
    "CREATE TABLE github_deliveries (delivery_id TEXT PRIMARY KEY, event TEXT NOT NULL, action TEXT, "
    "repository TEXT, received_at DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX github_deliveries_received ON github_deliveries (received_at)",
)
EVENTS_PG_MIGRATIONS.add(
    "0003_app_events",
    """CREATE TABLE app_events (
        id BIGSERIAL PRIMARY KEY, slug TEXT NOT NULL, delivery_id TEXT NOT NULL, event TEXT NOT NULL,
        signed_at BIGINT NOT NULL, received_at DOUBLE PRECISION NOT NULL, data TEXT NOT NULL,
        outcome TEXT NOT NULL DEFAULT '', UNIQUE (slug, delivery_id))""",
    "CREATE INDEX app_events_slug ON app_events (slug, id)",
)

_SCAN_LIMIT = 500  # rows one claim locks at most before applying per-target limits


class PgOutboxStore(OutboxStore):
    """:class:`OutboxStore` on PostgreSQL; apply :data:`EVENTS_PG_MIGRATIONS` first."""

    def __init__(self, database: PgDatabase, **options: object) -> None:
        super().__init__(database, **options)  # type: ignore[arg-type]

    def _announce(self) -> None:
        with self._db.write() as db:
            db.execute(f"NOTIFY {OUTBOX_CHANNEL}")

    def enqueue_many(self, items: Sequence[EnqueueItem | Mapping[str, Any]]) -> builtins.list[OutboxEntry]:
        entries = super().enqueue_many(items)
        if entries:
            self._announce()
        return entries

    def replay(self, ids: Sequence[int] = (), *, all_dead: bool = False) -> ReplayResult:
        result = super().replay(ids, all_dead=all_dead)
        if result.replayed:
            self._announce()
        return result

    def release(self, owner: str) -> int:
        released = super().release(owner)
        if released:  # a replica stopping cleanly: the others send its rows now
            self._announce()
        return released

    def claim(
        self,
        limit: int,
        lease_s: float,
        *,
        owner: str,
        target_limits: Mapping[str, int] | None = None,
        default_target_limit: int | None = None,
    ) -> builtins.list[OutboxEntry]:
        """Lease up to ``limit`` due rows to ``owner``; rows locked by another dispatcher are skipped."""
        if limit <= 0:
            return []
        limits = dict(target_limits or {})
        blocked = sorted(t for t, n in limits.items() if n <= 0)
        skip = f" AND target NOT IN ({', '.join('?' * len(blocked))})" if blocked else ""
        now = self._clock()
        taken: builtins.list[OutboxEntry] = []
        with self._db.write() as db:
            rows = db.execute(  # expired leases first (they waited longest), then due rows, oldest first
                f"SELECT {_COLUMNS} FROM outbox WHERE ((status = 'in_flight' AND lease_expires_at <= ?) "
                f"OR (status = 'pending' AND next_attempt_at <= ?)){skip} "
                "ORDER BY CASE status WHEN 'in_flight' THEN lease_expires_at ELSE next_attempt_at END, id "
                "LIMIT ? FOR UPDATE SKIP LOCKED",
                [now, now, *blocked, max(limit, _SCAN_LIMIT)],
            ).fetchall()
            for row in rows:
                if len(taken) >= limit:
                    break
                room = limits.get(row[3], default_target_limit)
                if room is not None and room <= 0:
                    continue
                if room is not None:
                    limits[row[3]] = room - 1
                taken.append(_entry(row))
            return _lease(db, taken, owner, now + lease_s)
