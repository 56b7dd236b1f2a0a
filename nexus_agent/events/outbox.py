"""The outbox: every outgoing webhook is a row in the Nexus database before it is sent.

``enqueue`` commits the row before it returns, so an event a caller was told is
queued survives a crash. A dispatcher ``claim``\\ s due rows under a lease (one
``BEGIN IMMEDIATE`` transaction, so two dispatchers, in one process or many,
never hold the same row) and reports each outcome through ``complete``. A
dispatcher that dies leaves its rows ``in_flight`` until the lease expires, then
any dispatcher claims them again: that is how a killed Nexus resumes. A resend
reuses the row's delivery id, so a receiver that already processed it answers
409 ("already processed") and the row counts as delivered.

Rows that keep failing back off exponentially with jitter (:class:`RetryPolicy`)
and become ``dead`` after ``max_attempts``, or at once on a permanent failure;
``replay`` queues dead rows again. Webhook secrets are never stored here: the
data of every event passes the secret guard before it is written.

    pending --claim--> in_flight --2xx / 409--> delivered
       ^                   |  \\--permanent 4xx, or the last attempt--> dead --replay--> pending
       +---retry later-----+
       +---lease expired (its dispatcher died): claimable again
"""

from __future__ import annotations

import builtins
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from memory.database import Database
from nexus_agent.events.models import (
    EnqueueItem,
    OutboxEntry,
    OutboxPage,
    OutboxStats,
    OutboxStatus,
    ReplayResult,
    RetryPolicy,
)
from nexus_agent.events.schema import EVENTS_MIGRATIONS
from nexus_agent.events.store import DeliveryOutcome, OutboxStore
from nexus_agent.wire.models import AppRecord
from nexus_agent.wire.secret_guard import KnownSecrets

if TYPE_CHECKING:  # PostgreSQL (psycopg) loads only when NEXUS_DATABASE_URL is set
    from memory.pg.database import PgDatabase

__all__ = ["EVENTS_MIGRATIONS", "DeliveryOutcome", "Outbox", "subscribes"]


def subscribes(record: AppRecord, event: str) -> bool:
    """Whether ``record`` wants ``event``: an exact name, ``prefix.*`` or ``*`` in its ``subscribes_to``."""
    for pattern in record.subscribes_to:
        if pattern in {event, "*"} or (pattern.endswith(".*") and event.startswith(pattern[:-1])):
            return True
    return False


