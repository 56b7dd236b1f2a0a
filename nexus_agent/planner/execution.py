"""Settle one model turn: validate each call, get approval for side effects, run what is cleared.

Every call is a plan step in memory from the moment the model asks for it.
Results are passed through the secret guard before the model or memory sees them. A
call with side effects is marked ``running`` in memory *before* it is made, and
``succeeded``/``failed`` after: after a crash, memory's step status says
whether it may have run (see ``Planner.resume``). Cleared calls of one turn run
in parallel.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio

from memory.store import MemoryStore
from nexus_agent.planner.approval import ApprovalPolicy, Approver
from nexus_agent.planner.catalogue import Catalogue, ToolDescriptor, ToolOutcome, ToolProvider, summarise_content
from nexus_agent.planner.intent import is_question
from nexus_agent.planner.models import PlannedCall
from nexus_agent.planner.roles import acting_as
from nexus_agent.planner.state import RunState
from nexus_agent.planner.validation import CallValidator, Verdict
from nexus_agent.wire.errors import NexusError
from nexus_agent.wire.secret_guard import KnownSecrets, redact, redact_data, scan

__all__ = ["Emit", "TurnSettler"]

log = logging.getLogger("nexus.planner")

Emit = Callable[[str, str], Awaitable[None]]
#: Call statuses of calls that were never made (a repeat of one of these may be made).
_NOT_MADE = frozenset({"invalid", "rejected", "skipped"})


class TurnSettler:
    def __init__(
        self,
        *,
        memory: MemoryStore,
        provider: ToolProvider,
        policy: ApprovalPolicy,
        validator: CallValidator,
        call_timeout: float,
        dry_run_reads: bool,
        known_secrets: KnownSecrets | None = None,
    ) -> None:
        self.memory = memory
        self.provider = provider
        self.policy = policy
        self.validator = validator
        self.call_timeout = call_timeout
        self.dry_run_reads = dry_run_reads
        self.known_secrets = known_secrets

    async def step(self, state: RunState, call: PlannedCall, status: str, **fields: Any) -> None:
        if call.seq is not None:
            await self.memory.update_plan_step(state.plan_id, call.seq, {"status": status, **fields})

    # -- 1. validation ------------------------------------------------------------
    async def validate(self, state: RunState, catalogue: Catalogue, calls: Sequence[PlannedCall]) -> None:
        for c in calls:
            if c.status != "proposed":
                continue
            available = self.provider.is_available(c.tool) if c.tool in catalogue else True
            verdict = self.validator.check(catalogue, c.tool, c.arguments, availability=available)
            d = verdict.descriptor
            if d is not None:
                c.source, c.read_only, c.idempotent = d.source, d.read_only, d.idempotent
            refusal = self._refusal(state, c, d)
            if refusal:
                verdict = Verdict(d, refusal)
            if not verdict.ok or d is None:
                c.status, c.error = "invalid", verdict.error
                await self.step(state, c, "failed", error=f"not run: {verdict.error}"[:4000])
                continue
            c.needs_approval = self.policy.needs_approval(d)
            if state.dry_run and not (d.read_only and self.dry_run_reads):
                c.status = "would_run"
                await self.step(state, c, "skipped", result_summary="dry run: valid, would be made; not made")
            else:
                c.status = "awaiting_approval" if c.needs_approval else "approved"

    def _refusal(self, state: RunState, c: PlannedCall, d: ToolDescriptor | None) -> str:
        """Why a well-formed call is still refused: a secret in its arguments (read-only or not), a side
        effect for a question, or the same side effect twice in one plan."""
        findings = scan(c.arguments, location="arguments", known=self.known_secrets)
        if findings:
            where = "; ".join(f.describe() for f in findings[:5])
            return (
                f"Refused: the arguments to {c.tool} carry a secret ({where}). Nexus never sends a secret "
                "through a plan, to any tool. Do not retry it; tell the owner."
            )
        if d is None or d.read_only:
            return ""
        if is_question(state.instruction):
            return (
                f"Refused: {c.tool} has side effects and the instruction is a question. Answer it with read-only "
                "tools; suggest the action in your answer instead."
            )
        earlier = state.calls[: next(i for i, o in enumerate(state.calls) if o is c)]
        same = [o for o in earlier if o.tool == c.tool and o.arguments == c.arguments and o.status not in _NOT_MADE]
        if same:
            return f"Not made again: the same call is already in this plan as [{same[0].id}]; it is made once."
        return ""

    # -- 2. approval --------------------------------------------------------------
    async def ask(self, state: RunState, calls: Sequence[PlannedCall], approver: Approver | None, emit: Emit) -> None:
        waiting = [c for c in calls if c.status == "awaiting_approval"]
        if not waiting or approver is None:
            return
        await emit("approve", f"asking the owner to approve {len(waiting)} call(s)")
        try:
            answer = await approver.confirm(state.view(status="awaiting_approval"), waiting)
        except Exception:
            log.warning("plan %s: the approver failed; treating it as no answer", state.plan_id, exc_info=True)
            answer = None
        if answer is None:
            return
        await self.apply_answer(state, waiting, approved=[c.id for c in waiting] if answer else [], how="asked")

    async def apply_answer(
        self, state: RunState, waiting: Sequence[PlannedCall], *, approved: Sequence[str], how: str, note: str = ""
    ) -> None:
        yes = [c for c in waiting if c.id in set(approved)]
        no = [c for c in waiting if c.id not in set(approved)]
        for c in yes:
            c.status, c.error = "approved", ""
        for c in no:
            if c.interrupted:  # it may already have taken effect: one record, and it says unknown
                c.status = "unknown"
                c.error = "outcome unknown: interrupted while running; the owner declined re-running it"
                await self.step(state, c, "failed", error=f"[unknown] {c.error}")
                continue
            c.status = "rejected"
            await self.step(state, c, "skipped", error="declined by the owner; not made")
        parts = []
        if yes:
            parts.append("approved " + ", ".join(f"{c.tool} [{c.id}]" for c in yes))
        if [c for c in no if not c.interrupted]:
            parts.append("declined " + ", ".join(f"{c.tool} [{c.id}]" for c in no if not c.interrupted))
        if [c for c in no if c.interrupted]:
            unknown = ", ".join(f"{c.tool} [{c.id}]" for c in no if c.interrupted)
            parts.append(f"did not re-run {unknown} (interrupted; outcome unknown)")
        await self.memory.log_decision(
            {
                "decision": f"Plan {state.plan_id}: the owner {' and '.join(parts)}"[:2000],
                "rationale": f"Approval {how} by {state.actor}." + (f" Note: {note}" if note else ""),
                "decided_by": state.actor,
                "plan_id": state.plan_id,
                "tags": ["planner", "planner-approval"],
            }
        )

    # -- 3. execution -------------------------------------------------------------
    async def execute(
        self,
        state: RunState,
        calls: Sequence[PlannedCall],
        outputs: dict[str, Any],
        *,
        checkpoint: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        ready = [c for c in calls if c.status == "approved"]
        if not ready:
            return
        if checkpoint is not None:
            await checkpoint()  # the state says which calls were cleared (approved) before any is sent

        async def one(c: PlannedCall) -> None:
            # Marked running when it is sent, durably, and not before: after a crash a call still
            # 'approved' (its step 'pending') was never sent and runs under its original approval.
            c.status = "running"
            await self.step(state, c, "running")
            outcome = await self._call(c, state)
            c.status = "succeeded" if outcome.ok else "failed"
            if outcome.ok:  # secrets in a result go neither to the model nor to memory
                content = redact_data(outcome.content)
                c.result_summary = summarise_content(content)
                outputs[c.id] = content
            else:
                c.error = redact(outcome.error or "the call failed")
            await self.step(
                state,
                c,
                c.status,
                result_summary=c.result_summary[:4000] if outcome.ok else None,
                error="" if outcome.ok else c.error[:4000],  # "" clears an earlier "[unknown]" note
            )

        async with anyio.create_task_group() as tg:
            for c in ready:
                tg.start_soon(one, c)

    async def _call(self, c: PlannedCall, state: RunState) -> ToolOutcome:
        try:
            with anyio.fail_after(self.call_timeout), acting_as(state.principal()):
                return await self.provider.call(c.tool, c.arguments)
        except TimeoutError:
            return ToolOutcome(ok=False, error=f"{c.tool} did not answer within {self.call_timeout:g} s")
        except NexusError as exc:
            return ToolOutcome(ok=False, error=exc.user_message())
        except Exception as exc:  # a provider bug must not end the plan
            log.exception("tool %s raised", c.tool)
            return ToolOutcome(ok=False, error=f"{c.tool} failed unexpectedly: {type(exc).__name__}: {exc}")
