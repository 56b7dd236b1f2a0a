"""What the outbox stores and reports (no I/O): entries, pages, stats, the retry policy.

Every model has ``to_text()`` for the CLI and dumps to JSON for ``--json`` and MCP.
Times are UTC datetimes; the database keeps them as unix seconds.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nexus_agent.wire.models import SLUG_PATTERN
from nexus_agent.wire.signing import DELIVERY_ID_PATTERN, EVENT_PATTERN

__all__ = [
    "DispatchReport",
    "EnqueueItem",
    "OutboxEntry",
    "OutboxPage",
    "OutboxStats",
    "OutboxStatus",
    "ReplayResult",
    "RetryPolicy",
]


class OutboxStatus(StrEnum):
    """Lifecycle of one outbox row.

    ``pending`` -> ``in_flight`` (leased by one dispatcher) -> ``delivered`` | ``pending`` (retry later) | ``dead``.
    An ``in_flight`` row whose lease expired (its dispatcher died) is claimable again.
    """

    pending = "pending"
    in_flight = "in_flight"
    delivered = "delivered"
    dead = "dead"


class RetryPolicy(BaseModel):
    """Exponential backoff with jitter: after the n-th failed attempt, wait
    ``min(cap_s, base_s * 2**(n-1)) * uniform(jitter_min, jitter_max)``; after ``max_attempts`` the row is dead.

    The defaults retry for about four hours (2 s, 4 s, ... capped at one hour, 15 attempts).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_s: float = Field(2.0, gt=0, le=3600)
    cap_s: float = Field(3600.0, gt=0, le=7 * 86_400)
    max_attempts: int = Field(15, ge=1, le=1000)
    jitter_min: float = Field(0.5, ge=0, le=1)
    jitter_max: float = Field(1.5, ge=1, le=3)

    def delay_s(self, attempts: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after ``attempts`` failed attempts (``attempts >= 1``)."""
        raw = min(self.cap_s, self.base_s * 2 ** min(max(attempts, 1) - 1, 60))
        return raw * (rng or random).uniform(self.jitter_min, self.jitter_max)

    def bounds_s(self, attempts: int) -> tuple[float, float]:
        """The smallest and largest delay :meth:`delay_s` can return after ``attempts`` failures."""
        raw = min(self.cap_s, self.base_s * 2 ** min(max(attempts, 1) - 1, 60))
        return raw * self.jitter_min, raw * self.jitter_max


class EnqueueItem(BaseModel):
    """One event for one target, as given to :meth:`Outbox.enqueue_many`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event: Annotated[str, Field(pattern=EVENT_PATTERN, max_length=200)]
    target: Annotated[str, Field(pattern=SLUG_PATTERN, max_length=64)]
    url: Annotated[str, Field(min_length=8, max_length=2000)]
    data: dict[str, Any] = Field(default_factory=dict)
    delivery_id: Annotated[str, Field(pattern=DELIVERY_ID_PATTERN)] | None = Field(
        None, description="Give one to make the enqueue idempotent; otherwise a random one is made."
    )

    @model_validator(mode="after")
    def _http_url(self) -> EnqueueItem:
        if not self.url.lower().startswith(("http://", "https://")):
            raise ValueError("url must be an http:// or https:// URL")
        return self


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "-"


class OutboxEntry(BaseModel):
    """One stored delivery: an event for one target, its state and its history in brief."""

    model_config = ConfigDict(frozen=True)

    id: int
    delivery_id: str
    event: str
    target: str
    url: str
    data: dict[str, Any]
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None = None
    last_status: int | None = Field(None, description="HTTP status of the last answer, if there was one.")
    created_at: datetime
    delivered_at: datetime | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None

    def summary(self) -> dict[str, Any]:
        """One table row for ``nexus events list``."""
        return {
            "id": self.id,
            "status": self.status.value,
            "event": self.event,
            "target": self.target,
            "attempts": self.attempts,
            "next": _when(self.next_attempt_at) if self.status is OutboxStatus.pending else "",
            "last_error": self.last_error or "",
        }

    def to_text(self) -> str:
        lines = [
            f"#{self.id} {self.event} -> {self.target}  [{self.status.value}]",
            f"  delivery id   {self.delivery_id}",
            f"  url           {self.url}",
            f"  attempts      {self.attempts}",
            f"  created       {_when(self.created_at)}",
        ]
        if self.status is OutboxStatus.pending:
            lines.append(f"  next attempt  {_when(self.next_attempt_at)}")
        if self.delivered_at:
            lines.append(f"  delivered     {_when(self.delivered_at)}")
        if self.status is OutboxStatus.in_flight:
            lines.append(f"  leased by     {self.lease_owner} until {_when(self.lease_expires_at)}")
        if self.last_status is not None:
            lines.append(f"  last answer   HTTP {self.last_status}")
        if self.last_error:
            lines.append(f"  last error    {self.last_error}")
        lines.append(f"  data          {_short_json(self.data)}")
        return "\n".join(lines)


def _short_json(data: dict[str, Any], limit: int = 400) -> str:
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class OutboxPage(BaseModel):
    """One page of :meth:`Outbox.list`, newest first."""

    items: list[OutboxEntry]
    total: int
    limit: int
    offset: int
    status: OutboxStatus | None = None

    def to_text(self) -> str:
        if not self.items:
            return f"no {self.status.value + ' ' if self.status else ''}events in the outbox"
        rows = [item.summary() for item in self.items]
        columns = ["id", "status", "event", "target", "attempts", "next", "last_error"]
        widths = {c: min(60, max(len(c), *(len(str(r[c])) for r in rows))) for c in columns}
        out = ["  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip()]
        for row in rows:
            cells = [_cut(str(row[c]), widths[c]).ljust(widths[c]) for c in columns]
            out.append("  ".join(cells).rstrip())
        shown = f"{self.offset + 1}-{self.offset + len(self.items)} of {self.total}"
        out.append(f"({shown}{'; use --offset for more' if self.offset + len(self.items) < self.total else ''})")
        return "\n".join(out)


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


class OutboxStats(BaseModel):
    """How many rows are in each state, and the oldest undelivered one."""

    pending: int = 0
    in_flight: int = 0
    delivered: int = 0
    dead: int = 0
    oldest_undelivered_at: datetime | None = None
    by_target: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="Undelivered and dead rows per target."
    )

    @property
    def total(self) -> int:
        return self.pending + self.in_flight + self.delivered + self.dead

    def to_text(self) -> str:
        lines = [
            f"pending    {self.pending}",
            f"in flight  {self.in_flight}",
            f"delivered  {self.delivered}",
            f"dead       {self.dead}",
        ]
        if self.oldest_undelivered_at:
            lines.append(f"oldest undelivered event: {_when(self.oldest_undelivered_at)}")
        for target, counts in sorted(self.by_target.items()):
            lines.append(f"  {target}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        if self.dead:
            lines.append("dead letters: `nexus events list --status dead`, then `nexus events replay`")
        return "\n".join(lines)


class ReplayResult(BaseModel):
    """What :meth:`Outbox.replay` put back in the queue, and what it left alone (id -> why)."""

    replayed: list[int] = Field(default_factory=list)
    skipped: dict[int, str] = Field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.replayed)

    def to_text(self) -> str:
        lines = [f"{self.count} event{'s' if self.count != 1 else ''} queued again"]
        lines += [f"  #{i}: not replayed, {why}" for i, why in sorted(self.skipped.items())]
        return "\n".join(lines)


class DispatchReport(BaseModel):
    """What one :meth:`Dispatcher.dispatch_once` pass did."""

    sent: int = 0
    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    not_sent: int = Field(0, description="Claimed but not sent (no secret for the target).")

    def to_text(self) -> str:
        return f"sent {self.sent}: {self.delivered} delivered, {self.retrying} to retry, {self.dead} dead" + (
            f"; {self.not_sent} not sent (no webhook secret)" if self.not_sent else ""
        )
