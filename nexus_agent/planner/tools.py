"""Planner tools: give Nexus an instruction, then inspect, approve, reject or resume its plan.

The planner's models (:data:`~nexus_agent.planner.models.PlanStatus`, ``Budget``, ``PlannedCall``,
``PlanResult``, ``PlanRunner``...) live with the planner in :mod:`nexus_agent.planner.models`; these MCP
tool specs speak them. The planner itself is reached through ``call.services.planner`` (any object with
the :class:`PlanRunner` methods). They are served beside Nexus's own tools by :mod:`nexus_agent.toolset`.

Approval of side effects fails closed. ``instruct`` asks the owner through MCP
elicitation when the client can answer: over a back-channel (``ctx.elicit``,
handshake-era clients) or as an ``input_required`` round (2026-07-28 clients).
Otherwise, or when nobody answers, the plan waits with an id; ``plan_approve``
or ``plan_reject`` settles it later. No answer means no call. An unclear
instruction becomes a question the same way (status ``needs_input`` when
nobody can answer).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from nexus_agent.auth.policy import PLAN_ROLES
from nexus_agent.planner.approval import ApprovalAnswer, ElicitationApprover, approval_message
from nexus_agent.planner.models import (
    Approver,
    Budget,
    BudgetUsage,
    CallStatus,
    PlannedCall,
    PlanResult,
    PlanRunner,
    PlanState,
    PlanStatus,
    Progress,
    ProgressEvent,
)
from nexus_agent.wire.errors import ConfigError, Conflict
from tools.base import ToolCall, ToolInput, ToolSpec

__all__ = [
    "APPROVAL_REQUEST_KEY",
    "PLANNER_TOOLS",
    "PLANNER_TOOL_NAMES",
    "QUESTION_REQUEST_KEY",
    "ApprovalAnswer",
    "Approver",
    "Budget",
    "BudgetUsage",
    "CallStatus",
    "Clarification",
    "ElicitationApprover",
    "PlanResult",
    "PlanRunner",
    "PlanState",
    "PlanStatus",
    "PlannedCall",
    "Progress",
    "ProgressEvent",
    "approval_message",
    "make_planner_tools",
    "runtime_planner",
]

log = logging.getLogger("nexus.planner.tools")

#: Key of the approval question in an ``input_required`` round.
APPROVAL_REQUEST_KEY = "nexus_plan_approval"
#: Key of the planner's question (an unclear instruction) in an ``input_required`` round.
QUESTION_REQUEST_KEY = "nexus_plan_question"
_ASKED = "nexus-question:"
_STATE_PREFIX = "nexus-plan:"


class Clarification(BaseModel):
    answer: str = Field(min_length=1, max_length=500, description="Your answer (for example the quote id).")


async def _clarify(ctx: Any, plan: PlanResult) -> str:
    """Ask the planner's question by elicitation; '' when the owner declines or cannot answer (fail closed)."""
    try:
        outcome = await ctx.elicit(f"Nexus needs to know before doing anything: {plan.question}", Clarification)
    except Exception as exc:  # no back-channel or no capability: the plan stays needs_input
        log.info("plan %s: could not ask the question (%s)", plan.plan_id, exc)
        return ""
    if getattr(outcome, "action", None) != "accept":
        return ""
    return " ".join(str(getattr(outcome.data, "answer", "")).split())[:500]


def _context(call: ToolCall) -> Any:
    """The MCP request context, when the edge passed one (``ToolCall.context``)."""
    return getattr(call, "context", None)


def _modern(ctx: Any) -> bool:
    version = getattr(ctx, "protocol_version", None) or ""
    return version >= "2026-07-28"


def _can_elicit(ctx: Any) -> bool:
    caps = getattr(ctx, "client_capabilities", None)
    return caps is not None and getattr(caps, "elicitation", None) is not None


def _approver_for(ctx: Any) -> Approver | None:
    if ctx is None or _modern(ctx) or not _can_elicit(ctx):
        return None
    return ElicitationApprover(ctx.elicit)


def _input_required(plan: PlanResult) -> Any:
    """Ask for approval as an ``input_required`` round (MCP 2026-07-28)."""
    from mcp.server.elicitation import render_elicitation_schema
    from mcp_types import ElicitRequest, ElicitRequestFormParams, InputRequiredResult

    params = ElicitRequestFormParams(
        message=approval_message(plan, plan.pending), requested_schema=render_elicitation_schema(ApprovalAnswer)
    )
    return InputRequiredResult(
        input_requests={APPROVAL_REQUEST_KEY: ElicitRequest(params=params)},
        request_state=f"{_STATE_PREFIX}{plan.plan_id}",
    )


# -- tool inputs -----------------------------------------------------------------
class InstructInput(ToolInput):
    instruction: str = Field(
        ...,
        min_length=1,
        max_length=4000,
        description="What to do, in the owner's words, e.g. 'Chase every quote over £25k waiting more than a week'.",
    )
    dry_run: bool = Field(
        False, description="Only plan: return the calls it would make; nothing with side effects runs."
    )
    budget: Budget = Field(default_factory=Budget, description="Limits on model turns, tokens and wall time.")


