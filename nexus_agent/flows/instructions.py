"""The orchestration flow: Nexus instructs satellites through the truth source and follows them up.

:class:`InstructionService` writes ``instructions/<slug>/<id>.json`` for each target in one
commit, notifies each target through the injected ``notify`` (a signed webhook through the
event outbox), and later reads the satellites' ``reports/<slug>/<id>.json``. Each instruction
moves ``pending -> delivered -> acknowledged -> completed | failed | expired`` (see
:data:`~nexus_agent.flows._store.TRANSITIONS`); every move is a row of the history table, a
memory note about the app, and an update of the truth file (the satellite's view).

A report that skips steps (the satellite pulled an instruction whose notification failed)
walks the missing ones first, each recorded as implied by the report.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from memory.models import DecisionIn
from nexus_agent.flows._instruction_records import Notify, log
from nexus_agent.flows._instruction_reports import InstructionReports
from nexus_agent.flows._store import steps_to
from nexus_agent.flows.models import (
    Instruction,
    InstructionPage,
    InstructionStatus,
    ReportOutcome,
    render_json,
)
from nexus_agent.wire.errors import Conflict, InvalidInput, NexusError
from nexus_agent.wire.models import AppRecord
from nexus_agent.wire.secret_guard import ensure_no_secrets, redact

__all__ = ["InstructionPage", "InstructionService", "Notify", "ReportOutcome"]

_S = InstructionStatus
MAX_INPUT_BYTES = 64 * 1024
MAX_TARGETS = 50


class InstructionService(InstructionReports):
    """Create, deliver, follow up and list instructions. Apply ``FLOW_MIGRATIONS`` to ``database`` first
    (on the PostgreSQL database replicas share: ``FLOWS_PG_MIGRATIONS``)."""

    # -- creating and delivering ----------------------------------------------------------
    async def create(
        self,
        targets: str | Sequence[str],
        action: str,
        description: str = "",
        *,
        inputs: Mapping[str, Any] | None = None,
        deadline: datetime | None = None,
        actor: str,
        open_issue: bool = False,
    ) -> list[Instruction]:
        """One instruction per target, written in one commit, then each target notified.

        Targets must be registered and not retired; inputs must hold no secret. An instruction
        whose notification fails stays ``pending``; :meth:`redeliver` tries again.
        """
        slugs = list(dict.fromkeys([targets] if isinstance(targets, str) else targets))
        if not 1 <= len(slugs) <= MAX_TARGETS:
            raise InvalidInput(f"give 1..{MAX_TARGETS} target apps", hint="Name each app by its slug.")
        inputs = dict(inputs or {})
        size = len(json.dumps(inputs, default=str).encode())
        if size > MAX_INPUT_BYTES:
            raise InvalidInput(f"the inputs are {size} bytes; at most {MAX_INPUT_BYTES}", hint="Send a reference.")
        ensure_no_secrets({"description": description, "inputs": inputs}, "instruction", "write")
        now = self._clock()
        if deadline is not None and deadline.tzinfo is None:
            deadline = deadline.replace(tzinfo=UTC)
        if deadline is not None and deadline <= now:
            raise InvalidInput("the deadline has already passed", hint="Give a time in the future.")
        apps = [await self._target(slug) for slug in slugs]
        made = [self._new(app.slug, action, description, inputs, deadline, actor, now) for app in apps]
        if open_issue:
            made = [await self._open_issue(ins) for ins in made]
        files = {ins.path: render_json(ins) for ins in made}
        listed = ", ".join(i.target for i in made)
        try:
            commit = await self.truth.write_many(files, f"Instruct {listed}: {action}\n\nRequested by {actor}.")
        except Exception:
            for ins in made:  # issues of instructions that were never written
                await self._close_issue(ins, "was not created: writing its file failed")
            raise
        await self._db.run(self._store.insert, made)
        for ins in made:
            await self.memory.log_decision(
                DecisionIn(
                    decision=f"Instruct {ins.target} to {ins.action} ({ins.id})",
                    rationale=(description or ins.action) + (f"\nDeadline: {deadline.isoformat()}" if deadline else ""),
                    decided_by=actor,
                    apps=[ins.target],
                    tags=["instruction", "pending"],
                )
            )
        by_slug = {app.slug: app for app in apps}
        delivered = await self._deliver(made, by_slug, commit.sha if commit else None, note_failures=True)
        return [delivered.get(ins.id, ins) for ins in made]

    async def redeliver(self, *, actor: str = "nexus") -> list[Instruction]:
        """Notify every instruction still ``pending`` again (its notification failed before).

        A failure now is only logged: the first one was noted in memory when the instruction was created.
        """
        pending = [i for i in await self._db.run(self._store.open) if i.status is _S.pending]
        apps = {}
        for slug in {i.target for i in pending}:
            try:
                apps[slug] = await self.registry.get(slug)
            except NexusError as exc:
                log.warning("cannot redeliver to %s: %s", slug, exc.message)
        delivered = await self._deliver([i for i in pending if i.target in apps], apps, None, note_failures=False)
        return list(delivered.values())

    async def _deliver(
        self, instructions: Sequence[Instruction], apps: Mapping[str, AppRecord], commit: str | None, *,
        note_failures: bool,
    ) -> dict[str, Instruction]:  # fmt: skip
        done: dict[str, Instruction] = {}
        for ins in instructions:
            data = {
                "instruction_id": ins.id,
                "target": ins.target,
                "action": ins.action,
                "path": ins.path,
                "deadline": ins.deadline.isoformat() if ins.deadline else None,
                "commit": commit,
            }
            try:
                delivery_id = await self.notify(self.event, apps[ins.target], data)
            except Exception as exc:  # the outbox is another component: any failure leaves it pending
                detail = redact(exc.message if isinstance(exc, NexusError) else f"{type(exc).__name__}: {exc}")
                log.warning("instruction %s not delivered to %s: %s", ins.id, ins.target, detail)
                if note_failures:
                    text = f"Notification failed: {detail}"
                    await self._note(ins, f"Instruction {ins.id} not delivered yet", text, author="nexus")
                continue
            try:
                updated, steps = await self._move(
                    ins.id,
                    [_S.delivered],
                    by="nexus",
                    reason=f"delivery {delivery_id}",
                    update={"delivery_id": delivery_id},
                    expect=[_S.pending],
                )
            except Conflict:  # a report collected meanwhile already moved it on
                continue
            done[ins.id] = updated
            await self._record(updated, steps)
        await self._publish(list(done.values()), "Instructions delivered")
        return done

    # -- following up ---------------------------------------------------------------------
    async def acknowledge(self, instruction_id: str, by: str, reason: str = "") -> Instruction:
        """The satellite has the instruction in hand. Already acknowledged: nothing changes."""
        current = await self.get(instruction_id)
        if current.status is _S.acknowledged:
            return current
        steps = steps_to(current.status, _S.acknowledged)
        updated, made = await self._move(
            instruction_id, steps, by=by, reason=reason or "acknowledged", expect=[current.status]
        )
        await self._record(updated, made)
        await self._publish([updated], f"Instruction {instruction_id} acknowledged by {by}")
        return updated

    async def expire_overdue(self, now: datetime | None = None, *, actor: str = "nexus") -> list[Instruction]:
        """Expire every open instruction whose deadline is before ``now``."""
        now = now or self._clock()
        expired = []
        for ins in await self._db.run(self._store.overdue, now):
            assert ins.deadline is not None
            try:
                updated, made = await self._move(
                    ins.id,
                    [_S.expired],
                    by=actor,
                    reason=f"the deadline {ins.deadline.isoformat()} passed",
                    expect=[ins.status],
                )
            except Conflict:
                continue
            await self._record(updated, made)
            expired.append(updated)
        await self._publish(expired, f"Expire {len(expired)} overdue instruction(s)")
        for ins in expired:
            await self._close_issue(ins)
        return expired

    # -- reading --------------------------------------------------------------------------
    async def list(
        self,
        target: str | None = None,
        status: InstructionStatus | str | Sequence[InstructionStatus | str] | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> InstructionPage:
        """Newest first."""
        raw = [] if status is None else [status] if isinstance(status, str) else list(status)
        try:
            statuses = [_S(s) for s in raw]
        except ValueError:
            allowed = ", ".join(s.value for s in _S)
            raise InvalidInput(f"unknown instruction status in {raw!r}", hint=f"Use: {allowed}.") from None
        if not 1 <= limit <= 500 or offset < 0:
            raise InvalidInput("limit must be 1..500 and offset 0 or more")
        items, total = await self._db.run(self._store.page, target, statuses, limit, offset)
        end = offset + len(items)
        return InstructionPage(
            items=items, total=total, limit=limit, offset=offset, next_offset=end if end < total else None
        )
