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
from nexus_agent.planner.catalogue import Catalogue, ToolOutcome, ToolProvider, summarise_content
from nexus_agent.planner.roles import acting_as
from nexus_agent.planner.state import RunState
from nexus_agent.planner.validation import CallValidator
from nexus_agent.wire.errors import NexusError
from nexus_agent.wire.secret_guard import redact, redact_data
from tools.planner_tools import PlannedCall

__all__ = ["Emit", "TurnSettler"]

log = logging.getLogger("nexus.planner")

Emit = Callable[[str, str], Awaitable[None]]


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
    ) -> None:
        self.memory = memory
        self.provider = provider
        self.policy = policy
        self.validator = validator
        self.call_timeout = call_timeout
        self.dry_run_reads = dry_run_reads

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
            c.status = "unknown" if c.interrupted else "rejected"
            await self.step(state, c, "skipped", error="declined by the owner; not made")
        parts = []
        if yes:
            parts.append("approved " + ", ".join(f"{c.tool} [{c.id}]" for c in yes))
        if no:
            parts.append("declined " + ", ".join(f"{c.tool} [{c.id}]" for c in no))
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
        for c in ready:
            c.status = "running"
        if checkpoint is not None:
            await checkpoint()  # the state says which calls were cleared and are about to run
        for c in ready:  # durable before anything is made: after a crash, 'running' means 'may have run'
            await self.step(state, c, "running")

        async def one(c: PlannedCall) -> None:
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