class PlanIdInput(ToolInput):
    plan_id: int = Field(..., ge=1, description="The plan id returned by instruct.")


class ApproveInput(PlanIdInput):
    call_ids: list[str] = Field(
        default_factory=list,
        max_length=200,
        description="Approve only these pending calls (their ids); the others are rejected. Empty: approve all "
        "but those interrupted mid-call (they may already have taken effect: name them to run them again).",
    )
    note: str = Field("", max_length=2000, description="Why you approve (kept with the decision).")


class RejectInput(PlanIdInput):
    reason: str = Field("", max_length=2000, description="Why you reject the plan (kept with the decision).")


# -- handlers ---------------------------------------------------------------------
PlannerLookup = Callable[[Any], PlanRunner]


def runtime_planner(services: Any) -> PlanRunner:
    """The planner the runtime was built with (``open_services(..., planner=planner_from_settings)``)."""
    planner = services.planner
    if planner is None:
        raise ConfigError(
            "the planner is not configured in this Nexus process",
            hint="Give the runtime a planner when it is built: open_services(..., planner=planner_from_settings).",
        )
    return planner


def _progress(call: ToolCall) -> Progress:
    async def report(event: ProgressEvent) -> None:
        await call.progress(float(event.step), float(event.max_steps) or None, f"[{event.stage}] {event.message}")

    return report


class _Handlers:
    """The planner tools' handlers over ``planner_of(services)``."""

    def __init__(self, planner_of: PlannerLookup) -> None:
        self.planner_of = planner_of

    async def instruct(self, call: ToolCall, params: InstructInput) -> PlanResult:
        planner, ctx = self.planner_of(call.services), _context(call)
        if ctx is not None and _modern(ctx) and str(getattr(ctx, "request_state", "") or "").startswith(_ASKED):
            said, plan = await _question_answer(planner, ctx)  # the owner answered the planner's question
            if not said:
                return plan
            return await self._start(call, params.model_copy(update={"instruction": f"{plan.instruction} ({said})"}))
        if ctx is not None and _modern(ctx) and getattr(ctx, "request_state", None):
            return await _answer_round(planner, call, ctx)
        return await self._start(call, params)

    async def _start(self, call: ToolCall, params: InstructInput) -> PlanResult:
        planner, ctx = self.planner_of(call.services), _context(call)
        result = await planner.run(
            params.instruction,
            dry_run=params.dry_run,
            budget=params.budget,
            approver=_approver_for(ctx),
            progress=_progress(call),
            actor=call.actor,
            principal=call.principal,  # the plan runs with the instructing caller's role, whoever approves it
        )
        if result.status == "needs_input" and ctx is not None and _modern(ctx) and _can_elicit(ctx):
            return _question_round(result)  # type: ignore[no-any-return]  # the SDK passes it through
        if result.status == "needs_input" and _approver_for(ctx) is not None:
            said = await _clarify(ctx, result)  # the owner answers the planner's question, or nothing is done
            if said:
                again = params.model_copy(update={"instruction": f"{params.instruction} ({said})"})
                return await self._start(call, again)
        if result.status == "awaiting_approval" and ctx is not None and _modern(ctx) and _can_elicit(ctx):
            return _input_required(result)  # type: ignore[no-any-return]  # the SDK passes it through
        return result

    async def plan_get(self, call: ToolCall, params: PlanIdInput) -> PlanResult:
        return await self.planner_of(call.services).get(params.plan_id)

    async def plan_approve(self, call: ToolCall, params: ApproveInput) -> PlanResult:
        return await self.planner_of(call.services).approve(
            params.plan_id, params.call_ids or None, actor=call.actor, note=params.note, progress=_progress(call)
        )

    async def plan_reject(self, call: ToolCall, params: RejectInput) -> PlanResult:
        return await self.planner_of(call.services).reject(params.plan_id, params.reason, actor=call.actor)

    async def plan_resume(self, call: ToolCall, params: PlanIdInput) -> PlanResult:
        return await self.planner_of(call.services).resume(
            params.plan_id, approver=_approver_for(_context(call)), progress=_progress(call), actor=call.actor
        )


