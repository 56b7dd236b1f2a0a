"""Wire models of the flows (no I/O): what Nexus and a satellite exchange through the truth source.

Nexus (:mod:`nexus_agent.flows`) and the satellite kit both import this module, so both sides
read and write the same shapes::

    registrations/<slug>.json                  a satellite's registration (AppRecord JSON)
    registrations/<slug>.business-logic.json   its extracted business logic (optional, any JSON object)
    backups/<slug>/<path>                      its code backup (optional, any files)
    instructions/<slug>/<id>.json              an Instruction for a satellite (Nexus writes it)
    reports/<slug>/<id>.json                   the satellite's InstructionReport (the satellite writes it)

Instruction lifecycle (illegal moves are a Conflict)::

    pending -> delivered -> acknowledged -> completed | failed | expired
    pending and delivered may also expire.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nexus_agent.wire.errors import InvalidInput
from nexus_agent.wire.models import Slug, is_slug
from nexus_agent.wire.truth import check_path

__all__ = [
    "INSTRUCTION_EVENT",
    "INSTRUCTION_ID_PATTERN",
    "LABEL_APPROVED",
    "LABEL_CHANGES_REQUESTED",
    "LABEL_INSTRUCTION",
    "LABEL_PENDING",
    "LABEL_REGISTRATION",
    "LABEL_SATELLITE",
    "OPEN_STATUSES",
    "REGISTRATIONS",
    "TERMINAL_STATUSES",
    "Instruction",
    "InstructionPage",
    "InstructionReport",
    "InstructionResult",
    "InstructionStatus",
    "InstructionTransition",
    "RegistrationSubmission",
    "ReportOutcome",
    "backup_path",
    "business_logic_path",
    "new_instruction_id",
    "registration_path",
    "render_json",
]

#: The webhook event a satellite receives when Nexus writes an instruction for it.
INSTRUCTION_EVENT = "instruction.created"
INSTRUCTION_ID_PATTERN = r"^ins-\d{8}-[0-9a-f]{8}$"

LABEL_REGISTRATION = "registration"
LABEL_SATELLITE = "satellite-app"
LABEL_PENDING = "pending-approval"
LABEL_APPROVED = "approved"
LABEL_CHANGES_REQUESTED = "changes-requested"
LABEL_INSTRUCTION = "instruction"

REGISTRATIONS = "registrations"


def registration_path(slug: str) -> str:
    return f"{REGISTRATIONS}/{_slug(slug)}.json"


def business_logic_path(slug: str) -> str:
    return f"{REGISTRATIONS}/{_slug(slug)}.business-logic.json"


def backup_path(slug: str, relative: str) -> str:
    """``backups/<slug>/<relative>``, where ``relative`` may hold folders ('src/app.py')."""
    return check_path(f"backups/{_slug(slug)}/{relative}", what="backup path")


def _slug(slug: str) -> str:
    if not is_slug(slug):
        raise InvalidInput(f"{slug!r} is not an app slug", hint="Use lower-case letters, digits and hyphens.")
    return slug


def new_instruction_id(now: datetime) -> str:
    """'ins-20251103-1a2b3c4d': the UTC date, then 8 random hex digits."""
    return f"ins-{now.astimezone(UTC):%Y%m%d}-{uuid.uuid4().hex[:8]}"


def render_json(model: BaseModel) -> bytes:
    """A truth file: pretty JSON, sorted keys, trailing newline (the same model renders the same bytes)."""
    data = model.model_dump(mode="json")
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# -- registration ---------------------------------------------------------------------------
class RegistrationSubmission(_Wire):
    """What a registration issue points at; the kit embeds it in the issue body as an HTML comment."""

    slug: Slug
    registration: str = Field(description="registrations/<slug>.json")
    business_logic: str | None = Field(None, description="registrations/<slug>.business-logic.json, if sent")
    backups: list[str] = Field(default_factory=list, max_length=10_000, description="backups/<slug>/... files sent")
    commit: str | None = Field(None, description="The commit that wrote these files.")

    def to_marker(self) -> str:
        """An HTML comment (invisible on GitHub) that :meth:`from_issue_body` reads back."""
        return f"<!-- nexus-registration {self.model_dump_json()} -->"

    @classmethod
    def from_issue_body(cls, body: str) -> RegistrationSubmission | None:
        """The submission named in an issue body, or None when the body has no (valid) marker."""
        found = re.search(r"<!--\s*nexus-registration\s+(\{.*?\})\s*-->", body or "", re.DOTALL)
        if found is None:
            return None
        try:
            return cls.model_validate_json(found.group(1))
        except ValueError:
            return None


# -- instructions ---------------------------------------------------------------------------
class InstructionStatus(StrEnum):
    pending = "pending"
    delivered = "delivered"
    acknowledged = "acknowledged"
    completed = "completed"
    failed = "failed"
    expired = "expired"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({InstructionStatus.completed, InstructionStatus.failed, InstructionStatus.expired})
OPEN_STATUSES = frozenset(InstructionStatus) - TERMINAL_STATUSES

Actor = Annotated[str, Field(min_length=1, max_length=200)]
Action = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        pattern=r"^[a-z0-9][a-z0-9_.-]*$",
        description="What to do, as a short lower-case name, e.g. 'export.customers' or 'backup'.",
    ),
]


class InstructionTransition(_Wire):
    """One step of an instruction's life: who moved it, when, and why."""

    from_status: InstructionStatus | None
    to_status: InstructionStatus
    by: Actor
    at: datetime
    reason: Annotated[str, Field(max_length=4000)] = ""


