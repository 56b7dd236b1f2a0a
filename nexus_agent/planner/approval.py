"""Which calls need the owner's approval, and how the owner is asked.

Fail closed: a call to a tool not annotated read-only needs approval unless the
:class:`ApprovalPolicy` allows it (by tool name, or by source for tools that
are not destructive). An :class:`Approver` answers ``True`` (run), ``False``
(do not run) or ``None`` (cannot ask now: the plan waits with its id, and
``Planner.approve`` / ``Planner.reject`` settle it later).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from nexus_agent.planner.catalogue import ToolDescriptor
from tools.planner_tools import Approver, ElicitationApprover, PlannedCall, PlanResult

__all__ = ["ApprovalPolicy", "Approver", "CallbackApprover", "ElicitationApprover", "StaticApprover"]


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
