"""Memory tools: remember, search, log decisions, read conversations, recent activity."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from memory.models import (
    ActivityItem,
    ConversationDetail,
    Decision,
    DecisionIn,
    Kind,
    Note,
    NoteIn,
    SearchPage,
    SearchQuery,
)
from nexus_agent.auth.policy import OWNER_ONLY, READERS
from nexus_agent.wire.models import Slug
from tools.base import ToolCall, ToolInput, ToolSpec

__all__ = ["MEMORY_TOOLS"]

Tag = Annotated[str, Field(min_length=1, max_length=100)]


class RememberInput(ToolInput):
    text: str = Field(..., min_length=1, max_length=64 * 1024, description="The note, in plain words.")
    title: str = Field("", max_length=200, description="A short title (optional).")
    apps: list[Slug] = Field(default_factory=list, max_length=50, description="Slugs of the apps it is about.")
    tags: list[Tag] = Field(default_factory=list, max_length=50, description="Free labels, e.g. 'pricing'.")


async def memory_remember(call: ToolCall, params: RememberInput) -> Note:
    return await call.services.memory.add_note(NoteIn(author=call.actor, **params.model_dump()))


class SearchInput(ToolInput):
    query: str = Field(
        ...,
        min_length=1,
        max_length=500,
        description="Words to look for; every word must appear (e.g. 'glass supplier').",
    )
    kinds: list[Kind] = Field(
        default_factory=list, max_length=4, description="note, decision, message, plan; empty = all."
    )
    app: Slug | None = Field(None, description="Only items about this app.")
    tag: Tag | None = Field(None, description="Only items with this tag.")
    since: datetime | None = Field(None, description="Only items created at or after this time (ISO 8601).")
    until: datetime | None = Field(None, description="Only items created before this time (ISO 8601).")
    limit: int = Field(10, ge=1, le=100, description="Hits per page.")
    offset: int = Field(0, ge=0, le=10_000, description="Use next_offset from the previous page.")


async def memory_search(call: ToolCall, params: SearchInput) -> SearchPage:
    return await call.services.memory.search(SearchQuery(**params.model_dump()))


class DecisionInput(ToolInput):
    decision: str = Field(..., min_length=1, max_length=2000, description="What was decided, in one or two sentences.")
    rationale: str = Field("", max_length=16 * 1024, description="Why: the reasons and evidence.")
    apps: list[Slug] = Field(default_factory=list, max_length=50, description="Slugs of the apps it concerns.")
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    supersedes: int | None = Field(None, ge=1, description="Id of an earlier decision this one replaces.")


async def memory_log_decision(call: ToolCall, params: DecisionInput) -> Decision:
    return await call.services.memory.log_decision(DecisionIn(decided_by=call.actor, **params.model_dump()))


class ConversationInput(ToolInput):
    conversation_id: int = Field(..., ge=1)
    limit: int = Field(50, ge=1, le=500, description="Messages per page.")
    offset: int = Field(0, ge=0)


async def memory_get_conversation(call: ToolCall, params: ConversationInput) -> ConversationDetail:
    return await call.services.memory.get_conversation(params.conversation_id, limit=params.limit, offset=params.offset)


class RecentInput(ToolInput):
    limit: int = Field(20, ge=1, le=200)
    kinds: list[Kind] = Field(default_factory=list, max_length=4, description="Empty = all kinds.")
    since: datetime | None = Field(None, description="Only activity at or after this time (ISO 8601).")


class RecentActivity(BaseModel):
    items: list[ActivityItem]


async def memory_recent_activity(call: ToolCall, params: RecentInput) -> RecentActivity:
    items = await call.services.memory.recent_activity(limit=params.limit, kinds=params.kinds, since=params.since)
    return RecentActivity(items=items)


MEMORY_TOOLS: list[ToolSpec] = [
    ToolSpec(
        name="memory_remember",
        roles=OWNER_ONLY,
        title="Remember a note",
        description=(
            "Store a free note in Nexus's persistent memory (facts, preferences, observations about "
            "customers, suppliers or apps). Tag it and name the apps it concerns so it can be found later. "
            "Every note is kept, even if it repeats an earlier one."
        ),
        input_model=RememberInput,
        output_model=Note,
        handler=memory_remember,
        read_only=False,
        idempotent=False,
        group="memory",
    ),
    ToolSpec(
        name="memory_search",
        roles=READERS,
        title="Search memory",
        description=(
            "Full-text search over everything Nexus remembers: notes, decisions, conversation messages "
            "and plans, ranked by relevance and recency. Filter by kind, app, tag and time window; "
            "paginate with next_offset. Search before deciding anything, to respect earlier decisions."
        ),
        input_model=SearchInput,
        output_model=SearchPage,
        handler=memory_search,
        read_only=True,
        idempotent=True,
        group="memory",
    ),
    ToolSpec(
        name="memory_log_decision",
        roles=OWNER_ONLY,
        title="Log a decision",
        description=(
            "Record a decision with its rationale and the apps it concerns. If it replaces an earlier "
            "decision, pass that decision's id as supersedes (find it with memory_search, kind 'decision')."
        ),
        input_model=DecisionInput,
        output_model=Decision,
        handler=memory_log_decision,
        read_only=False,
        idempotent=False,
        group="memory",
    ),
    ToolSpec(
        name="memory_get_conversation",
        roles=READERS,
        title="Get a conversation",
        description="Read one stored conversation and its messages in order, a page at a time.",
        input_model=ConversationInput,
        output_model=ConversationDetail,
        handler=memory_get_conversation,
        read_only=True,
        idempotent=True,
        group="memory",
    ),
    ToolSpec(
        name="memory_recent_activity",
        roles=READERS,
        title="Recent activity",
        description=(
            "The most recent notes, decisions, messages and plans, newest first. Use it to catch up "
            "on what happened lately (optionally since a given time or for some kinds only)."
        ),
        input_model=RecentInput,
        output_model=RecentActivity,
        handler=memory_recent_activity,
        read_only=True,
        idempotent=True,
        group="memory",
    ),
]
