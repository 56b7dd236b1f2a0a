"""What every instruction flow step shares: the service's dependencies and how a move is stored, noted in
memory and published to the truth source. The base of
:class:`~nexus_agent.flows.instructions.InstructionService`."""

from __future__ import annotations

import builtins
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from memory.database import Database
from memory.models import NoteIn
from memory.store import MemoryStore
from nexus_agent.flows._store import instruction_store
from nexus_agent.flows.models import (
    INSTRUCTION_EVENT,
    LABEL_INSTRUCTION,
    Instruction,
    InstructionStatus,
    InstructionTransition,
    new_instruction_id,
    render_json,
)
from nexus_agent.registry import Registry
from nexus_agent.truth.base import TruthSource
from nexus_agent.wire.errors import Conflict, InvalidInput, NexusError
from nexus_agent.wire.models import AppRecord, AppStatus, utcnow

if TYPE_CHECKING:  # the PostgreSQL database shared by replicas (NEXUS_DATABASE_URL)
    from memory.pg.database import PgDatabase

__all__ = ["InstructionRecords", "Notify"]

log = logging.getLogger("nexus.flows.instructions")

#: ``notify(event, target, data) -> delivery_id``: hand a signed webhook to the outbox (raises if it cannot).
Notify = Callable[[str, AppRecord, dict[str, Any]], Awaitable[str]]

_S = InstructionStatus


class InstructionRecords:
    """The instruction service's dependencies and shared steps (reading one, moving it, recording the move)."""

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

    async def get(self, instruction_id: str) -> Instruction:
        return await self._db.run(self._store.get, instruction_id)

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
