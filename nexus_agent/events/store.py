"""The outbox table, synchronously: what :class:`~nexus_agent.events.Outbox` runs in a worker thread.

Every method is one transaction (``write()`` commits before it returns). A claim
is one ``BEGIN IMMEDIATE`` transaction, so two dispatchers, in one process or
many, never lease the same row. Failures back off by the :class:`RetryPolicy`.
"""

from __future__ import annotations

import builtins
import json
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlite_utils
from pydantic import ValidationError

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
from nexus_agent.wire.errors import Conflict, InvalidInput, NotFound
from nexus_agent.wire.secret_guard import KnownSecrets, ensure_no_secrets, redact

__all__ = ["DeliveryOutcome", "OutboxStore"]

_COLUMNS = (
    "id, delivery_id, event, target, url, payload, status, attempts, next_attempt_at, last_error, "
    "last_status, created_at, delivered_at, lease_owner, lease_expires_at"
)
_MAX_ERROR = 500
_SCAN_LIMIT = 5000  # rows a claim looks at before giving up on finding one it may take


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What happened to one claimed row. ``delivered`` wins; otherwise ``error`` says why (never a secret)."""

    entry: OutboxEntry
    delivered: bool
    error: str | None = None
    status_code: int | None = None
    permanent: bool = False
    retry_after_s: float | None = None
    sent: bool = True  # False: not sent at all (no secret); it does not count against the target's circuit


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _entry(row: Sequence[Any]) -> OutboxEntry:
    (id_, delivery_id, event, target, url, payload, status, attempts, next_at, last_error, last_status,
     created, delivered, owner, lease) = row  # fmt: skip
    return OutboxEntry(
        id=id_,
        delivery_id=delivery_id,
        event=event,
        target=target,
        url=url,
        data=json.loads(payload),
        status=OutboxStatus(status),
        attempts=attempts,
        next_attempt_at=_dt(next_at),
        last_error=last_error,
        last_status=last_status,
        created_at=_dt(created),
        delivered_at=_dt(delivered),
        lease_owner=owner,
        lease_expires_at=_dt(lease),
    )


def _chunks(ids: Sequence[int], size: int = 500) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _error_text(error: str) -> str:
    text = redact(" ".join(error[: _MAX_ERROR * 4].split()))
    return text if len(text) <= _MAX_ERROR else text[: _MAX_ERROR - 3] + "..."


def _lease(db: Any, taken: Sequence[OutboxEntry], owner: str, expires: float) -> list[OutboxEntry]:
    """Mark ``taken`` in flight for ``owner`` until ``expires``, inside the claim's write transaction.

    A row whose earlier lease expired says so in its ``last_error``. Both engines' claims end here.
    """
    for ids in _chunks([e.id for e in taken]):
        db.execute(
            "UPDATE outbox SET status = 'in_flight', lease_owner = ?, lease_expires_at = ? "
            f"WHERE id IN ({', '.join('?' * len(ids))})",
            [owner, expires, *ids],
        )
    for entry in taken:
        if entry.status is OutboxStatus.in_flight:
            note = f"the lease of {entry.lease_owner} expired before it reported; sending again"
            db.execute("UPDATE outbox SET last_error = ? WHERE id = ?", [_error_text(note), entry.id])
    update = {"status": OutboxStatus.in_flight, "lease_owner": owner, "lease_expires_at": _dt(expires)}
    return [e.model_copy(update=update) for e in taken]


class OutboxStore:
    """The outbox table in a Nexus database (apply ``EVENTS_MIGRATIONS`` first). Blocking; thread-safe.

    ``clock`` gives unix seconds; ``rng`` draws the backoff jitter.
    """

    def __init__(
        self,
        database: Database,
        *,
        clock: Callable[[], float] = time.time,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        max_payload_bytes: int = 256 * 1024,
        known_secrets: KnownSecrets | None = None,
    ) -> None:
        self._db = database
        self._clock = clock
        self.policy = policy or RetryPolicy()
        self._rng = rng or random.Random()
        self.max_payload_bytes = max_payload_bytes
        #: Configured secret values no queued event may carry to a satellite.
        self.known_secrets = known_secrets

    def _prepare(self, raw: EnqueueItem | Mapping[str, Any]) -> tuple[EnqueueItem, str]:
        try:
            item = raw if isinstance(raw, EnqueueItem) else EnqueueItem.model_validate(dict(raw))
        except ValidationError as exc:
            raise InvalidInput.from_validation(exc, "the event to queue") from None
        where = f"event {item.event} for {item.target}"
        ensure_no_secrets(item.data, f"{where}: data", "queue", known=self.known_secrets)
        ensure_no_secrets(item.url, f"{where}: url", "queue", known=self.known_secrets)
        try:
            payload = json.dumps(item.data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"the data of {where} is not JSON: {exc}", hint="Send plain JSON values.") from None
        if len(payload.encode("utf-8")) > self.max_payload_bytes:
            raise InvalidInput(
                f"the data of {where} is larger than {self.max_payload_bytes} bytes",
                hint="Send a reference (an id or a URL) instead of the whole document.",
            )
        return item, payload

    def enqueue_many(self, items: Sequence[EnqueueItem | Mapping[str, Any]]) -> builtins.list[OutboxEntry]:
        prepared = [self._prepare(raw) for raw in items]  # every check before the first write
        now = self._clock()
        out: builtins.list[OutboxEntry] = []
        with self._db.write() as db:
            for item, payload in prepared:
                delivery_id = item.delivery_id or uuid.uuid4().hex
                cursor = db.execute(
                    "INSERT INTO outbox (delivery_id, event, target, url, payload, next_attempt_at, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (delivery_id) DO NOTHING",
                    [delivery_id, item.event, item.target, item.url, payload, now, now],
                )
                if cursor.rowcount == 1:
                    out.append(self._require(db, cursor.lastrowid))
                    continue
                existing = self._require(db, delivery_id)
                if (existing.event, existing.target, existing.url, existing.data) != (
                    item.event, item.target, item.url, json.loads(payload),
                ):  # fmt: skip
                    raise Conflict(
                        f"delivery id {delivery_id} is already queued for a different event",
                        hint="Use a new delivery id (or none) for a different event.",
                    )
                out.append(existing)
        return out

    def claim(
        self,
        limit: int,
        lease_s: float,
        *,
        owner: str,
        target_limits: Mapping[str, int] | None = None,
        default_target_limit: int | None = None,
    ) -> builtins.list[OutboxEntry]:
        """Lease up to ``limit`` due rows to ``owner`` for ``lease_s`` seconds, oldest due first.

        ``target_limits`` caps how many rows of a target this claim may take (0: none);
        ``default_target_limit`` caps the others.
        """
        if limit <= 0:
            return []
        limits = dict(target_limits or {})
        blocked = sorted(t for t, n in limits.items() if n <= 0)
        skip = f" AND target NOT IN ({', '.join('?' * len(blocked))})" if blocked else ""
        now = self._clock()
        taken: builtins.list[OutboxEntry] = []
        with self._db.write() as db:
            queries = [  # expired leases first: their rows have waited longest
                f"SELECT {_COLUMNS} FROM outbox WHERE status = 'in_flight' AND lease_expires_at <= ?{skip} "
                "ORDER BY lease_expires_at, id",
                f"SELECT {_COLUMNS} FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?{skip} "
                "ORDER BY next_attempt_at, id",
            ]
            for sql in queries:
                cursor = db.execute(f"{sql} LIMIT ?", [now, *blocked, _SCAN_LIMIT])
                try:
                    for row in cursor:  # lazily: stop reading once the claim is full
                        if len(taken) >= limit:
                            break
                        room = limits.get(row[3], default_target_limit)
                        if room is not None and room <= 0:
                            continue
                        if room is not None:
                            limits[row[3]] = room - 1
                        taken.append(_entry(row))
                finally:
                    cursor.close()
            return _lease(db, taken, owner, now + lease_s)

    def complete(self, outcomes: Sequence[DeliveryOutcome], *, owner: str) -> builtins.list[OutboxStatus]:
        """Record outcomes in one transaction; returns each row's new status.

        A delivery is recorded whoever holds the row; a failure only while ``owner`` still holds it
        (otherwise another dispatcher took it over and its outcome counts).
        """
        now = self._clock()
        statuses: dict[int, OutboxStatus] = {}
        with self._db.write() as db:
            delivered: dict[int | None, builtins.list[int]] = {}
            for outcome in outcomes:
                if outcome.delivered:  # the common case, in one statement per answer code
                    delivered.setdefault(outcome.status_code, []).append(outcome.entry.id)
                    statuses[outcome.entry.id] = OutboxStatus.delivered
            for code, all_ids in delivered.items():
                for ids in _chunks(all_ids):
                    db.execute(
                        "UPDATE outbox SET status = 'delivered', attempts = attempts + 1, delivered_at = ?, "
                        "last_status = ?, last_error = NULL, lease_owner = NULL, lease_expires_at = NULL "
                        f"WHERE id IN ({', '.join('?' * len(ids))}) AND status != 'delivered'",
                        [now, code, *ids],
                    )
            for outcome in outcomes:
                if not outcome.delivered and outcome.entry.id not in statuses:
                    statuses[outcome.entry.id] = self._fail_one(db, outcome, owner, now)
        return [statuses[o.entry.id] for o in outcomes]

    def _fail_one(self, db: sqlite_utils.Database, outcome: DeliveryOutcome, owner: str, now: float) -> OutboxStatus:
        row = db.execute("SELECT status, attempts, lease_owner FROM outbox WHERE id = ?", [outcome.entry.id]).fetchone()
        if row is None:
            return OutboxStatus.dead  # purged meanwhile: nothing to record
        status, attempts, lease_owner = OutboxStatus(row[0]), row[1], row[2]
        if status is not OutboxStatus.in_flight or lease_owner != owner:
            return status
        attempts += 1
        error = _error_text(outcome.error or "delivery failed")
        if outcome.permanent or attempts >= self.policy.max_attempts:
            why = "permanent failure" if outcome.permanent else f"gave up after {attempts} attempts"
            db.execute(
                "UPDATE outbox SET status = 'dead', attempts = ?, last_error = ?, last_status = ?, "
                "lease_owner = NULL, lease_expires_at = NULL WHERE id = ?",
                [attempts, _error_text(f"{why}: {error}"), outcome.status_code, outcome.entry.id],
            )
            return OutboxStatus.dead
        delay = self.policy.delay_s(attempts, self._rng)
        if outcome.retry_after_s is not None:
            delay = max(delay, min(outcome.retry_after_s, self.policy.cap_s))
        db.execute(
            "UPDATE outbox SET status = 'pending', attempts = ?, next_attempt_at = ?, last_error = ?, "
            "last_status = ?, lease_owner = NULL, lease_expires_at = NULL WHERE id = ?",
            [attempts, now + delay, error, outcome.status_code, outcome.entry.id],
        )
        return OutboxStatus.pending

    def release(self, owner: str) -> int:
        """Give back every row ``owner`` holds (a dispatcher shutting down), due now."""
        with self._db.write() as db:
            cursor = db.execute(
                "UPDATE outbox SET status = 'pending', next_attempt_at = ?, lease_owner = NULL, "
                "lease_expires_at = NULL WHERE status = 'in_flight' AND lease_owner = ?",
                [self._clock(), owner],
            )
            return cursor.rowcount

    def list(
        self, status: OutboxStatus | str | None = None, limit: int = 50, offset: int = 0, *, target: str | None = None
    ) -> OutboxPage:
        try:
            wanted = OutboxStatus(status) if status else None
        except ValueError:
            choices = ", ".join(s.value for s in OutboxStatus)
            raise InvalidInput(f"{status!r} is not an outbox status", hint=f"Use one of: {choices}.") from None
        if not 1 <= limit <= 1000 or offset < 0:
            raise InvalidInput("limit must be 1..1000 and offset at least 0")
        where, params = [], []
        if wanted:
            where.append("status = ?")
            params.append(wanted.value)
        if target:
            where.append("target = ?")
            params.append(target)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self._db.read() as db:
            total = db.execute(f"SELECT count(*) FROM outbox{clause}", params).fetchone()[0]
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM outbox{clause} ORDER BY id DESC LIMIT ? OFFSET ?", [*params, limit, offset]
            ).fetchall()
        return OutboxPage(items=[_entry(r) for r in rows], total=total, limit=limit, offset=offset, status=wanted)

    def get(self, key: int | str) -> OutboxEntry:
        with self._db.read() as db:
            return self._require(db, key)

    def _require(self, db: sqlite_utils.Database, key: int | str | None) -> OutboxEntry:
        by_id = isinstance(key, int) or (isinstance(key, str) and key.isdigit() and len(key) < 18)
        column = "id" if by_id else "delivery_id"
        value = int(str(key)) if by_id else key
        row = db.execute(f"SELECT {_COLUMNS} FROM outbox WHERE {column} = ?", [value]).fetchone()
        if row is None:
            raise NotFound(f"there is no event {key} in the outbox", hint="List them with `nexus events list`.")
        return _entry(row)

    def replay(self, ids: Sequence[int] = (), *, all_dead: bool = False) -> ReplayResult:
        """Queue dead (or waiting) rows again with a fresh attempt count; delivered and in-flight rows are kept."""
        if not ids and not all_dead:
            raise InvalidInput("say which events to replay", hint="Give event ids, or all_dead=True (--all-dead).")
        result = ReplayResult()
        now = self._clock()
        reset = (
            "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?, lease_owner = NULL, "
            "lease_expires_at = NULL"
        )
        with self._db.write() as db:
            if all_dead:
                rows = db.execute(f"{reset} WHERE status = 'dead' RETURNING id", [now]).fetchall()
                result.replayed.extend(sorted(r[0] for r in rows))
            for id_ in ids:
                row = db.execute("SELECT status FROM outbox WHERE id = ?", [id_]).fetchone()
                if row is None:
                    result.skipped[id_] = "there is no such event"
                elif row[0] in {"dead", "pending"}:
                    db.execute(f"{reset} WHERE id = ?", [now, id_])
                    if id_ not in result.replayed:
                        result.replayed.append(id_)
                elif row[0] == "delivered":
                    result.skipped[id_] = "it was delivered (its receiver would ignore the same delivery id again)"
                else:
                    result.skipped[id_] = "it is being delivered right now"
        return result

    def stats(self) -> OutboxStats:
        with self._db.read() as db:
            counts = dict(db.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall())
            oldest = db.execute(
                "SELECT min(created_at) FROM outbox WHERE status IN ('pending', 'in_flight')"
            ).fetchone()[0]
            by_target: dict[str, dict[str, int]] = {}
            for target, status, n in db.execute(
                "SELECT target, status, count(*) FROM outbox WHERE status != 'delivered' GROUP BY target, status"
            ):
                by_target.setdefault(target, {})[status] = n
        return OutboxStats(**counts, oldest_undelivered_at=_dt(oldest), by_target=by_target)

    def next_due(self, exclude_targets: Sequence[str] = ()) -> float | None:
        """When the next row becomes claimable (unix seconds), ignoring ``exclude_targets``; None if never."""
        skip = f" AND target NOT IN ({', '.join('?' * len(exclude_targets))})" if exclude_targets else ""
        with self._db.read() as db:
            pending = db.execute(
                f"SELECT min(next_attempt_at) FROM outbox WHERE status = 'pending'{skip}", list(exclude_targets)
            ).fetchone()[0]
            leased = db.execute(
                f"SELECT min(lease_expires_at) FROM outbox WHERE status = 'in_flight'{skip}", list(exclude_targets)
            ).fetchone()[0]
        times = [t for t in (pending, leased) if t is not None]
        return min(times) if times else None

    def purge_delivered(self, older_than_s: float) -> int:
        """Delete rows delivered more than ``older_than_s`` seconds ago; returns how many."""
        with self._db.write() as db:
            cursor = db.execute(
                "DELETE FROM outbox WHERE status = 'delivered' AND delivered_at < ?", [self._clock() - older_than_s]
            )
            return cursor.rowcount
