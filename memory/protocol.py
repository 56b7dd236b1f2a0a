"""The memory store's interface: :class:`MemoryStore`, which the SQLite and PostgreSQL stores implement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from memory.models import (
    ActivityItem,
    Conversation,
    ConversationDetail,
    ConversationIn,
    Decision,
    DecisionIn,
    Kind,
    Message,
    MessageIn,
    Note,
    NoteIn,
    Plan,
    PlanIn,
    PlanStatus,
    PlanStep,
    PlanStepIn,
    PlanStepUpdate,
    SearchPage,
    SearchQuery,
)

__all__ = ["MemoryStore"]


@runtime_checkable
class MemoryStore(Protocol):
    """Nexus's long-term memory. Every write is durable when the call returns."""

    async def add_note(self, note: NoteIn | Mapping[str, Any]) -> Note: ...
    async def get_note(self, note_id: int) -> Note: ...
    async def log_decision(self, decision: DecisionIn | Mapping[str, Any]) -> Decision: ...
    async def get_decision(self, decision_id: int) -> Decision: ...
    async def start_conversation(
        self, conversation: ConversationIn | Mapping[str, Any] | None = None
    ) -> Conversation: ...
    async def add_message(self, conversation_id: int, message: MessageIn | Mapping[str, Any]) -> Message: ...
    async def get_conversation(
        self, conversation_id: int, *, limit: int = 50, offset: int = 0
    ) -> ConversationDetail: ...
    async def create_plan(self, plan: PlanIn | Mapping[str, Any]) -> Plan: ...
    async def add_plan_step(self, plan_id: int, step: PlanStepIn | Mapping[str, Any]) -> PlanStep: ...
    async def update_plan_step(
        self, plan_id: int, seq: int, update: PlanStepUpdate | Mapping[str, Any]
    ) -> PlanStep: ...
    async def set_plan_status(self, plan_id: int, status: PlanStatus) -> Plan: ...
    async def get_plan(self, plan_id: int) -> Plan: ...
    async def search(self, query: SearchQuery | Mapping[str, Any]) -> SearchPage: ...
    async def recent_activity(
        self, *, limit: int = 20, kinds: Sequence[Kind] = (), since: datetime | None = None
    ) -> list[ActivityItem]: ...
    async def stats(self) -> dict[str, int]: ...
