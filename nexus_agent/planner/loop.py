"""The planner loop: instruction -> recall -> select -> plan -> validate -> approve -> run -> answer.

::

    planner = Planner(memory=..., registry=..., provider=..., model=..., states=...)
    result = await planner.run("Chase every quote over £25k waiting more than a week", approver=...)
    if result.status == "awaiting_approval":
        result = await planner.approve(result.plan_id)

Each model turn may ask for several calls; they are validated, side effects
are approved (or the plan waits), cleared calls run in parallel and their
results go back to the model, until it answers or a budget (steps, tokens, wall
time) runs out. Every step is logged to memory and to the planner's state, so a
plan can be inspected later, and resumed after a crash without repeating
completed side effects.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import anyio

import prompts
from memory.store import MemoryStore
from nexus_agent.auth import Principal
from nexus_agent.planner.approval import ApprovalPolicy, Approver
from nexus_agent.planner.catalogue import Catalogue, ToolProvider
from nexus_agent.planner.context import (
    first_message,
    load_catalogue,
    offer_tools,
    recall_memory,
    sources_of,
    with_answer_tools,
    with_memory_search,
)
from nexus_agent.planner.execution import TurnSettler
from nexus_agent.planner.llm import ModelTurn, OfferedTool, PlannerModel
from nexus_agent.planner.models import Budget, PlannedCall, PlanResult, PlanStatus, Progress, ProgressEvent
from nexus_agent.planner.outcome import MEMORY_STATUS, UNMET_TAG, conclusion, record_unmet
from nexus_agent.planner.recovery import reconcile
from nexus_agent.planner.report import apps_text, final_answer, memory_text, result_block, selection_rationale
from nexus_agent.planner.role_gaps import owner_only_asks, say_owner_only
from nexus_agent.planner.roles import owner_named
from nexus_agent.planner.selection import DEFAULT_TOP_K, ToolSelector
from nexus_agent.planner.state import RunState, SqlitePlanStateStore
from nexus_agent.planner.validation import CallValidator
from nexus_agent.registry import Registry
from nexus_agent.wire.errors import Conflict, InvalidInput, NexusError
from nexus_agent.wire.models import utcnow
from nexus_agent.wire.secret_guard import KnownSecrets, redact, redact_data

__all__ = ["MEMORY_STATUS", "UNMET_TAG", "Planner"]  # MEMORY_STATUS and UNMET_TAG: from .outcome

log = logging.getLogger("nexus.planner")


class Planner:
    """Turns instructions into validated tool calls, runs them and logs everything to memory."""

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

    # -- public API -----------------------------------------------------------------
    async def run(
        self,
        instruction: str,
        *,
        dry_run: bool = False,
        budget: Budget | None = None,
        approver: Approver | None = None,
        progress: Progress | None = None,
        actor: str = "owner",
        principal: Principal | None = None,
    ) -> PlanResult:
        principal = principal or owner_named(actor)  # the plan's calls run as whoever gave the instruction
        instruction = " ".join(instruction.split())
        if not instruction:
            raise InvalidInput("the instruction is empty", hint="Say what Nexus should do, in plain words.")
        if len(instruction) > 4000:
            raise InvalidInput("the instruction is over 4,000 characters", hint="Say it more briefly.")
        budget = budget or self.default_budget
        started = self.clock()
        emit = _emitter(progress, budget)
        logged = redact(instruction)  # what memory keeps; the model gets the instruction as given
        conversation = await self.memory.start_conversation({"title": logged[:200], "created_by": actor})
        await self.memory.add_message(conversation.id, {"role": "user", "content": logged, "author": actor})
        await emit("recall", "reading the registry and memory")
        catalogue, records = await load_catalogue(self.provider, self.registry, principal)
        hits = await recall_memory(self.memory, instruction, self.recall_limit)
        await emit("select", f"ranking {len(catalogue)} tools")
        offer = with_memory_search(
            offer_tools(self.selector, catalogue, self.provider, instruction, self.top_k), catalogue, hits
        )
        offer = with_answer_tools(offer, catalogue, instruction, records)
        plan = await self.memory.create_plan(
            {
                "instruction": logged,
                "created_by": actor,
                "status": "draft" if dry_run else "running",
                "conversation_id": conversation.id,
                "apps": sources_of(offer.tools),
                "tags": ["planner", "dry-run"] if dry_run else ["planner"],
            }
        )
        notes = "This is a DRY RUN: read-only tools run, nothing with side effects is made.\n" if dry_run else ""
        context = prompts.render_prompt(
            "planner_context",
            apps=apps_text(records, offer.sources, offer.unavailable, {d.source for d in catalogue.tools.values()}),
            memory=memory_text(hits),
            notes=notes,
        )
        offered = offer.tools
        state = RunState(
            plan_id=plan.id,
            conversation_id=conversation.id,
            instruction=instruction,
            actor=actor,
            started_by=principal.name,
            started_by_role=principal.role.value,
            started_by_app=principal.app,
            dry_run=dry_run,
            budget=budget,
            backend=self.model.name,
            offered=[r.descriptor.name for r in offered],
            scores=[r.score for r in offered],
            contributions={r.descriptor.name: dict(r.contributions) for r in offered},
            system=prompts.render_prompt("planner_system", owner=self.owner),
            messages=[first_message(context, instruction)],
        )
        await self.memory.log_decision(
            {
                "decision": f"Plan {plan.id}: offer {len(offered)} of {len(catalogue)} tools to the {self.model.name} "
                "planner",
                "rationale": selection_rationale(offered, len(catalogue), self.top_k),
                "decided_by": "nexus-planner",
                "plan_id": plan.id,
                "apps": sources_of(offered),
                "tags": ["planner", "planner-selection"],
            }
        )
        state.usage.seconds = self.clock() - started
        await self.states.save(state)
        return await self._drive(state, catalogue, approver, emit)

    async def get(self, plan_id: int) -> PlanResult:
        state = await self.states.load(plan_id)
        interrupted = state.status == "running" and plan_id not in self._active
        return state.view(status="interrupted" if interrupted else None)

    async def approve(
        self,
        plan_id: int,
        call_ids: Sequence[str] | None = None,
        *,
        actor: str = "owner",
        note: str = "",
        progress: Progress | None = None,
    ) -> PlanResult:
        state = await self._claim(plan_id, {"awaiting_approval"})
        try:
            pending = [c for c in state.calls if c.status == "awaiting_approval"]
            unknown = sorted(set(call_ids or ()) - {c.id for c in pending})
            if unknown:
                raise InvalidInput(
                    f"plan {plan_id} has no pending call(s) {', '.join(unknown)}",
                    hint=f"Pending calls: {', '.join(c.id for c in pending) or 'none'} (see plan_get).",
                )
            # Calls that may already have taken effect are re-run only when the owner names them.
            chosen = list(call_ids) if call_ids else [c.id for c in pending if not c.interrupted]
            if not chosen:
                maybe = ", ".join(f"{c.id} ({c.tool})" for c in pending)
                raise InvalidInput(
                    f"every call plan {plan_id} waits on was interrupted and may already have taken effect: {maybe}",
                    hint="Check each one, then approve by name (plan_approve call_ids, or nexus plan approve "
                    f"{plan_id} --call ID) only those to run again; or reject the plan.",
                )
            held = [c for c in pending if c.interrupted and c.id not in chosen]
            pending = [c for c in pending if c not in held]  # left waiting, not declined
            state.actor = actor
            await self.settler.apply_answer(state, pending, approved=chosen, how="through plan_approve", note=note)
            catalogue, _ = await load_catalogue(self.provider, self.registry, state.principal())
            return await self._drive(state, catalogue, None, _emitter(progress, state.budget))
        finally:
            await self._release(plan_id, state)

    async def reject(self, plan_id: int, reason: str = "", *, actor: str = "owner") -> PlanResult:
        """Drop a waiting (or interrupted) plan: pending calls are declined, nothing more runs."""
        state = await self._claim(plan_id, {"awaiting_approval", "running"})
        try:
            if state.status == "running":  # interrupted: first find out what already happened
                await reconcile(self.memory, self.settler, state)
            pending = [c for c in state.calls if c.status == "awaiting_approval"]
            state.actor = actor
            await self.settler.apply_answer(state, pending, approved=[], how="through plan_reject", note=reason)
            for c in state.calls:
                if c.status in {"proposed", "approved"}:
                    c.status = "skipped"
            why = f"the owner rejected the plan{': ' + reason if reason else ''}"
            return await self._finish(state, "cancelled", why)
        finally:
            await self._release(plan_id, state)

    async def resume(
        self,
        plan_id: int,
        *,
        approver: Approver | None = None,
        progress: Progress | None = None,
        actor: str = "owner",
    ) -> PlanResult:
        """Carry on with an interrupted plan (or ask again about a waiting one)."""
        state = await self._claim(plan_id, {"awaiting_approval", "running"})
        try:
            if state.status == "running":
                await reconcile(self.memory, self.settler, state)
            state.actor = actor
            catalogue, _ = await load_catalogue(self.provider, self.registry, state.principal())
            return await self._drive(state, catalogue, approver, _emitter(progress, state.budget))
        finally:
            await self._release(plan_id, state)

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
                await self.memory.set_plan_status(state.plan_id, "running")
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
        await self.memory.set_plan_status(state.plan_id, MEMORY_STATUS["awaiting_approval"])
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
        await self.memory.set_plan_status(state.plan_id, MEMORY_STATUS[status])  # type: ignore[arg-type]
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

    # -- helpers ------------------------------------------------------------------------
    async def _release(self, plan_id: int, state: RunState) -> None:
        self._active.discard(plan_id)
        with anyio.CancelScope(shield=True):
            await self.states.release(plan_id, state.status)

    async def _claim(self, plan_id: int, statuses: set[str]) -> RunState:
        """Load a plan in one of ``statuses`` and mark it active in this process (released by the caller)."""
        if plan_id in self._active:
            raise Conflict(f"plan {plan_id} is running right now", hint="Wait for it, then inspect it with plan_get.")
        self._active.add(plan_id)  # before any await: a second caller in this process is refused at once
        try:
            # Atomic in the database, so another Nexus process cannot take the same plan.
            return await self.states.claim(plan_id, statuses)
        except BaseException:
            self._active.discard(plan_id)
            raise


def _bounded(arguments: dict[str, Any]) -> dict[str, Any]:
    return arguments if len(json.dumps(arguments, default=str)) < 60_000 else {"_truncated": True}


def _emitter(progress: Progress | None, budget: Budget) -> Any:
    async def emit(stage: str, message: str, step: int = 0) -> None:
        if progress is None:
            return
        try:
            await progress(ProgressEvent(stage=stage, message=message, step=step, max_steps=budget.max_steps))
        except Exception:  # progress is best effort
            log.debug("progress callback failed", exc_info=True)

    return emit
