"""Which calls need the owner's approval, and how the owner is asked.

Fail closed: a call to a tool not annotated read-only needs approval unless the
:class:`ApprovalPolicy` allows it (by tool name, or by source for tools that
are not destructive). An :class:`Approver` answers ``True`` (run), ``False``
(do not run) or ``None`` (cannot ask now: the plan waits with its id, and
``Planner.approve`` / ``Planner.reject`` settle it later).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from nexus_agent.planner.catalogue import ToolDescriptor
from nexus_agent.planner.models import Approver, PlannedCall, PlanResult

__all__ = [
    "ApprovalAnswer",
    "ApprovalPolicy",
    "Approver",
    "CallbackApprover",
    "ElicitationApprover",
    "StaticApprover",
    "approval_message",
]

log = logging.getLogger("nexus.planner")


# -- approval through MCP elicitation ------------------------------------------
class ApprovalAnswer(BaseModel):
    approve: bool = Field(description="Run these calls now? (No: nothing is run.)")


def approval_message(plan: PlanResult, calls: Sequence[PlannedCall]) -> str:
    lines = [f"Nexus plan {plan.plan_id} wants to make {len(calls)} call(s) with side effects:"]
    for call in calls:
        args = json.dumps(call.arguments, ensure_ascii=False, default=str)
        lines.append(f"- {call.tool}({args if len(args) <= 300 else args[:297] + '...'})")
        if call.interrupted:
            lines.append("  (it was running when Nexus stopped: it may already have taken effect)")
    lines.append(f'For: "{plan.instruction[:300]}"')
    return "\n".join(lines)


Elicit = Callable[[str, type[ApprovalAnswer]], Awaitable[Any]]


class ElicitationApprover:
    """Ask the owner with ``ctx.elicit``. Accept+yes: run; decline or no: refuse; cannot ask: ``None``."""

    def __init__(self, elicit: Elicit) -> None:
        self._elicit = elicit

    async def confirm(self, plan: PlanResult, calls: Sequence[PlannedCall]) -> bool | None:
        try:
            outcome = await self._elicit(approval_message(plan, calls), ApprovalAnswer)
        except Exception as exc:  # no back-channel, no capability, transport error: fail closed
            log.info("plan %s: could not ask for approval (%s); leaving it pending", plan.plan_id, exc)
            return None
        action = getattr(outcome, "action", None)
        if action == "accept":
            return bool(getattr(outcome.data, "approve", False))
        return False if action == "decline" else None


@dataclass(frozen=True)
class ApprovalPolicy:
    """Default: only read-only tools run without approval."""

    allow_tools: frozenset[str] = frozenset()
    allow_sources: frozenset[str] = frozenset()

    @classmethod
    def allowing(cls, *, tools: Iterable[str] = (), sources: Iterable[str] = ()) -> ApprovalPolicy:
        return cls(frozenset(tools), frozenset(sources))

    def needs_approval(self, d: ToolDescriptor) -> bool:
        return not self.rule(d)[0]

    def rule(self, d: ToolDescriptor) -> tuple[bool, str]:
        """(runs without approval?, why)."""
        if d.read_only:
            return True, "read-only"
        if d.name in self.allow_tools:
            return True, "allowed by policy (tool)"
        if d.source in self.allow_sources and not d.destructive:
            return True, f"allowed by policy (all non-destructive {d.source} tools)"
        return False, "has side effects: needs the owner's approval"


class StaticApprover:
    """Always gives the same answer (tests, scripted runs, ``--yes`` / ``--no`` on the CLI)."""

    def __init__(self, answer: bool | None) -> None:
        self.answer = answer
        self.asked: list[list[str]] = []

    async def confirm(self, plan: PlanResult, calls: Sequence[PlannedCall]) -> bool | None:
        self.asked.append([c.id for c in calls])
        return self.answer


class CallbackApprover:
    """Wraps ``async fn(plan, calls) -> bool | None``; an exception counts as no answer."""

    def __init__(self, fn: Callable[[PlanResult, Sequence[PlannedCall]], Awaitable[bool | None]]) -> None:
        self._fn = fn

    async def confirm(self, plan: PlanResult, calls: Sequence[PlannedCall]) -> bool | None:
        try:
            return await self._fn(plan, calls)
        except Exception:
            return None
