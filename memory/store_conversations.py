"""Conversations in the SQLite memory store: starting one, adding messages, reading a page of them.
A part of :class:`~memory.store.SqliteMemoryStore`."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from memory.database import Database
from memory.models import Conversation, ConversationDetail, ConversationIn, Message, MessageIn
from memory.plans import missing, require
from memory.search import index_item, to_datetime
from memory.store_inputs import check_id, check_range, guarded
from nexus_agent.wire.secret_guard import KnownSecrets

__all__ = ["ConversationMethods"]


class ConversationMethods:
    """The store's conversation methods (mixed into SqliteMemoryStore, which owns the state below)."""

    _db: Database
    _known: KnownSecrets | None

    if TYPE_CHECKING:

        def _snapshot(self) -> contextlib.AbstractContextManager[sqlite3.Connection]: ...

        def _write(self) -> contextlib.AbstractContextManager[tuple[sqlite3.Connection, float]]: ...

    # -- conversations ----------------------------------------------------------
    async def start_conversation(self, conversation: ConversationIn | Mapping[str, Any] | None = None) -> Conversation:
        c = guarded(ConversationIn, conversation if conversation is not None else {}, "the conversation", self._known)
        return await self._db.run_write(self._start_conversation, c)

    def _start_conversation(self, c: ConversationIn) -> Conversation:
        with self._write() as (conn, now):
            cur = conn.execute(
                "INSERT INTO conversations (title, created_by, created_at) VALUES (?, ?, ?)",
                (c.title, c.created_by, now),
            )
        return Conversation(id=int(cur.lastrowid or 0), created_at=to_datetime(now), **c.model_dump())

    async def add_message(self, conversation_id: int, message: MessageIn | Mapping[str, Any]) -> Message:
        conversation_id = check_id(conversation_id, "conversation id")
        return await self._db.run_write(
            self._add_message, conversation_id, guarded(MessageIn, message, "the message", self._known)
        )

    def _add_message(self, conversation_id: int, m: MessageIn) -> Message:
        with self._write() as (conn, now):
            require(conn, "conversations", conversation_id, "conversation", "Start one with start_conversation.")
            cur = conn.execute(
                "INSERT INTO messages (conversation_id, role, content, author, created_at) VALUES (?, ?, ?, ?, ?)",
                (conversation_id, m.role, m.content, m.author, now),
            )
            message_id = int(cur.lastrowid or 0)
            index_item(conn, "message", message_id, title="", body=m.content, created_at=now)
        return Message(id=message_id, conversation_id=conversation_id, created_at=to_datetime(now), **m.model_dump())

    async def get_conversation(self, conversation_id: int, *, limit: int = 50, offset: int = 0) -> ConversationDetail:
        conversation_id = check_id(conversation_id, "conversation id")
        limit, offset = check_range(limit, "limit", 1, 500), check_range(offset, "offset", 0, 2**31)
        return await self._db.run(self._get_conversation, conversation_id, limit, offset)

    def _get_conversation(self, conversation_id: int, limit: int, offset: int) -> ConversationDetail:
        with self._snapshot() as conn:
            row = conn.execute(
                "SELECT title, created_by, created_at, (SELECT count(*) FROM messages WHERE conversation_id = c.id) "
                "FROM conversations AS c WHERE id = ?",
                (conversation_id,),
            ).fetchone()
            if row is None:
                raise missing("conversation", conversation_id, "Find conversations with search(kinds=['message']).")
            rows = conn.execute(
                "SELECT id, role, content, author, created_at FROM messages WHERE conversation_id = ? "
                "ORDER BY id LIMIT ? OFFSET ?",
                (conversation_id, limit, offset),
            ).fetchall()
        title, created_by, created_at, count = row
        messages = [
            Message(
                id=i,
                conversation_id=conversation_id,
                role=role,
                content=content,
                author=author,
                created_at=to_datetime(ts),
            )
            for i, role, content, author, ts in rows
        ]
        return ConversationDetail(
            conversation=Conversation(
                id=conversation_id,
                title=title,
                created_by=created_by,
                created_at=to_datetime(created_at),
                message_count=count,
            ),
            messages=messages,
            next_offset=offset + limit if offset + limit < count else None,
        )
