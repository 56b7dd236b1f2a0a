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

import builtins
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from memory.database import Database
from memory.models import DecisionIn, NoteIn
from memory.store import MemoryStore
from nexus_agent.flows._reports import check_report
from nexus_agent.flows._store import instruction_store, steps_to
from nexus_agent.flows.models import (
    INSTRUCTION_EVENT,
    LABEL_INSTRUCTION,
    Instruction,
    InstructionPage,
    InstructionResult,
    InstructionStatus,
    InstructionTransition,
    ReportOutcome,
    new_instruction_id,
    render_json,
)
from nexus_agent.registry import Registry
from nexus_agent.truth.base import TruthSource, blob_sha
from nexus_agent.truth.models import TruthFile
from nexus_agent.wire.errors import Conflict, InvalidInput, NexusError
from nexus_agent.wire.models import AppRecord, AppStatus, utcnow
from nexus_agent.wire.secret_guard import ensure_no_secrets, redact

if TYPE_CHECKING:  # the PostgreSQL database shared by replicas (NEXUS_DATABASE_URL)
    from memory.pg.database import PgDatabase

__all__ = ["InstructionPage", "InstructionService", "Notify", "ReportOutcome"]

log = logging.getLogger("nexus.flows.instructions")

#: ``notify(event, target, data) -> delivery_id``: hand a signed webhook to the outbox (raises if it cannot).
Notify = Callable[[str, AppRecord, dict[str, Any]], Awaitable[str]]

_S = InstructionStatus
MAX_INPUT_BYTES = 64 * 1024
MAX_TARGETS = 50


_JSON_BLOCK = re.compile(r"```json\s*(\{.*?\})\s*```", re.S)