# name, title, description, input model, annotations
_TABLE: list[tuple[str, str, str, type[ToolInput], dict[str, bool]]] = [
    (
        "instruct",
        "Give Nexus an instruction",
        (
            "Tell Nexus what to do in plain words ('Chase every quote over £25k that has been waiting more "
            "than a week and tell me which need my approval'). Nexus picks the satellite apps and tools it "
            "needs, checks every call, runs read-only calls, asks the owner before anything with side "
            "effects, and answers with what was done, what failed and what is left. When approval cannot "
            "be asked here, the plan waits: its id comes back with status 'awaiting_approval' (use "
            "plan_approve or plan_reject). When nothing reachable covers the instruction the answer says "
            "so (status 'no_action', no call); when it is unclear Nexus asks the owner (elicitation) or "
            "returns status 'needs_input' with the question. A question is answered with read-only tools "
            "only. dry_run=true only plans. Everything is logged to memory."
        ),
        InstructInput,
        {"read_only": False, "open_world": True},
    ),
    (
        "plan_get",
        "Inspect a plan",
        (
            "Show one plan made by instruct: its status, every call with its arguments, status and result "
            "summary, the calls waiting for approval, the answer and the budget used. Works for finished, "
            "waiting and interrupted plans. Arguments are shown with secrets redacted."
        ),
        PlanIdInput,
        {"read_only": True, "idempotent": True},
    ),
    (
        "plan_approve",
        "Approve a waiting plan",
        (
            "The owner approves the calls a plan is waiting on (all, or only the call_ids given; the rest "
            "are rejected). Nexus then runs them and carries on with the plan. A call that was interrupted "
            "mid-run may already have taken effect: it runs again only when named in call_ids. Only the owner "
            "should approve: these calls change data in the satellite apps."
        ),
        ApproveInput,
        {"read_only": False, "destructive": True, "open_world": True},
    ),
    (
        "plan_reject",
        "Reject a waiting plan",
        ("Reject the calls a plan is waiting on and close the plan; nothing more is run."),
        RejectInput,
        {"read_only": False, "idempotent": True},
    ),
    (
        "plan_resume",
        "Resume an interrupted plan",
        (
            "Carry on with a plan that was interrupted (Nexus stopped mid-plan). Calls that already "
            "succeeded are not repeated; a call with side effects that was running when Nexus stopped is "
            "not re-run without the owner's approval."
        ),
        PlanIdInput,
        {"read_only": False, "open_world": True},
    ),
]


def make_planner_tools(planner_of: PlannerLookup = runtime_planner) -> list[ToolSpec[Any, Any]]:
    """The planner's MCP tools; ``planner_of(services)`` returns the planner to use."""
    handlers = _Handlers(planner_of)
    return [
        ToolSpec(
            name=name,
            roles=PLAN_ROLES,
            title=title,
            description=description,
            input_model=model,
            output_model=PlanResult,
            handler=getattr(handlers, name),
            group="planner",
            read_only=flags.get("read_only", False),
            idempotent=flags.get("idempotent", False),
            destructive=flags.get("destructive", False),
            open_world=flags.get("open_world", False),
        )
        for name, title, description, model, flags in _TABLE
    ]


def _question_round(plan: PlanResult) -> Any:
    """Ask the planner's question as an ``input_required`` round (MCP 2026-07-28)."""
    from mcp.server.elicitation import render_elicitation_schema
    from mcp_types import ElicitRequest, ElicitRequestFormParams, InputRequiredResult

    params = ElicitRequestFormParams(
        message=f"Nexus needs to know before doing anything: {plan.question}",
        requested_schema=render_elicitation_schema(Clarification),
    )
    return InputRequiredResult(
        input_requests={QUESTION_REQUEST_KEY: ElicitRequest(params=params)}, request_state=f"{_ASKED}{plan.plan_id}"
    )


async def _question_answer(planner: PlanRunner, ctx: Any) -> tuple[str, PlanResult]:
    """Second round of a question: the owner's answer ('' when declined or absent) and the plan asked about."""
    state = str(ctx.request_state)
    if not state[len(_ASKED) :].isdigit():
        raise Conflict("the answer does not belong to a Nexus plan", hint="Call instruct again.")
    plan = await planner.get(int(state[len(_ASKED) :]))
    answer = (getattr(ctx, "input_responses", None) or {}).get(QUESTION_REQUEST_KEY)
    content = getattr(answer, "content", None) or {}
    said = str(content.get("answer", "")) if getattr(answer, "action", None) == "accept" else ""
    return " ".join(said.split())[:500], plan


async def _answer_round(planner: PlanRunner, call: ToolCall, ctx: Any) -> PlanResult:
    """Second round of an ``input_required`` approval: apply the owner's answer."""
    state = str(ctx.request_state)
    if not state.startswith(_STATE_PREFIX) or not state[len(_STATE_PREFIX) :].isdigit():
        raise Conflict("the approval answer does not belong to a Nexus plan", hint="Call instruct again.")
    plan_id = int(state[len(_STATE_PREFIX) :])
    answer = (getattr(ctx, "input_responses", None) or {}).get(APPROVAL_REQUEST_KEY)
    action = getattr(answer, "action", None)
    content = getattr(answer, "content", None) or {}
    if action == "accept" and content.get("approve") is True:
        return await planner.approve(plan_id, None, actor=call.actor, note="approved through MCP elicitation")
    if action in {"accept", "decline"}:
        return await planner.reject(plan_id, "declined through MCP elicitation", actor=call.actor)
    return await planner.get(plan_id)  # cancelled or no answer: the plan keeps waiting


PLANNER_TOOLS: list[ToolSpec[Any, Any]] = make_planner_tools()
PLANNER_TOOL_NAMES: frozenset[str] = frozenset(spec.name for spec in PLANNER_TOOLS)
