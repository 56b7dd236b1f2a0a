"""The dispatcher: claims due outbox rows, signs and sends them, records what happened.

Each row is sent as ``POST <url>`` with the signed :class:`~nexus_agent.wire.signing.WebhookEnvelope`
(``X-Nexus-Signature``, ``X-Nexus-Delivery``, ``X-Nexus-Timestamp``, ``X-Nexus-Event``). The
delivery id is the row's, fixed at enqueue; the timestamp is the moment of signing, so a
retry hours later is still fresh to the receiver. The answer decides the row's fate:

    answer                                   outcome
    2xx                                      delivered
    409                                      delivered (the receiver already processed this delivery id)
    408, 429, 5xx, timeout, network error    retry with backoff (Retry-After is honoured); dead after N
    other 3xx / 4xx, a bad URL               dead at once: resending the same request cannot succeed
    no webhook secret for the target         not sent; retried with backoff like a failure, so setting
                                             the secret and restarting Nexus delivers it (dead after N)

Isolation: at most ``concurrency`` requests run at once, at most ``per_target`` of them to one
target, each bounded by ``timeout_s``; after ``circuit_failures`` consecutive failures a
target's circuit opens and its rows wait (without spending attempts) for a cooldown that
doubles up to ``max_cooldown_s``, then one probe decides. A slow, down or wrong satellite
therefore holds at most ``per_target`` slots and never stalls the others.

Outcomes are written in batches (one transaction for all requests that finished meanwhile).
A row whose outcome was not written when Nexus died is sent again after its lease expires;
the receiver answers 409 and it counts as delivered. Secrets and bodies are never logged.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypedDict

import anyio
import anyio.abc
import httpx

from nexus_agent.events._send import send_signed
from nexus_agent.events.models import DispatchReport, OutboxEntry, OutboxStatus
from nexus_agent.events.outbox import DeliveryOutcome, Outbox
from nexus_agent.wire.errors import NexusError

__all__ = ["Dispatcher", "SecretResolver", "dispatch_timing"]

log = logging.getLogger("nexus.events")

#: ``secrets(target_slug)`` -> the webhook secret, or None; may raise a NexusError saying what is missing.
SecretResolver = Callable[[str], str | None]


class DispatchTiming(TypedDict):
    lease_s: float
    timeout_s: float


def dispatch_timing(lease_s: float) -> DispatchTiming:
    """The dispatcher's lease and send deadline for ``Settings.outbox_lease_s``: a send may take a third of it
    (at most 10 s), so a lease never runs out while its send is still running."""
    return {"lease_s": lease_s, "timeout_s": min(10.0, lease_s / 3)}


@dataclass
class _Circuit:
    failures: int = 0
    open_until: float = 0.0
    cooldown_s: float = 0.0


class Dispatcher:
    """Delivers the outbox. ``run()`` until cancelled (the server), ``dispatch_once()`` / ``drain()`` for one pass."""

    def __init__(
        self,
        outbox: Outbox,
        secrets: SecretResolver,
        http: httpx.AsyncClient,
        *,
        concurrency: int = 16,
        per_target: int = 8,
        timeout_s: float = 10.0,
        lease_s: float = 60.0,
        idle_s: float = 5.0,
        circuit_failures: int = 5,
        circuit_cooldown_s: float = 15.0,
        max_cooldown_s: float = 600.0,
        max_response_bytes: int = 16 * 1024,
        clock: Callable[[], float] = time.time,
        owner: str | None = None,
        user_agent: str = "nexus-outbox",
        on_delivered: Callable[[OutboxEntry], Awaitable[None]] | None = None,
    ) -> None:
        if concurrency < 1 or per_target < 1:
            raise ValueError("concurrency and per_target must be at least 1")
        if lease_s <= timeout_s + 1:
            raise ValueError("lease_s must exceed timeout_s by more than a second, or a slow send could be sent twice")
        self.outbox = outbox
        self._on_delivered = on_delivered
        self._secrets = secrets
        self._http = http
        self.concurrency = concurrency
        self.per_target = min(per_target, concurrency)
        self.timeout_s = timeout_s
        self.lease_s = lease_s
        self.idle_s = idle_s
        self.circuit_failures = circuit_failures
        self.circuit_cooldown_s = circuit_cooldown_s
        self.max_cooldown_s = max_cooldown_s
        self.max_response_bytes = max_response_bytes
        self._clock = clock
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._user_agent = user_agent
        self.totals = DispatchReport()
        self._in_flight: dict[str, int] = {}
        self._circuits: dict[str, _Circuit] = {}
        self._done: list[DeliveryOutcome] = []
        self._wake = anyio.Event()
        self._flush_needed = anyio.Event()
        self._flush_lock = anyio.Lock()
        self._min_batch = max(1, concurrency // 4)
        self._backlog = False  # the last claim may have left due rows behind
        self._saturated: set[str] = set()  # targets whose room the last claim used up

    # -- public ------------------------------------------------------------------------------
    def wake(self) -> None:
        """Look for due rows now (the outbox calls this after an enqueue or a replay in this process)."""
        self._wake.set()

    @property
    def in_flight(self) -> int:
        return sum(self._in_flight.values())

    def open_circuits(self) -> dict[str, float]:
        """Targets whose circuit is open, with the unix time it closes again."""
        now = self._clock()
        return {t: c.open_until for t, c in self._circuits.items() if c.open_until > now}

    async def run(
        self, *, until_empty: bool = False, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Deliver until cancelled (or, with ``until_empty``, until no row is pending or in flight).

        On the way out it writes the outcomes it has and gives back the rows it still holds.
        """
        unsubscribe = self.outbox.subscribe(self.wake)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._flusher)
                task_status.started()
                while True:
                    self._wake = anyio.Event()  # anything from here on wakes the next wait
                    try:
                        if await self._fill(tg) and self._backlog:
                            continue
                        if until_empty and not self.in_flight and not self._backlog:
                            await self._flush()
                            if await self._nothing_left():
                                break
                        await self._idle_wait()
                    except Exception:  # a bug must not stop deliveries for good, nor take the server down
                        log.exception("the event dispatcher hit an unexpected error; continuing")
                        await anyio.sleep(self.idle_s)
                tg.cancel_scope.cancel()
        finally:
            unsubscribe()
            with anyio.CancelScope(shield=True):
                await self._flush()
                try:
                    released = await self.outbox.release(self.owner)
                except NexusError as exc:
                    log.warning("could not give back leased events on shutdown: %s", exc.message)
                else:
                    if released:
                        log.info("gave back %d events that were being sent", released)

    async def dispatch_once(self, limit: int | None = None) -> DispatchReport:
        """Claim what is due now (up to ``limit``, default ``concurrency``), send it, record it; one pass."""
        entries = await self.outbox.claim(
            min(limit or self.concurrency, self.concurrency),
            self.lease_s,
            owner=self.owner,
            target_limits=self._target_limits(),
            default_target_limit=self.per_target,
        )
        sink: list[DeliveryOutcome] = []
        async with anyio.create_task_group() as tg:
            for entry in entries:
                self._started(entry)
                tg.start_soon(self._send_one, entry, sink)
        return await self._record(sink)

    async def drain(self, *, max_passes: int = 10_000) -> DispatchReport:
        """Repeat :meth:`dispatch_once` until a pass finds nothing due (``nexus events dispatch``)."""
        total = DispatchReport()
        for _ in range(max_passes):
            report = await self.dispatch_once()
            if not report.sent and not report.not_sent:
                break
            for field in DispatchReport.model_fields:
                setattr(total, field, getattr(total, field) + getattr(report, field))
        return total

    # -- the loop ------------------------------------------------------------------------------
    async def _fill(self, tg: anyio.abc.TaskGroup) -> int:
        """Claim rows for the free slots; with requests in flight, only once a quarter of the slots is free."""
        free = self.concurrency - self.in_flight
        if free <= 0 or (self.in_flight and free < self._min_batch):
            return 0
        limits = self._target_limits()
        entries = await self._outbox_call(
            self.outbox.claim,
            free,
            self.lease_s,
            owner=self.owner,
            target_limits=limits,
            default_target_limit=self.per_target,
        )
        entries = entries or []
        taken: dict[str, int] = {}
        for entry in entries:
            taken[entry.target] = taken.get(entry.target, 0) + 1
            self._started(entry)
            tg.start_soon(self._send_one, entry, None)
        # More may be due: the claim was full, or a target used up its room (its next completion makes room).
        self._backlog = len(entries) == free
        self._saturated = {t for t, room in limits.items() if room <= taken.get(t, 0)}
        self._saturated |= {t for t, n in taken.items() if t not in limits and n >= self.per_target}
        return len(entries)

    async def _idle_wait(self) -> None:
        now = self._clock()
        timeout = self.idle_s
        if not self._backlog:  # wake for the next row that comes due, or circuit that closes
            limits = self._target_limits()
            due = await self._outbox_call(self.outbox.next_due, [t for t, n in limits.items() if n <= 0])
            if due is not None:
                timeout = min(timeout, due - now)
            reopen = [c.open_until - now for c in self._circuits.values() if c.open_until > now]
            timeout = min([timeout, *reopen])
        with anyio.move_on_after(max(timeout, 0.02)):
            await self._wake.wait()

    async def _flusher(self) -> None:
        while True:
            await self._flush_needed.wait()
            self._flush_needed = anyio.Event()
            try:
                await self._flush()
            except Exception:  # never let bookkeeping stop deliveries; unrecorded rows are resent after their lease
                log.exception("recording delivery outcomes failed")

    async def _flush(self) -> None:
        async with self._flush_lock:
            batch, self._done = self._done, []
            if batch:
                await self._record(batch)

    async def _record(self, outcomes: list[DeliveryOutcome]) -> DispatchReport:
        report = DispatchReport()
        if not outcomes:
            return report
        try:
            statuses = await self.outbox.complete(outcomes, owner=self.owner)
        except NexusError as exc:  # the rows stay leased; after the lease they are sent again (and deduplicated)
            log.warning("could not record %d delivery outcomes: %s", len(outcomes), exc.message)
            return report
        for outcome, status in zip(outcomes, statuses, strict=True):
            entry = outcome.entry
            if outcome.sent:
                report.sent += 1
            else:
                report.not_sent += 1
            if status is OutboxStatus.delivered:
                report.delivered += 1
            elif status is OutboxStatus.dead:
                report.dead += 1
                log.error("event %s (%s) to %s is dead: %s", entry.id, entry.event, entry.target, outcome.error)
            elif not outcome.delivered:
                report.retrying += 1
                log.warning(
                    "event %s (%s) to %s will be retried: %s", entry.id, entry.event, entry.target, outcome.error
                )
        for field in DispatchReport.model_fields:
            setattr(self.totals, field, getattr(self.totals, field) + getattr(report, field))
        if self._on_delivered is not None:
            for outcome, status in zip(outcomes, statuses, strict=True):
                if status is OutboxStatus.delivered:
                    try:
                        await self._on_delivered(outcome.entry)
                    except Exception:  # a follow-up must never stop the dispatcher; the row is delivered
                        log.exception("after delivering event %s", outcome.entry.id)
        return report

    async def _nothing_left(self) -> bool:
        try:
            return await self.outbox.next_due() is None
        except NexusError:
            return False

    async def _outbox_call(self, fn: Callable[..., object], *args: object, **kwargs: object) -> Any:
        try:
            return await fn(*args, **kwargs)  # type: ignore[misc]
        except NexusError as exc:  # a locked or unavailable database: wait and try again
            log.warning("outbox unavailable: %s", exc.message)
            return None

    # -- isolation -----------------------------------------------------------------------------
    def _target_limits(self) -> dict[str, int]:
        now = self._clock()
        limits: dict[str, int] = {}
        for target in set(self._in_flight) | set(self._circuits):
            busy = self._in_flight.get(target, 0)
            circuit = self._circuits.get(target)
            if circuit and circuit.open_until > now:
                limits[target] = 0
            elif circuit and circuit.failures >= self.circuit_failures:  # half-open: one probe at a time
                limits[target] = max(0, 1 - busy)
            else:
                limits[target] = max(0, self.per_target - busy)
        return limits

    def _started(self, entry: OutboxEntry) -> None:
        self._in_flight[entry.target] = self._in_flight.get(entry.target, 0) + 1

    def _finished(self, outcome: DeliveryOutcome) -> None:
        target = outcome.entry.target
        left = self._in_flight.get(target, 1) - 1
        if left > 0:
            self._in_flight[target] = left
        else:
            self._in_flight.pop(target, None)
        if not outcome.sent:
            return
        if outcome.delivered or outcome.permanent:  # the target answered: it is up
            self._circuits.pop(target, None)
            return
        circuit = self._circuits.setdefault(target, _Circuit(cooldown_s=self.circuit_cooldown_s))
        circuit.failures += 1
        now = self._clock()
        if circuit.failures >= self.circuit_failures and circuit.open_until <= now:  # not again while open
            circuit.open_until = now + circuit.cooldown_s
            log.warning("%s failed %d times in a row; pausing its deliveries for %.0f s", target, circuit.failures,
                        circuit.cooldown_s)  # fmt: skip
            circuit.cooldown_s = min(circuit.cooldown_s * 2, self.max_cooldown_s)

    # -- one delivery --------------------------------------------------------------------------
    async def _send_one(self, entry: OutboxEntry, sink: list[DeliveryOutcome] | None) -> None:
        outcome = None
        try:
            outcome = await self._deliver(entry)
        finally:
            if outcome is None:  # cancelled: the row stays leased and is given back or reclaimed
                left = self._in_flight.get(entry.target, 1) - 1
                self._in_flight[entry.target] = left
                if left <= 0:
                    self._in_flight.pop(entry.target, None)
            else:
                self._finished(outcome)
                (self._done if sink is None else sink).append(outcome)  # self._done: the list of the moment
                self._flush_needed.set()
                if self._backlog or entry.target in self._saturated or not self.in_flight:
                    self._wake.set()  # a slot for rows that are waiting, or all quiet: look again

    async def _deliver(self, entry: OutboxEntry) -> DeliveryOutcome:
        try:
            secret = self._secrets(entry.target)
        except NexusError as exc:
            return DeliveryOutcome(entry, False, f"not sent: {exc.message}", sent=False)
        except Exception as exc:
            log.exception("the webhook secret resolver failed for %s", entry.target)
            return DeliveryOutcome(
                entry, False, f"not sent: the secret resolver failed ({type(exc).__name__})", sent=False
            )
        if not secret:
            return DeliveryOutcome(
                entry,
                False,
                f"not sent: no webhook secret is configured for {entry.target} (unsigned events are never sent)",
                sent=False,
            )
        return await send_signed(
            self._http,
            entry,
            secret,
            timestamp=int(self._clock()),
            timeout_s=self.timeout_s,
            max_response_bytes=self.max_response_bytes,
            user_agent=self._user_agent,
            signature_header=self._signature_header(entry.target),
        )

    def _signature_header(self, target: str) -> str | None:
        lookup = getattr(self._secrets, "signature_header", None)  # WebhookSecrets knows legacy apps' headers
        return lookup(target) if callable(lookup) else None
