"""Flow tools: instruct satellites and follow the instructions up; process and decide registrations."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from nexus_agent.auth.policy import EVERY_ROLE, OWNER_ONLY, REPORTING, SATELLITE_SCOPED
from nexus_agent.flows import (
    Instruction,
    InstructionPage,
    InstructionService,
    InstructionStatus,
    RegistrationOutcome,
    RegistrationPolicy,
    ReportOutcome,
    approve_registration,
    process_pending_registrations,
    request_changes,
)
from nexus_agent.flows.models import INSTRUCTION_ID_PATTERN
from nexus_agent.services import NexusServices
from nexus_agent.truth.base import TruthSource
from nexus_agent.wire.errors import ConfigError
from nexus_agent.wire.models import Slug, utcnow
from tools.base import ToolCall, ToolInput, ToolSpec

__all__ = ["FLOW_TOOLS", "instruction_service", "registration_policy"]

InstructionId = Annotated[str, Field(pattern=INSTRUCTION_ID_PATTERN, examples=["ins-20251103-1a2b3c4d"])]


# -- wiring -------------------------------------------------------------------------------------
def _truth(services: NexusServices) -> TruthSource:
    if services.truth is None:
        raise ConfigError("no truth source is configured", hint="Set NEXUS_TRUTH=local or github.")
    return services.truth


def instruction_service(services: NexusServices) -> InstructionService:
    """The process's one instruction service (built with the core; notices leave through ``services.notify``)."""
    return services.instructions


def registration_policy(services: NexusServices) -> RegistrationPolicy:
    """The owner's policy: ``settings.registration_auto_approve`` (default False: wait for the owner)."""
    return RegistrationPolicy(auto_approve=services.settings.registration_auto_approve)


# -- instructions -------------------------------------------------------------------------------
class CreateInput(ToolInput):
    targets: list[Slug] = Field(..., min_length=1, max_length=50, description="Slugs of the apps to instruct.")
    action: str = Field(
        ...,
        min_length=1,
        max_length=100,
        pattern=r"^[a-z0-9][a-z0-9_.-]*$",
        description="What to do, as a short lower-case name, e.g. 'export.customers' or 'backup'.",
    )
    description: str = Field("", max_length=4000, description="What to do, in plain words, for the satellite.")
    inputs: dict[str, Any] = Field(
        default_factory=dict, description="Parameters for the satellite (JSON). Never put secrets here."
    )
    deadline: datetime | None = Field(None, description="When it must be done (ISO 8601); it expires after.")
    due_in_hours: float | None = Field(None, gt=0, le=24 * 366, description="Alternative to deadline: hours from now.")
    open_issue: bool = Field(False, description="Also open an issue in the truth source to track it.")


class CreatedInstructions(BaseModel):
    instructions: list[Instruction]
    delivered: int = Field(description="How many satellites were notified; the others stay pending.")


async def instruction_create(call: ToolCall, params: CreateInput) -> CreatedInstructions:
    deadline = params.deadline
    if deadline is None and params.due_in_hours is not None:
        deadline = utcnow() + timedelta(hours=params.due_in_hours)
    made = await instruction_service(call.services).create(
        params.targets,
        params.action,
        params.description,
        inputs=params.inputs,
        deadline=deadline,
        actor=call.actor,
        open_issue=params.open_issue,
    )
    delivered = sum(1 for i in made if i.status is not InstructionStatus.pending)
    return CreatedInstructions(instructions=made, delivered=delivered)


class ListInput(ToolInput):
    target: Slug | None = Field(None, description="Only instructions for this app.")
    status: list[InstructionStatus] = Field(
        default_factory=list, max_length=6, description="Any of these (empty: all)."
    )
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=100_000)


async def instruction_list(call: ToolCall, params: ListInput) -> InstructionPage:
    return await instruction_service(call.services).list(params.target, params.status, params.limit, params.offset)


class GetInput(ToolInput):
    id: InstructionId


async def instruction_get(call: ToolCall, params: GetInput) -> Instruction:
    return await instruction_service(call.services).get(params.id)


class ReportInput(ToolInput):
    id: InstructionId
    status: Literal["completed", "failed"] = Field(description="Whether the satellite carried the instruction out.")
    result_summary: str = Field("", max_length=4000, description="What was done, or why it could not be.")
    outputs: dict[str, Any] = Field(default_factory=dict, description="Results the owner may need (no secrets).")


async def instruction_report(call: ToolCall, params: ReportInput) -> ReportOutcome:
    """A satellite reports on its instruction over MCP, checked like a report file in the truth source."""
    service = instruction_service(call.services)
    ins = await service.get(params.id)
    report = {
        "instruction_id": ins.id,
        "target": ins.target,
        "status": params.status,
        "result_summary": params.result_summary,
        "outputs": params.outputs,
        "reported_by": call.actor,
        "reported_at": utcnow().isoformat(),
    }
    return await service.accept_report(ins.id, report, source=f"instruction_report by {call.actor}")


class RefreshInput(ToolInput):
    pass


class Refreshed(BaseModel):
    redelivered: list[Instruction] = Field(description="Pending instructions whose satellite was notified now.")
    reports: list[ReportOutcome] = Field(description="Reports read: completed, failed or invalid.")
    expired: list[Instruction] = Field(description="Instructions whose deadline passed.")


async def instructions_refresh(call: ToolCall, params: RefreshInput) -> Refreshed:
    service = instruction_service(call.services)
    redelivered = await service.redeliver(actor=call.actor)
    reports = await service.collect_reports(actor=call.actor)
    expired = await service.expire_overdue(actor=call.actor)
    return Refreshed(redelivered=redelivered, reports=reports, expired=expired)