class InstructionResult(_Wire):
    """What the satellite reported, as Nexus accepted it."""

    status: Literal["completed", "failed"]
    summary: Annotated[str, Field(max_length=4000)] = ""
    outputs: dict[str, Any] = Field(default_factory=dict)
    reported_by: Actor
    reported_at: datetime
    report_sha: str = Field(description="git blob sha of the report file Nexus read.")


class Instruction(_Wire):
    """An instruction for one satellite. Nexus owns it; the satellite reads it and reports on it."""

    id: Annotated[str, Field(pattern=INSTRUCTION_ID_PATTERN, examples=["ins-20251103-1a2b3c4d"])]
    target: Slug
    action: Action
    description: Annotated[str, Field(max_length=4000)] = ""
    inputs: dict[str, Any] = Field(default_factory=dict)
    deadline: datetime | None = None
    status: InstructionStatus = InstructionStatus.pending
    created_by: Actor
    created_at: datetime
    updated_at: datetime
    issue_number: int | None = Field(None, description="The truth source issue tracking it, if one was opened.")
    delivery_id: str | None = Field(None, description="The webhook delivery that notified the satellite.")
    result: InstructionResult | None = None
    history: list[InstructionTransition] = Field(default_factory=list)

    _aware_times = field_validator("deadline", "created_at", "updated_at")(_aware)

    @property
    def path(self) -> str:
        return f"instructions/{self.target}/{self.id}.json"

    @property
    def report_path(self) -> str:
        return f"reports/{self.target}/{self.id}.json"


class InstructionReport(_Wire):
    """``reports/<slug>/<id>.json``: the satellite's word that it carried an instruction out (or could not)."""

    instruction_id: Annotated[str, Field(pattern=INSTRUCTION_ID_PATTERN)]
    target: Slug
    status: Literal["completed", "failed"]
    result_summary: Annotated[str, Field(max_length=4000)] = ""
    outputs: dict[str, Any] = Field(default_factory=dict)
    reported_by: Actor
    reported_at: datetime

    _aware_time = field_validator("reported_at")(_aware)


class InstructionPage(BaseModel):
    """One page of instructions, newest first."""

    items: list[Instruction]
    total: int
    limit: int
    offset: int
    next_offset: int | None = None


class ReportOutcome(BaseModel):
    """What collecting reports did with one report file."""

    instruction_id: str
    target: str
    outcome: Literal["completed", "failed", "invalid"]
    problems: list[str] = Field(default_factory=list, description="Why an invalid report was not accepted.")
    instruction: Instruction | None = None
