"""The planner's models: one plan-status vocabulary, budgets, planned calls, plan results, progress, and the
protocols the edges (MCP tools, CLI) use to drive a planner.

They live with the planner (issue #9): the MCP tool specs in ``nexus_agent.planner.tools`` and the CLI speak them.
:data:`PlanStatus` is the one plan-status vocabulary: the planner, its tools, memory's plan record, metrics
and the status page all read the same ``plans.status`` column. It is defined with that column, in
:mod:`memory.models` (memory sits below the planner), and exported here as the planner's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, Protocol, get_args

from pydantic import BaseModel, ConfigDict, Field

from memory.models import PlanStatus
from nexus_agent.auth import Principal

__all__ = [
    "PLAN_STATUSES",
    "TERMINAL_STATUSES",
    "Approver",
    "Budget",
    "BudgetUsage",
    "CallStatus",
    "PlanResult",
    "PlanRunner",
    "PlanState",
    "PlanStatus",
    "PlannedCall",
    "Progress",
    "ProgressEvent",
]


class Budget(BaseModel):
    """What one plan may spend; when any runs out, the planner stops and reports."""

    model_config = ConfigDict(extra="forbid")

    max_steps: int = Field(8, ge=1, le=50, description="Model turns at most (each may request several tool calls).")
    max_tokens: int = Field(
        200_000, ge=1_000, le=5_000_000, description="Model input + output tokens at most, all turns together."
    )
    max_seconds: float = Field(300.0, gt=0, le=3_600, description="Wall time at most (waiting for approval excluded).")
    max_calls_per_turn: int = Field(
        10, ge=1, le=100, description="Tool calls one model turn may ask for; the rest are not made and said so."
    )


class BudgetUsage(BaseModel):
    steps: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


CallStatus = Literal[
    "proposed",  # the model asked for it; not checked yet
    "invalid",  # refused before running: unknown tool, unavailable app or bad arguments
    "awaiting_approval",  # has side effects; waits for the owner
    "approved",  # cleared to run (read-only, allowed by policy, or approved)
    "rejected",  # the owner said no
    "would_run",  # dry run: cleared, but not made
    "running",
    "succeeded",
    "failed",
    "unknown",  # interrupted while running; it may or may not have taken effect
    "skipped",  # not made: the plan stopped (budget ran out) before it could run
]

#: The old name of :data:`PlanStatus`.
PlanState = PlanStatus
PLAN_STATUSES: tuple[str, ...] = get_args(PlanStatus)
#: Statuses after which nothing more happens to a plan without a new instruction.
TERMINAL_STATUSES = frozenset(
    {"succeeded", "partial", "no_action", "needs_input", "failed", "cancelled", "budget_exhausted", "dry_run"}
)


class PlannedCall(BaseModel):
    """One tool call the model asked for, and what became of it."""

    id: str = Field(description="The model's tool-use id; pass it to plan_approve to approve only some calls.")
    turn: int = Field(description="The model turn that asked for it (1-based).")
    tool: str
    source: str = Field("", description="'nexus' or the slug of the satellite app that runs the tool.")
    arguments: dict[str, Any] = Field(default_factory=dict)
    read_only: bool = False
    idempotent: bool = False
    needs_approval: bool = False
    status: CallStatus = "proposed"
    seq: int | None = Field(None, description="Step number in the plan stored in memory.")
    result_summary: str = ""
    error: str = ""
    interrupted: bool = Field(False, description="It was running when Nexus stopped; it was not re-run blindly.")


class PlanResult(BaseModel):
    """A plan as the planner reports it: calls, status, answer and what it cost."""

    plan_id: int
    conversation_id: int | None = None
    instruction: str
    started_by: str = Field("owner", description="Who gave the instruction; the plan's calls run with their role.")
    started_by_role: str = Field("owner", description="That caller's role (owner, agent).")
    status: PlanState
    dry_run: bool = False
    answer: str = Field("", description="What was done, what failed and what is left, in plain words.")
    calls: list[PlannedCall] = Field(default_factory=list)
    tools_offered: list[str] = Field(default_factory=list, description="Tools the model was shown, best first.")
    usage: BudgetUsage = Field(default_factory=BudgetUsage)
    budget: Budget = Field(default_factory=Budget)
    backend: str = Field("", description="Which planner model ran: 'offline' or 'anthropic:<model>'.")
    next_action: str = Field("", description="What the owner can do next, if anything.")
    question: str = Field("", description="Status needs_input: what the owner must say before anything is done.")
    unmet: list[str] = Field(default_factory=list, description="Capabilities asked for that no reachable tool has.")

    @property
    def pending(self) -> list[PlannedCall]:
        return [c for c in self.calls if c.status == "awaiting_approval"]


class ProgressEvent(BaseModel):
    stage: str = Field(description="recall, select, plan, validate, approve, run, answer")
    message: str
    step: int = 0
    max_steps: int = 0


# -- what the tools need from the planner -----------------------------------------
class Approver(Protocol):
    async def confirm(self, plan: PlanResult, calls: Sequence[PlannedCall]) -> bool | None: ...


Progress = Callable[[ProgressEvent], Awaitable[None]]


class PlanRunner(Protocol):
    """What the planner tools call; :class:`nexus_agent.planner.Planner` implements it."""

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
    ) -> PlanResult: ...
    async def get(self, plan_id: int) -> PlanResult: ...
    async def approve(
        self,
        plan_id: int,
        call_ids: Sequence[str] | None = None,
        *,
        actor: str = "owner",
        note: str = "",
        progress: Progress | None = None,
    ) -> PlanResult: ...
    async def reject(self, plan_id: int, reason: str = "", *, actor: str = "owner") -> PlanResult: ...
    async def resume(
        self, plan_id: int, *, approver: Approver | None = None, progress: Progress | None = None, actor: str = "owner"
    ) -> PlanResult: ...