class InstructionService:
    """Create, deliver, follow up and list instructions. Apply ``FLOW_MIGRATIONS`` to ``database`` first
    (on the PostgreSQL database replicas share: ``FLOWS_PG_MIGRATIONS``)."""

    def __init__(
        self,
        database: Database | PgDatabase,
        truth: TruthSource,
        registry: Registry,
        memory: MemoryStore,
        notify: Notify,
        *,
        clock: Callable[[], datetime] = utcnow,
        event: str = INSTRUCTION_EVENT,
    ) -> None:
        self._store = instruction_store(database)
        self._db = database
        self.truth = truth
        self.registry = registry
        self.memory = memory
        self.notify = notify
        self._clock = clock
        self.event = event

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

    async def _report_from_comments(self, ins: Instruction) -> TruthFile | None:
        """A report posted as a comment on the instruction's issue: a fenced JSON block naming the instruction."""
        assert ins.issue_number is not None
        for comment in reversed(await self.truth.list_comments(ins.issue_number)):
            for block in _JSON_BLOCK.findall(comment.body):
                if f'"{ins.id}"' in block:
                    content = block.strip().encode()
                    return TruthFile(
                        path=f"issue #{ins.issue_number} comment {comment.id}", content=content, sha=blob_sha(content)
                    )
        return None

    async def collect_reports(self, *, actor: str = "nexus") -> list[ReportOutcome]:
        """Read the satellites' reports of open instructions and complete or fail them.

        An invalid report (bad JSON, wrong id or target, a secret) leaves the instruction as it is
        and is noted in memory once per version of the file.
        """
        open_ = await self._db.run(self._store.open)
        if not open_:
            return []
        present = set(await self.truth.list("reports"))
        outcomes: list[ReportOutcome] = []
        finished: list[Instruction] = []
        for ins in open_:
            if ins.report_path in present:
                found = await self.truth.get(ins.report_path)
            elif ins.issue_number is not None:
                found = await self._report_from_comments(ins)
            else:
                continue
            if found is None:
                continue
            outcome = await self._apply_report(ins, found, actor)
            if outcome is None:
                continue
            outcomes.append(outcome)
            if outcome.instruction is not None:
                finished.append(outcome.instruction)
        await self._publish(finished, f"Instruction reports collected by {actor}")
        for ins in finished:
            await self._close_issue(ins)
        return outcomes

    async def accept_report(self, instruction_id: str, report: Mapping[str, Any], *, source: str) -> ReportOutcome:
        """A report that came another way than a file (a legacy app's signed webhook), checked like a report file.

        ``source`` names where it came from in notes. Raises Conflict when the instruction is already finished.
        """
        ins = await self.get(instruction_id)
        if ins.status in (_S.completed, _S.failed, _S.expired):
            raise Conflict(f"instruction {ins.id} is already {ins.status.value}", hint="Nothing more to report.")
        content = json.dumps(dict(report), default=str).encode()
        found = TruthFile(path=source, content=content, sha=blob_sha(content))
        outcome = await self._apply_report(ins, found, ins.target)
        if outcome is None:
            raise Conflict(f"instruction {ins.id} changed meanwhile", hint="Send the report again.")
        if outcome.instruction is not None:
            await self._publish([outcome.instruction], f"Instruction {ins.id} reported by {ins.target} ({source})")
            await self._close_issue(outcome.instruction)
        return outcome

    async def _apply_report(self, ins: Instruction, found: TruthFile, actor: str) -> ReportOutcome | None:
        """Complete or fail ``ins`` from a report (None: someone else moved it meanwhile)."""
        report, problems = check_report(ins, found)
        if report is None:
            if await self._db.run(self._store.note_invalid_report, ins.id, found.sha):
                text = f"The report {found.path} was not accepted:\n" + "\n".join(f"- {p}" for p in problems)
                await self._note(ins, f"Invalid report for {ins.id}", text, author=actor, tags=["invalid-report"])
            return ReportOutcome(instruction_id=ins.id, target=ins.target, outcome="invalid", problems=problems)
        result = InstructionResult(
            status=report.status,
            summary=report.result_summary,
            outputs=report.outputs,
            reported_by=report.reported_by,
            reported_at=report.reported_at,
            report_sha=found.sha,
        )
        try:
            updated, made = await self._move(
                ins.id,
                steps_to(ins.status, _S(report.status)),
                by=ins.target,
                reason=f"report by {report.reported_by}",
                update={"result": result},
                expect=[ins.status],
            )
        except Conflict as exc:  # moved by someone else meanwhile: the next collection sees it
            log.info("report of %s skipped: %s", ins.id, exc.message)
            return None
        await self._record(updated, made)
        return ReportOutcome(instruction_id=ins.id, target=ins.target, outcome=report.status, instruction=updated)

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
    async def get(self, instruction_id: str) -> Instruction:
        return await self._db.run(self._store.get, instruction_id)

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

    # -- internals ------------------------------------------------------------------------
    async def _target(self, slug: str) -> AppRecord:
        app = await self.registry.get(slug)
        if app.status is AppStatus.retired:
            raise Conflict(f"'{slug}' is retired and cannot be instructed", hint="Reactivate it first.")
        return app

    def _new(
        self,
        slug: str,
        action: str,
        description: str,
        inputs: dict[str, Any],
        deadline: datetime | None,
        actor: str,
        now: datetime,
    ) -> Instruction:
        try:
            return Instruction(
                id=new_instruction_id(now),
                target=slug,
                action=action,
                description=description,
                inputs=inputs,
                deadline=deadline,
                created_by=actor,
                created_at=now,
                updated_at=now,
                history=[
                    InstructionTransition(from_status=None, to_status=_S.pending, by=actor, at=now, reason="created")
                ],
            )
        except ValidationError as exc:
            raise InvalidInput.from_validation(exc, "the instruction") from None

    async def _open_issue(self, ins: Instruction) -> Instruction:
        body = f"{ins.description or ins.action}\n\nInstruction file: `{ins.path}`; report to `{ins.report_path}`."
        if ins.deadline:
            body += f"\nDeadline: {ins.deadline.isoformat()}"
        issue = await self.truth.create_issue(
            f"[Instruction] {ins.action} for {ins.target} ({ins.id})", body, [LABEL_INSTRUCTION]
        )
        return ins.model_copy(update={"issue_number": issue.number})

    async def _move(
        self,
        instruction_id: str,
        steps: builtins.list[InstructionStatus],
        *,
        by: str,
        reason: str,
        update: dict[str, Any] | None = None,
        expect: Sequence[InstructionStatus] | None = None,
    ) -> tuple[Instruction, builtins.list[InstructionTransition]]:
        return await self._db.run(
            lambda: self._store.transition(
                instruction_id, steps, by=by, reason=reason, at=self._clock(), update=update, expect=expect
            )
        )

    async def _record(self, ins: Instruction, steps: Sequence[InstructionTransition]) -> None:
        moves = " -> ".join([steps[0].from_status or "new", *(s.to_status for s in steps)]) if steps else ""
        text = f"{ins.id} for {ins.target} ({ins.action}): {moves}, by {steps[-1].by if steps else '?'}."
        if steps and steps[-1].reason:
            text += f" Why: {steps[-1].reason}."
        if ins.result is not None:
            text += f"\nResult ({ins.result.status}): {ins.result.summary or '(no summary)'}"
        by = steps[-1].by if steps else "nexus"
        await self._note(ins, f"Instruction {ins.id} {ins.status.value}", text, author=by, tags=[ins.status.value])

    async def _note(self, ins: Instruction, title: str, text: str, *, author: str, tags: Sequence[str] = ()) -> None:
        await self.memory.add_note(
            NoteIn(title=title[:200], text=text, author=author, apps=[ins.target], tags=["instruction", *tags])
        )

    async def _publish(self, instructions: Sequence[Instruction], message: str) -> None:
        """Update the truth files (one commit); a failure is logged: the database is already right."""
        if not instructions:
            return
        files = {ins.path: render_json(ins) for ins in instructions}
        problem = ""
        for _attempt in range(3):  # another writer (a satellite reporting) may move the branch meanwhile
            try:
                await self.truth.write_many(files, message)
                return
            except Conflict as exc:
                problem = exc.message
            except NexusError as exc:
                problem = exc.message
                break
        log.warning("instruction files not updated in the truth source: %s", problem)

    async def _close_issue(self, ins: Instruction, state: str | None = None) -> None:
        if ins.issue_number is None:
            return
        summary = f": {ins.result.summary}" if ins.result and ins.result.summary else ""
        try:
            text = f"Instruction {ins.id} {state or f'is {ins.status.value}{summary}'}"
            await self.truth.comment(ins.issue_number, text)
            await self.truth.close_issue(ins.issue_number)
        except NexusError as exc:
            log.warning("issue #%d of %s not updated: %s", ins.issue_number, ins.id, exc.message)
