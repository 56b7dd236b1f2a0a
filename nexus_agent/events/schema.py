"""The events schema, as named sqlite-utils migrations (set ``nexus-events``).

``outbox`` holds every outgoing delivery from enqueue to delivered or dead; the
``payload`` column is the envelope's ``data`` (JSON), checked by the secret
guard before it is stored. Webhook secrets are never stored: the dispatcher
resolves them when it signs. ``github_deliveries`` remembers the
``X-GitHub-Delivery`` ids already accepted, so a redelivery is not handled twice;
``app_events`` keeps the events legacy apps post (and refuses a replayed delivery id).

Times are unix seconds (REAL). Applied migrations are never edited; a schema
change is a new, later migration.
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.migrations import Migrations

__all__ = ["EVENTS_MIGRATIONS"]

EVENTS_MIGRATIONS = Migrations("nexus-events")

_STATUSES = "'pending', 'in_flight', 'delivered', 'dead'"


@EVENTS_MIGRATIONS(name="0001_outbox")
def _outbox(db: sqlite_utils.Database) -> None:
    db.execute(
        f"""CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            delivery_id TEXT NOT NULL UNIQUE,
            event TEXT NOT NULL,
            target TEXT NOT NULL,
            url TEXT NOT NULL,
            payload TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ({_STATUSES})),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL,
            last_error TEXT,
            last_status INTEGER,
            created_at REAL NOT NULL,
            delivered_at REAL,
            lease_owner TEXT,
            lease_expires_at REAL
        )"""
    )
    # Claims scan due pending rows by time, and expired leases; listings go by status, newest first.
    db.execute("CREATE INDEX outbox_due ON outbox (status, next_attempt_at, id)")
    db.execute("CREATE INDEX outbox_lease ON outbox (status, lease_expires_at)")
    db.execute("CREATE INDEX outbox_target ON outbox (target, status)")


@EVENTS_MIGRATIONS(name="0002_github_deliveries")
def _github_deliveries(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE github_deliveries (
            delivery_id TEXT PRIMARY KEY,
            event TEXT NOT NULL,
            action TEXT,
            repository TEXT,
            received_at REAL NOT NULL
        )"""
    )
    db.execute("CREATE INDEX github_deliveries_received ON github_deliveries (received_at)")


@EVENTS_MIGRATIONS(name="0003_app_events")
def _app_events(db: sqlite_utils.Database) -> None:
    # Events legacy apps post to /api/webhooks/apps/<slug>; (slug, delivery_id) is also the replay guard.
    db.execute(
        """CREATE TABLE app_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            slug TEXT NOT NULL,
            delivery_id TEXT NOT NULL,
            event TEXT NOT NULL,
            signed_at INTEGER NOT NULL,
            received_at REAL NOT NULL,
            data TEXT NOT NULL,
            outcome TEXT NOT NULL DEFAULT '',
            UNIQUE (slug, delivery_id)
        )"""
    )
    db.execute("CREATE INDEX app_events_slug ON app_events (slug, id)")
