"""Resume after a crash: decide, call by call, what may already have happened.

A plan step is marked ``running`` in memory *before* its call is made, so
after a crash memory knows more than the planner's last saved state. Settled
calls stay as they are. For the others: a ``succeeded`` or ``failed`` step is
taken as it is; a ``running`` step may have taken effect, so it is re-run only
when read-only or idempotent and otherwise held for the owner's approval (fail
closed); a ``pending`` step never started and runs as cleared.
"""

from __future__ import annotations

from memory.store import MemoryStore
from nexus_agent.planner.execution import TurnSettler
from nexus_agent.planner.state import RunState

__all__ = ["SETTLED", "reconcile"]

#: Call statuses that are final for a turn.
SETTLED = frozenset({"succeeded", "failed", "invalid", "rejected", "would_run", "unknown", "skipped"})


async def reconcile(memory: MemoryStore, settler: TurnSettler, state: RunState) -> None:
    """After a crash: memory's step status says what may have happened to each unsettled call.

    A step is marked ``running`` in memory before its call is made, so memory knows more
    than the last saved state: ``succeeded``/``failed`` steps are taken as they are, a
    ``running`` one may have taken effect (re-run only if read-only or idempotent, else
    held for the owner's approval), a ``pending`` one never started.
    """
    steps = {s.seq: s for s in (await memory.get_plan(state.plan_id)).steps}
    kept = rerun = ask = 0
    for c in state.calls:
        if c.status in SETTLED:
            continue
        step = steps.get(c.seq) if c.seq is not None else None
        stored = step.status if step is not None else "pending"
        if stored == "succeeded" and step is not None:
            c.status, c.result_summary = "succeeded", step.result_summary
            kept += 1
        elif stored == "failed" and step is not None:
            c.status, c.error = "failed", step.error
        elif stored == "skipped" and step is not None:
            c.status, c.error = "skipped", step.error or step.result_summary
        elif stored == "running" and (c.read_only or c.idempotent):
            c.status = "approved"
            rerun += 1
        elif stored == "running":
            c.status, c.interrupted, c.needs_approval = "awaiting_approval", True, True
            c.error = "interrupted while running: it may already have taken effect"
            await settler.step(state, c, "failed", error=f"[unknown] {c.error}; not re-run without approval")
            ask += 1
        elif c.status == "running":  # marked in the state, but the call never started
            c.status = "approved"
            rerun += 1
    await memory.log_decision(
        {
            "decision": f"Plan {state.plan_id} resumed after an interruption",
            "rationale": f"{kept} completed call(s) kept, {rerun} call(s) safe to (re)run, "
            f"{ask} call(s) with side effects of unknown outcome held for the owner's approval.",
            "decided_by": "nexus-planner",
            "plan_id": state.plan_id,
            "tags": ["planner", "planner-resume"],
        }
    )
