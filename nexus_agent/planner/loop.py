"""The planner loop: instruction -> recall -> select -> plan -> validate -> approve -> run -> answer.

::

    planner = Planner(memory=..., registry=..., provider=..., model=..., states=...)
    result = await planner.run("Chase every quote over £25k waiting more than a week", approver=...)
    if result.status == "awaiting_approval":
        result = await planner.approve(result.plan_id)

:class:`Planner` starts a plan (recall, select the tools to offer, record the plan), lets the owner
inspect, approve, reject or resume it (one process at a time: a claim in the plan store), and hands
each run to :class:`~nexus_agent.planner.driver.PlanDriver`, which carries it from model turn to model
turn. Every step is logged to memory and saved in the plan store, so a plan can be inspected later,
and resumed after a crash without repeating completed side effects.
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio

import prompts
from nexus_agent.auth import Principal
from nexus_agent.planner.approval import Approver
from nexus_agent.planner.context import (
    first_message,
    load_catalogue,
    offer_tools,
    recall_memory,
    sources_of,
    with_answer_tools,
    with_memory_search,
)
from nexus_agent.planner.driver import PlanDriver, emitter
from nexus_agent.planner.models import Budget, PlanResult, Progress
from nexus_agent.planner.outcome import UNMET_TAG
from nexus_agent.planner.recovery import reconcile
from nexus_agent.planner.report import apps_text, memory_text, selection_rationale
from nexus_agent.planner.roles import owner_named
from nexus_agent.planner.selection import RankedTool
from nexus_agent.planner.state import RunState
from nexus_agent.wire.errors import Conflict, InvalidInput
from nexus_agent.wire.secret_guard import redact

__all__ = ["UNMET_TAG", "Planner"]  # UNMET_TAG: from .outcome


class Planner(PlanDriver):
    """Turns instructions into validated tool calls, runs them and logs everything to memory.

    Starting, inspecting, approving, rejecting and resuming a plan are here; carrying it from turn to
    turn is :class:`~nexus_agent.planner.driver.PlanDriver`'s.
    """

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
        emit = emitter(progress, budget)
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
                "status": "running",
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
        await self._log_selection(plan.id, offered, len(catalogue))
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
            return await self._drive(state, catalogue, None, emitter(progress, state.budget))
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
            return await self._drive(state, catalogue, approver, emitter(progress, state.budget))
        finally:
            await self._release(plan_id, state)

    # -- helpers ------------------------------------------------------------------------
    async def _log_selection(self, plan_id: int, offered: Sequence[RankedTool], catalogued: int) -> None:
        """Memory's record of which tools the model was shown, and why."""
        await self.memory.log_decision(
            {
                "decision": f"Plan {plan_id}: offer {len(offered)} of {catalogued} tools to the {self.model.name} "
                "planner",
                "rationale": selection_rationale(offered, catalogued, self.top_k),
                "decided_by": "nexus-planner",
                "plan_id": plan_id,
                "apps": sources_of(offered),
                "tags": ["planner", "planner-selection"],
            }
        )

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
