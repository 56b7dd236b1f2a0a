"""What goes into memory and what comes back out (pydantic, no I/O).

Inputs (``*In``, ``SearchQuery``, ``PlanStepUpdate``) are strict: unknown fields
are refused, text is stripped and every size is bounded. Outputs carry the ids
and UTC timestamps the store assigned.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nexus_agent.wire.errors import InvalidInput
from nexus_agent.wire.models import Slug

__all__ = [
    "KINDS",
    "MAX_OFFSET",
    "ActivityItem",
    "Actor",
    "Conversation",
    "ConversationDetail",
    "ConversationIn",
    "Decision",
    "DecisionIn",
    "Kind",
    "Message",
    "MessageIn",
    "Note",
    "NoteIn",
    "Plan",
    "PlanIn",
    "PlanStatus",
    "PlanStep",
    "PlanStepIn",
    "PlanStepUpdate",
    "Role",
    "SearchHit",
    "SearchPage",
    "SearchQuery",
    "StepStatus",
    "Tag",
    "parse_input",
]

Kind = Literal["note", "decision", "message", "plan"]
KINDS: tuple[Kind, ...] = ("note", "decision", "message", "plan")
Role = Literal["user", "assistant", "system", "tool"]
#: The one plan-status vocabulary: what ``plans.status`` holds, what memory, the planner
#: (``nexus_agent.planner.models`` re-exports it), its MCP tools, metrics and the status page say.
#: Defined here, where plans are stored, because memory sits below the planner (imports flow down).
PlanStatus = Literal[
    "running",
    "awaiting_approval",
    "succeeded",  # every call the plan needed was made and the instruction was answered
    "partial",  # some calls failed (and were not made good later), or part of the ask could not be served
    "no_action",  # nothing reachable covers the ask: the answer says what is missing; no call was made
    "needs_input",  # the ask was unclear: the answer is a question for the owner; no call was made
    "failed",
    "cancelled",
    "budget_exhausted",
    "dry_run",
    "interrupted",
]
StepStatus = Literal["pending", "running", "succeeded", "failed", "skipped"]

#: Deepest ``offset`` a search accepts; pages stop there (see ``SearchPage.capped``).
MAX_OFFSET = 10_000
MAX_ARGUMENTS_BYTES = 64 * 1024

Actor = Annotated[str, Field(min_length=1, max_length=200, description="Who did it: a person, 'nexus' or an app.")]
Tag = Annotated[
    str, Field(min_length=1, max_length=100, description="A free label; filters match it case-insensitively.")
]
Title = Annotated[str, Field(max_length=200)]
Apps = Annotated[list[Slug], Field(max_length=50, description="Slugs of the apps this is about.")]
Tags = Annotated[list[Tag], Field(max_length=50)]
Id = Annotated[int, Field(ge=1, le=2**62)]

M = TypeVar("M", bound=BaseModel)


def parse_input(model: type[M], data: M | Mapping[str, Any], what: str) -> M:
    """Return ``data`` as a ``model``; a bad mapping becomes :class:`InvalidInput`."""
    if isinstance(data, model):
        return data
    if not isinstance(data, Mapping):
        raise InvalidInput(
            f"{what} must be an object with named fields, not {type(data).__name__}",
            hint=f"Pass a {model.__name__} or a mapping of its fields.",
        )
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise InvalidInput.from_validation(exc, what) from None


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- notes and decisions -----------------------------------------------------
class NoteIn(_In):
    text: Annotated[str, Field(min_length=1, max_length=64 * 1024)]
    title: Title = ""
    author: Actor = "owner"
    apps: Apps = Field(default_factory=list)
    tags: Tags = Field(default_factory=list)


class Note(_Out):
    id: int
    title: str
    text: str
    author: str
    apps: list[str]
    tags: list[str]
    created_at: datetime


class DecisionIn(_In):
    decision: Annotated[str, Field(min_length=1, max_length=2000, description="What was decided.")]
    rationale: Annotated[str, Field(max_length=16 * 1024, description="Why.")] = ""
    decided_by: Actor
    apps: Apps = Field(default_factory=list)
    tags: Tags = Field(default_factory=list)
    supersedes: Id | None = Field(None, description="Id of the earlier decision this one replaces.")
    plan_id: Id | None = Field(None, description="The plan this decision came from, if any.")


class Decision(_Out):
    id: int
    decision: str
    rationale: str
    decided_by: str
    apps: list[str]
    tags: list[str]
    supersedes: int | None
    superseded_by: int | None
    plan_id: int | None
    created_at: datetime


# -- conversations -----------------------------------------------------------
class ConversationIn(_In):
    title: Title = ""
    created_by: Actor = "owner"


class Conversation(_Out):
    id: int
    title: str
    created_by: str
    created_at: datetime
    message_count: int = 0


class MessageIn(_In):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    role: Role
    content: Annotated[str, Field(min_length=1, max_length=128 * 1024)]
    author: Annotated[str, Field(max_length=200)] = ""

    @field_validator("content")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must contain some text, not only whitespace")
        return value


class Message(_Out):
    id: int
    conversation_id: int
    role: Role
    content: str
    author: str
    created_at: datetime


class ConversationDetail(_Out):
    conversation: Conversation
    messages: list[Message]
    next_offset: int | None = Field(description="Offset of the next page of messages, or None on the last page.")


# -- plans -------------------------------------------------------------------
class PlanStepIn(_In):
    tool: Annotated[str, Field(min_length=1, max_length=200)]
    arguments: dict[str, Any] = Field(default_factory=dict)
    seq: Id | None = Field(None, description="Position in the plan; the next free one when omitted.")

    @field_validator("arguments")
    @classmethod
    def _bounded_json(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            size = len(json.dumps(value, ensure_ascii=False).encode())
        except (TypeError, ValueError) as exc:
            raise ValueError(f"must be JSON-serialisable ({exc})") from None
        if size > MAX_ARGUMENTS_BYTES:
            raise ValueError(f"are {size} bytes as JSON; the limit is {MAX_ARGUMENTS_BYTES}")
        return value


class PlanIn(_In):
    instruction: Annotated[str, Field(min_length=1, max_length=4000)]
    created_by: Actor = "owner"
    status: PlanStatus = "running"
    conversation_id: Id | None = None
    apps: Apps = Field(default_factory=list)
    tags: Tags = Field(default_factory=list)
    steps: Annotated[list[PlanStepIn], Field(max_length=200)] = Field(default_factory=list)


class PlanStepUpdate(_In):
    """A change to one step; fields left as None keep their stored value."""

    status: StepStatus
    result_summary: Annotated[str, Field(max_length=4000)] | None = None
    error: Annotated[str, Field(max_length=4000)] | None = None
    started_at: datetime | None = Field(None, description="Defaults to now when the step starts running.")
    finished_at: datetime | None = Field(None, description="Defaults to now when the step ends.")

    @field_validator("started_at", "finished_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return _utc(value)


class PlanStep(_Out):
    id: int
    plan_id: int
    seq: int
    tool: str
    arguments: dict[str, Any]
    status: StepStatus
    result_summary: str
    error: str
    started_at: datetime | None
    finished_at: datetime | None


class Plan(_Out):
    id: int
    instruction: str
    status: PlanStatus
    conversation_id: int | None
    created_by: str
    apps: list[str]
    tags: list[str]
    created_at: datetime
    updated_at: datetime
    steps: list[PlanStep]


# -- search and activity -----------------------------------------------------
class SearchQuery(_In):
    query: Annotated[str, Field(min_length=1, max_length=500, description="Free text; every word must match.")]
    kinds: Annotated[list[Kind], Field(max_length=4)] = Field(default_factory=list, description="Empty: all kinds.")
    app: Slug | None = None
    tag: Tag | None = None
    since: datetime | None = Field(None, description="Only items created at or after this time.")
    until: datetime | None = Field(None, description="Only items created before this time.")
    limit: Annotated[int, Field(ge=1, le=100)] = 10
    offset: Annotated[int, Field(ge=0, le=MAX_OFFSET)] = 0

    @field_validator("since", "until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return _utc(value)

    @model_validator(mode="after")
    def _ordered_window(self) -> SearchQuery:
        if self.since and self.until and self.since > self.until:
            raise ValueError("since must not be later than until")
        return self


class SearchHit(_Out):
    kind: Kind
    id: int = Field(description="Id within its kind: use get_note, get_decision, get_plan or get_conversation.")
    title: str
    snippet: str
    score: float = Field(description="Relevance blended with recency; higher is better.")
    created_at: datetime
    apps: list[str]
    tags: list[str]
    conversation_id: int | None = Field(None, description="The conversation of a message or plan.")
    superseded_by: int | None = Field(None, description="For a decision: the decision that replaced it.")


class SearchPage(_Out):
    hits: list[SearchHit]
    next_offset: int | None = Field(description="Pass as offset for the next page; None when there is none.")
    capped: bool = Field(False, description=f"More hits exist past offset {MAX_OFFSET}; narrow the query to see them.")


class ActivityItem(_Out):
    kind: Kind
    id: int
    title: str
    summary: str
    created_at: datetime
    apps: list[str]
    tags: list[str]
    conversation_id: int | None = None