class Outbox:
    """The outbox in the Nexus database (apply :data:`EVENTS_MIGRATIONS` first).

    Each method runs one :class:`OutboxStore` transaction in a worker thread; writes are committed on
    return. ``store`` is the same thing, blocking, for synchronous callers. On PostgreSQL (shared by
    replicas) pass the PostgreSQL database and ``store_type=PgOutboxStore``
    (``nexus_agent.events._pg_store``; apply ``EVENTS_PG_MIGRATIONS`` there).
    """

    def __init__(
        self,
        database: Database | PgDatabase,
        *,
        store_type: type[OutboxStore] = OutboxStore,
        clock: Callable[[], float] = time.time,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        max_payload_bytes: int = 256 * 1024,
        known_secrets: KnownSecrets | None = None,
    ) -> None:
        self._db = database
        self.store = store_type(
            database,  # type: ignore[arg-type]  # PgOutboxStore takes the PostgreSQL database
            clock=clock,
            policy=policy,
            rng=rng,
            max_payload_bytes=max_payload_bytes,
            known_secrets=known_secrets,  # configured secret values no event may carry
        )
        self._listeners: list[Callable[[], None]] = []

    @property
    def policy(self) -> RetryPolicy:
        return self.store.policy

    # -- wake-ups: a dispatcher in this process is told at once; others find rows on their idle wait
    def subscribe(self, wake: Callable[[], None]) -> Callable[[], None]:
        """Call ``wake()`` (on the event loop) whenever rows become due here; returns the unsubscribe function."""
        self._listeners.append(wake)

        def unsubscribe() -> None:
            if wake in self._listeners:
                self._listeners.remove(wake)

        return unsubscribe

    def _notify(self) -> None:
        for wake in list(self._listeners):
            wake()

    def wake(self) -> None:
        """Tell this process's dispatchers that rows became due elsewhere (another replica, on PostgreSQL)."""
        self._notify()

    # -- queueing -------------------------------------------------------------------------
    async def enqueue(
        self,
        event: str,
        target: str,
        url: str,
        data: Mapping[str, Any] | None = None,
        *,
        delivery_id: str | None = None,
    ) -> OutboxEntry:
        """Store one event for one target, committed before this returns.

        Give ``delivery_id`` to make it idempotent: the same id and event again returns the stored row.
        Raises ``InvalidInput`` for a bad event name, slug, URL or data, and ``SecretLeakRefused`` when
        the data or URL holds a secret.
        """
        item = {"event": event, "target": target, "url": url, "data": dict(data or {}), "delivery_id": delivery_id}
        (entry,) = await self.enqueue_many([item])
        return entry

    async def enqueue_many(self, items: Iterable[EnqueueItem | Mapping[str, Any]]) -> builtins.list[OutboxEntry]:
        """Store many events in one transaction: all of them or, on any invalid one, none."""
        entries = await self._db.run(self.store.enqueue_many, list(items))
        self._notify()
        return entries

    async def publish(
        self, event: str, data: Mapping[str, Any], apps: Iterable[AppRecord], *, key: str | None = None
    ) -> builtins.list[OutboxEntry]:
        """Queue ``event`` for every live app with a webhook URL that subscribes to it (see :func:`subscribes`).

        With ``key`` the delivery ids are ``<key>.<slug>``, so publishing the same thing twice queues it once.
        """
        items = [
            {
                "event": event,
                "target": app.slug,
                "url": str(app.endpoints.webhook_url),
                "data": dict(data),
                "delivery_id": f"{key}.{app.slug}" if key else None,
            }
            for app in apps
            if app.status.is_live and app.endpoints.webhook_url is not None and subscribes(app, event)
        ]
        return await self.enqueue_many(items) if items else []

    # -- what a dispatcher calls ------------------------------------------------------------
    async def claim(
        self,
        limit: int,
        lease_s: float,
        *,
        owner: str,
        target_limits: Mapping[str, int] | None = None,
        default_target_limit: int | None = None,
    ) -> builtins.list[OutboxEntry]:
        """Lease up to ``limit`` due rows (and rows whose lease expired) to ``owner`` for ``lease_s`` seconds."""
        return await self._db.run(
            self.store.claim,
            limit,
            lease_s,
            owner=owner,
            target_limits=target_limits,
            default_target_limit=default_target_limit,
        )

    async def complete(self, outcomes: Sequence[DeliveryOutcome], *, owner: str) -> builtins.list[OutboxStatus]:
        """Record many outcomes in one transaction; returns each row's new status."""
        return await self._db.run(self.store.complete, outcomes, owner=owner)

    async def mark_delivered(self, entry: OutboxEntry, *, owner: str, status_code: int | None = None) -> None:
        await self.complete([DeliveryOutcome(entry, True, status_code=status_code)], owner=owner)

    async def mark_failed(
        self,
        entry: OutboxEntry,
        error: str,
        *,
        owner: str,
        status_code: int | None = None,
        permanent: bool = False,
        retry_after_s: float | None = None,
    ) -> OutboxStatus:
        """One more failed attempt: back to ``pending`` after a backoff, or ``dead`` (permanent, or the last one)."""
        outcome = DeliveryOutcome(entry, False, error, status_code, permanent, retry_after_s)
        (status,) = await self.complete([outcome], owner=owner)
        return status

    async def release(self, owner: str) -> int:
        """Give back every row ``owner`` holds, due at once (a dispatcher stopping cleanly)."""
        released = await self._db.run(self.store.release, owner)
        if released:
            self._notify()
        return released

    async def next_due(self, exclude_targets: Iterable[str] = ()) -> float | None:
        """Unix time at which the next row becomes claimable (ignoring ``exclude_targets``), or None."""
        return await self._db.run(self.store.next_due, builtins.list(exclude_targets))

    # -- what the CLI calls -----------------------------------------------------------------
    async def list(
        self, status: OutboxStatus | str | None = None, limit: int = 50, offset: int = 0, *, target: str | None = None
    ) -> OutboxPage:
        """A page of rows, newest first, optionally of one status and one target."""
        return await self._db.run(self.store.list, status, limit, offset, target=target)

    async def get(self, key: int | str) -> OutboxEntry:
        """One row by id (``42``, ``"42"``) or delivery id; ``NotFound`` otherwise."""
        return await self._db.run(self.store.get, key)

    async def replay(self, ids: Iterable[int] = (), *, all_dead: bool = False) -> ReplayResult:
        """Queue dead (or waiting) rows again with a fresh attempt count and the same delivery id."""
        result = await self._db.run(self.store.replay, builtins.list(ids), all_dead=all_dead)
        if result.replayed:
            self._notify()
        return result

    async def stats(self) -> OutboxStats:
        return await self._db.run(self.store.stats)

    async def purge_delivered(self, older_than_s: float) -> int:
        """Delete rows delivered more than ``older_than_s`` seconds ago; returns how many."""
        return await self._db.run(self.store.purge_delivered, older_than_s)