# -- registrations ------------------------------------------------------------------------------
class ProcessInput(ToolInput):
    pass


class Processed(BaseModel):
    outcomes: list[RegistrationOutcome]


async def registrations_process(call: ToolCall, params: ProcessInput) -> Processed:
    s = call.services
    outcomes = await process_pending_registrations(
        _truth(s), s.registry, s.memory, policy=registration_policy(s), actor=call.actor
    )
    if any(o.outcome == "approved" for o in outcomes):
        await s.sync_satellites()
    return Processed(outcomes=outcomes)


class ApproveInput(ToolInput):
    issue_number: int = Field(..., ge=1, description="The registration issue, e.g. 12.")
    reason: str = Field("", max_length=1000, description="Why (recorded with the decision).")


async def registration_approve(call: ToolCall, params: ApproveInput) -> RegistrationOutcome:
    s = call.services
    outcome = await approve_registration(
        _truth(s), s.registry, s.memory, params.issue_number, actor=call.actor, reason=params.reason,
        policy=registration_policy(s),
    )  # fmt: skip
    await s.sync_satellites()
    return outcome


class RequestChangesInput(ToolInput):
    issue_number: int = Field(..., ge=1, description="The registration issue, e.g. 12.")
    problems: list[Annotated[str, Field(min_length=1, max_length=2000)]] = Field(
        ..., min_length=1, max_length=50, description="Each thing the satellite must change, one per item."
    )


async def registration_request_changes(call: ToolCall, params: RequestChangesInput) -> RegistrationOutcome:
    s = call.services
    return await request_changes(_truth(s), s.memory, params.issue_number, params.problems, actor=call.actor)


FLOW_TOOLS: list[ToolSpec] = [
    ToolSpec(
        name="instruction_create",
        roles=OWNER_ONLY,
        title="Instruct satellites",
        description=(
            "Give one or more satellite apps an instruction: what to do (action and description), its inputs "
            "and an optional deadline. Nexus writes instructions/<slug>/<id>.json in the truth source and sends "
            "each app a signed webhook; the app reports back in reports/<slug>/<id>.json. Targets must be "
            "registered and not retired; inputs must not hold secrets."
        ),
        input_model=CreateInput,
        output_model=CreatedInstructions,
        handler=instruction_create,
        read_only=False,
        open_world=True,
        group="instructions",
    ),
    ToolSpec(
        name="instruction_list",
        roles=EVERY_ROLE,
        title="List instructions",
        description=(
            "List instructions newest first, optionally for one app or in some statuses (pending, delivered, "
            "acknowledged, completed, failed, expired); paginate with limit/offset."
        ),
        input_model=ListInput,
        output_model=InstructionPage,
        handler=instruction_list,
        read_only=True,
        idempotent=True,
        group="instructions",
    ),
    ToolSpec(
        name="instruction_get",
        roles=SATELLITE_SCOPED,
        title="Get instruction",
        description="One instruction by id: target, inputs, deadline, status, result and every status change.",
        input_model=GetInput,
        output_model=Instruction,
        handler=instruction_get,
        read_only=True,
        idempotent=True,
        group="instructions",
    ),
    ToolSpec(
        name="instruction_report",
        roles=REPORTING,
        title="Report on an instruction",
        description=(
            "A satellite reports on an instruction it was given: completed or failed, a summary and any "
            "outputs. It is checked like a report file (reports/<slug>/<id>.json) and completes or fails the "
            "instruction. A satellite may report only on its own instructions."
        ),
        input_model=ReportInput,
        output_model=ReportOutcome,
        handler=instruction_report,
        read_only=False,
        group="instructions",
    ),
    ToolSpec(
        name="instructions_refresh",
        roles=OWNER_ONLY,
        title="Follow up instructions",
        description=(
            "Follow up every open instruction: notify satellites still pending, read the reports they wrote "
            "(completing or failing their instructions) and expire instructions past their deadline."
        ),
        input_model=RefreshInput,
        output_model=Refreshed,
        handler=instructions_refresh,
        read_only=False,
        idempotent=True,
        open_world=True,
        group="instructions",
    ),
    ToolSpec(
        name="registrations_process",
        roles=OWNER_ONLY,
        title="Process registrations",
        description=(
            "Review every pending registration issue in the truth source: validate the app record, look for "
            "secrets and likely duplicates, then ask for changes, approve (when the owner's policy allows) or "
            "leave it waiting for the owner's approval. Running it again changes nothing new."
        ),
        input_model=ProcessInput,
        output_model=Processed,
        handler=registrations_process,
        read_only=False,
        idempotent=True,
        group="registrations",
    ),
    ToolSpec(
        name="registration_approve",
        roles=OWNER_ONLY,
        title="Approve registration",
        description=(
            "The owner approves a registration issue: it is checked again, the app is registered as approved, "
            "its registry file is written and the issue is labelled approved and closed."
        ),
        input_model=ApproveInput,
        output_model=RegistrationOutcome,
        handler=registration_approve,
        read_only=False,
        idempotent=True,
        group="registrations",
    ),
    ToolSpec(
        name="registration_request_changes",
        roles=OWNER_ONLY,
        title="Request registration changes",
        description=(
            "The owner asks a satellite to change its registration: a comment listing each problem on the "
            "registration issue, which is labelled changes-requested."
        ),
        input_model=RequestChangesInput,
        output_model=RegistrationOutcome,
        handler=registration_request_changes,
        read_only=False,
        group="registrations",
    ),
]
