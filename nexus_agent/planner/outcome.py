"""How a plan ends: its status from what happened, the record kept in memory, what was asked for and missing.

:func:`conclusion` is the one place a finished plan's :data:`~nexus_agent.planner.models.PlanStatus` is
decided: ``needs_input`` (the model asked a question, nothing was made), ``no_action`` (nothing reachable
covers it), ``cancelled`` (the owner declined every call), ``partial`` (a call failed and was not made good,
or part of the ask could not be served), else ``succeeded``. "Done (0): nothing" is never a success.
"""

from __future__ import annotations

from memory.store import MemoryStore
from nexus_agent.planner.llm import ModelTurn
from nexus_agent.planner.models import PlanStatus
from nexus_agent.planner.state import RunState
from nexus_agent.wire.secret_guard import redact

__all__ = ["UNMET_TAG", "conclusion", "record_unmet", "unrecovered_failures"]

#: Tag of the memory notes that record a capability asked for that nothing covers (read by gaps_analyse).
UNMET_TAG = "unmet-capability"
_NOT_MADE = frozenset({"invalid", "skipped", "rejected"})


def unrecovered_failures(state: RunState) -> list[str]:
    """Calls that failed with no later successful call of the same tool (the model did not make them good)."""
    failed: list[str] = []
    for call in state.calls:
        if call.status in {"failed", "unknown"}:
            later_ok = any(c.tool == call.tool and c.turn > call.turn and c.status == "succeeded" for c in state.calls)
            if not later_ok:
                failed.append(call.id)
    return failed


def conclusion(state: RunState, turn: ModelTurn) -> tuple[PlanStatus, str]:
    """The status of a plan whose model answered without calls, and why."""
    made = [c for c in state.calls if c.status not in _NOT_MADE]
    text = turn.text.strip()
    question = turn.question or (text if not made and text.endswith("?") else "")
    if question and not made:
        state.question = question
        return "needs_input", "the instruction is unclear; Nexus asked instead"
    if state.dry_run:
        return "dry_run", ""
    unrecovered = unrecovered_failures(state)
    if unrecovered:
        return "partial", f"{len(unrecovered)} call(s) failed"
    if not made and any(c.status == "rejected" for c in state.calls):
        return "cancelled", "the owner declined every call"
    if not made:
        return "no_action", "no reachable tool covers what was asked"
    if state.unmet:
        return "partial", "part of the instruction could not be served"
    return "succeeded", ""


async def record_unmet(memory: MemoryStore, state: RunState) -> None:
    """Capabilities asked for that no tool covers, with who asked: kept for ``nexus gaps``."""
    who = f"{state.started_by} ({state.started_by_role})"
    for what in state.unmet[:5]:
        await memory.add_note(
            {
                "title": f"Unmet capability: {redact(what)[:150]}",
                "text": f"Asked by {who}: '{redact(what)}' (plan {state.plan_id}); no tool covers it. "
                "Reported by nexus gaps until an app covers it.",
                "author": "nexus-planner",
                "tags": [UNMET_TAG],
            }
        )
