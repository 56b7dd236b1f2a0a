"""Carrying a plan from model turn to model turn, until it answers, waits for the owner or runs out.

:class:`PlanDriver` is the execution half of :class:`~nexus_agent.planner.loop.Planner`: each model turn
may ask for several calls; they are validated, side effects are approved (or the plan waits), cleared
calls run in parallel and their results go back to the model, until it answers or a budget (steps,
tokens, wall time) runs out. Every step is logged to memory and saved in the plan store, so a plan can
be inspected later and resumed after a crash without repeating completed side effects.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import anyio

import prompts
from memory.store import MemoryStore
from nexus_agent.planner.approval import ApprovalPolicy, Approver
from nexus_agent.planner.catalogue import Catalogue, ToolProvider
from nexus_agent.planner.context import load_catalogue
from nexus_agent.planner.execution import TurnSettler
from nexus_agent.planner.llm import ModelTurn, OfferedTool, PlannerModel
from nexus_agent.planner.models import Budget, PlannedCall, PlanResult, PlanStatus, Progress, ProgressEvent
from nexus_agent.planner.outcome import conclusion, record_unmet
from nexus_agent.planner.report import final_answer, result_block
from nexus_agent.planner.role_gaps import owner_only_asks, say_owner_only
from nexus_agent.planner.selection import DEFAULT_TOP_K, ToolSelector
from nexus_agent.planner.state import RunState, SqlitePlanStateStore
from nexus_agent.planner.validation import CallValidator
from nexus_agent.registry import Registry
from nexus_agent.wire.errors import NexusError
from nexus_agent.wire.models import utcnow
from nexus_agent.wire.secret_guard import KnownSecrets, redact, redact_data

__all__ = ["PlanDriver", "emitter"]

log = logging.getLogger("nexus.planner")


class PlanDriver:
    """The loop over a plan's turns; :class:`~nexus_agent.planner.loop.Planner` adds how plans start and resume."""

    def __init__(
        self,
        *,
        memory: MemoryStore,
        provider: ToolProvider,
        model: PlannerModel,
        states: SqlitePlanStateStore,
        registry: Registry | None = None,
        policy: ApprovalPolicy | None = None,
        selector: ToolSelector | None = None,
        top_k: int = DEFAULT_TOP_K,
        default_budget: Budget | None = None,
        call_timeout: float = 120.0,
        dry_run_reads: bool = True,
        recall_limit: int = 5,
        owner: str = "The owner",
        clock: Callable[[], float] = time.monotonic,
        known_secrets: KnownSecrets | None = None,
    ) -> None:
        self.memory, self.registry, self.provider, self.model, self.states = memory, registry, provider, model, states
        self.policy = policy or ApprovalPolicy()
        self.selector = selector or ToolSelector(top_k=top_k)
        self.top_k = top_k
        self.default_budget = default_budget or Budget()
        self.recall_limit = recall_limit
        self.owner = owner
        self.clock = clock
        self.validator = CallValidator()
        self.settler = TurnSettler(
            memory=memory,
            provider=provider,
            policy=self.policy,
            validator=self.validator,
            call_timeout=call_timeout,
            dry_run_reads=dry_run_reads,
            known_secrets=known_secrets,
        )
        self._active: set[int] = set()

    # -- the loop ---------------------------------------------------------------------
    async def _drive(self, state: RunState, catalogue: Catalogue, approver: Approver | None, emit: Any) -> PlanResult:
        self._active.add(state.plan_id)  # released by the finally below
        base, started = state.usage.seconds, self.clock()
        outputs: dict[str, Any] = {}

        def tick() -> None:
            state.usage.seconds = base + (self.clock() - started)

        try:
            if state.status != "running":
                state.status = "running"
                await self.states.save(state)
            while True:
                if state.open_turn is not None:
                    calls = state.turn_calls(state.open_turn)
                    await emit("validate", f"checking {len(calls)} call(s)", state.usage.steps)
                    await self.settler.validate(state, catalogue, calls)
                    await self.settler.ask(state, calls, approver, emit)
                    if any(c.status == "approved" for c in calls):
                        await emit("run", f"running {sum(c.status == 'approved' for c in calls)} call(s)")
                    await self.settler.execute(state, calls, outputs, checkpoint=lambda: self.states.save(state))
                    tick()
                    if any(c.status == "awaiting_approval" for c in calls):
                        return await self._wait(state, emit)
                    blocks = [result_block(c, outputs.get(c.id, c.result_summary)) for c in calls]
                    if state.usage.steps == state.budget.max_steps - 1:
                        last = prompts.render_prompt("planner_last_step", steps=state.budget.max_steps)
                        blocks.append({"type": "text", "text": last})
                    state.messages.append({"role": "user", "content": blocks})
                    state.open_turn = None
                    outputs.clear()
                    await self.states.save(state)
                reason = self._exhausted(state)
                if reason:
                    return await self._finish(state, "budget_exhausted", reason)
                turn = await self._ask_model(state, catalogue, emit)
                tick()
                if turn is None:
                    return await self._finish(state, "budget_exhausted", "the wall-time budget ran out")
                state.unmet = list(dict.fromkeys([*state.unmet, *turn.unmet]))
                if not turn.tool_calls:
                    state.model_text = turn.text
                    return await self._conclude(state, turn)
                await self._open_turn(state, turn)
                reason = self._exhausted(state)
                if reason:
                    for c in state.turn_calls(state.usage.steps):
                        c.status = "skipped"
                        await self.settler.step(state, c, "skipped", error=f"not made: {reason}")
                    return await self._finish(state, "budget_exhausted", reason)
        except NexusError as exc:
            log.warning("plan %s failed: %s", state.plan_id, exc.code)
            tick()
            return await self._finish(state, "failed", exc.message)
        finally:
            self._active.discard(state.plan_id)

    async def _conclude(self, state: RunState, turn: ModelTurn) -> PlanResult:
        """The model answered without calls: say what happened (see :func:`.outcome.conclusion`)."""
        status, reason = conclusion(state, turn)
        return await self._finish(state, status, reason)

    async def _ask_model(self, state: RunState, catalogue: Catalogue, emit: Any) -> ModelTurn | None:
        offered = [
            OfferedTool(d, score, state.contributions.get(name, {}))
            for name, score in zip(state.offered, state.scores, strict=False)
            if (d := catalogue.get(name)) is not None
        ]
        await emit("plan", f"asking the {self.model.name} planner (turn {state.usage.steps + 1})", state.usage.steps)
        remaining = state.budget.max_seconds - state.usage.seconds
        with anyio.move_on_after(max(remaining, 0.0)):
            turn = await self.model.next_turn(state.system, state.messages, offered)
            state.usage.steps += 1
            state.usage.input_tokens += turn.usage.input_tokens
            state.usage.output_tokens += turn.usage.output_tokens
            return turn
        return None

    async def _open_turn(self, state: RunState, turn: ModelTurn) -> None:
        n = state.usage.steps
        blocks: list[dict[str, Any]] = [{"type": "text", "text": turn.text}] if turn.text else []
        seen = {c.id for c in state.calls}
        cap = state.budget.max_calls_per_turn
        for over in turn.tool_calls[cap:]:
            state.notes.append(f"not made: {over.name} (over the cap of {cap} calls per turn)")
        for req in turn.tool_calls[:cap]:
            call_id = req.id if req.id and req.id not in seen else f"{req.id or 'call'}_{n}_{len(seen)}"
            seen.add(call_id)
            blocks.append({"type": "tool_use", "id": call_id, "name": req.name, "input": req.arguments})
            step = await self.memory.add_plan_step(
                state.plan_id, {"tool": req.name[:200], "arguments": _bounded(redact_data(req.arguments))}
            )
            state.calls.append(PlannedCall(id=call_id, turn=n, tool=req.name, arguments=req.arguments, seq=step.seq))
        state.messages.append({"role": "assistant", "content": blocks})
        state.open_turn = n
        await self.memory.log_decision(
            {
                "decision": f"Plan {state.plan_id}, turn {n}: call "
                + ", ".join(f"{r.name} [{r.id}]" for r in turn.tool_calls),
                "rationale": redact(turn.text or "(the model gave no reasons)")[:16_000],
                "decided_by": self.model.name,
                "plan_id": state.plan_id,
                "tags": ["planner", "planner-turn"],
            }
        )
        await self.states.save(state)

    def _exhausted(self, state: RunState) -> str:
        u, b = state.usage, state.budget
        if u.steps >= b.max_steps:
            return f"the step budget ran out ({b.max_steps} model turns)"
        if u.tokens >= b.max_tokens:
            return f"the token budget ran out ({u.tokens:,} of {b.max_tokens:,} tokens used)"
        if u.seconds >= b.max_seconds:
            return f"the wall-time budget ran out ({b.max_seconds:g} s)"
        return ""

    async def _wait(self, state: RunState, emit: Any) -> PlanResult:
        state.status = "awaiting_approval"
        n = len(state.view().pending)
        state.next_action = (
            f"{n} call(s) need the owner's approval: call plan_approve with plan_id={state.plan_id} "
            f"(optionally call_ids) to run them, or plan_reject to drop the plan."
        )
        state.answer = redact(final_answer(state, "waiting for the owner's approval"))
        await self.states.save(state)
        await emit("approve", f"plan {state.plan_id} waits for approval of {n} call(s)")
        return state.view()

    async def _owner_only(self, state: RunState) -> None:
        """Asks only tools outside the caller's role cover: said so in the answer, not gaps (.role_gaps)."""
        principal = state.principal()
        if principal.is_owner:
            return
        catalogue, _ = await load_catalogue(self.provider, self.registry, None)
        asks = owner_only_asks(state.unmet, principal, catalogue, utcnow())
        if asks:
            state.unmet = [u for u in state.unmet if u not in asks]
            state.model_text = say_owner_only(state.model_text, asks, principal)

    async def _finish(self, state: RunState, status: PlanStatus, reason: str = "") -> PlanResult:
        if status in {"no_action", "partial"} and state.unmet:
            await self._owner_only(state)
            if state.unmet:  # only what no tool at all covers, whoever asked
                await record_unmet(self.memory, state)
        state.status = status
        state.open_turn = None
        state.answer = redact(final_answer(state, reason))
        state.next_action = ""
        if state.conversation_id is not None:
            await self.memory.add_message(
                state.conversation_id, {"role": "assistant", "content": state.answer[:128_000], "author": "nexus"}
            )
        await self.memory.log_decision(
            {
                "decision": f"Plan {state.plan_id} ended: {status}" + (f" ({reason})" if reason else ""),
                "rationale": state.answer[:16_000],
                "decided_by": "nexus-planner",
                "plan_id": state.plan_id,
                "tags": ["planner", "planner-outcome"],
            }
        )
        await self.states.save(state)
        return state.view()


def _bounded(arguments: dict[str, Any]) -> dict[str, Any]:
    return arguments if len(json.dumps(arguments, default=str)) < 60_000 else {"_truncated": True}


def emitter(progress: Progress | None, budget: Budget) -> Any:
    async def emit(stage: str, message: str, step: int = 0) -> None:
        if progress is None:
            return
        try:
            await progress(ProgressEvent(stage=stage, message=message, step=step, max_steps=budget.max_steps))
        except Exception:  # progress is best effort
            log.debug("progress callback failed", exc_info=True)

    return emit
