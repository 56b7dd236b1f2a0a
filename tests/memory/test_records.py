"""Storing and reading back notes, decisions, conversations and plans."""

from __future__ import annotations

from pathlib import Path

import pytest

from memory.database import Database
from memory.store import MIGRATIONS, MemoryStore, SqliteMemoryStore
from nexus_agent.wire.errors import Conflict, InvalidInput, NotFound
from tests.memory.conftest import Clock

pytestmark = pytest.mark.anyio


async def test_the_sqlite_store_satisfies_the_memory_store_protocol(store: SqliteMemoryStore) -> None:
    assert isinstance(store, MemoryStore)


# -- notes -----------------------------------------------------------------------
async def test_a_note_reads_back_with_its_labels_author_and_time(store: SqliteMemoryStore, clock: Clock) -> None:
    note = await store.add_note(
        {
            "text": "Hartley pay on 60-day terms",
            "title": "Hartley terms",
            "author": "sam",
            "apps": ["credit-check", "quote-engine"],
            "tags": ["finance", "Hartley"],
        }
    )
    again = await store.get_note(note.id)
    assert again == note
    assert (again.title, again.text, again.author) == ("Hartley terms", "Hartley pay on 60-day terms", "sam")
    assert again.apps == ["credit-check", "quote-engine"]
    assert again.tags == ["finance", "Hartley"]
    assert again.created_at == clock.now


async def test_the_same_note_added_twice_is_kept_twice(store: SqliteMemoryStore) -> None:
    first = await store.add_note({"text": "Glass supplier delayed again"})
    second = await store.add_note({"text": "Glass supplier delayed again"})
    assert first.id != second.id
    page = await store.search({"query": "glass supplier delayed"})
    assert sorted(h.id for h in page.hits) == sorted([first.id, second.id])
    assert (await store.stats())["notes"] == 2


async def test_note_text_is_bounded(store: SqliteMemoryStore) -> None:
    with pytest.raises(InvalidInput) as err:
        await store.add_note({"text": "x" * (64 * 1024 + 1)})
    assert "text" in err.value.message and err.value.hint
    with pytest.raises(InvalidInput):
        await store.add_note({"text": "   "})
    with pytest.raises(InvalidInput):
        await store.add_note({"text": "ok", "tags": [f"t{i}" for i in range(51)]})
    with pytest.raises(InvalidInput, match="apps"):
        await store.add_note({"text": "ok", "apps": ["Not A Slug"]})
    with pytest.raises(InvalidInput, match="colour"):
        await store.add_note({"text": "ok", "colour": "red"})
    assert (await store.stats())["notes"] == 0


async def test_unknown_or_malformed_ids_are_clear_errors(store: SqliteMemoryStore) -> None:
    with pytest.raises(NotFound) as err:
        await store.get_note(999)
    assert "999" in err.value.message and err.value.hint
    for bad in (0, -3, "1", 1.5, True, 2**70):
        with pytest.raises(InvalidInput):
            await store.get_note(bad)  # type: ignore[arg-type]
    for call in (store.get_decision, store.get_plan):
        with pytest.raises(NotFound):
            await call(42)
    with pytest.raises(NotFound):
        await store.get_conversation(42)


# -- decisions -------------------------------------------------------------------
async def test_a_decision_records_what_why_who_and_which_apps(store: SqliteMemoryStore) -> None:
    decision = await store.log_decision(
        {
            "decision": "Quote bifolds at 32% margin",
            "rationale": "Competitors sit at 30-35%",
            "decided_by": "owner",
            "apps": ["quote-engine"],
            "tags": ["pricing"],
        }
    )
    stored = await store.get_decision(decision.id)
    assert stored == decision
    assert (stored.supersedes, stored.superseded_by, stored.plan_id) == (None, None, None)


async def test_a_new_decision_supersedes_an_earlier_one(store: SqliteMemoryStore) -> None:
    old = await store.log_decision({"decision": "Margin 32%", "decided_by": "owner"})
    new = await store.log_decision({"decision": "Margin 35%", "decided_by": "owner", "supersedes": old.id})
    assert new.supersedes == old.id
    assert (await store.get_decision(old.id)).superseded_by == new.id
    assert (await store.get_decision(new.id)).superseded_by is None
    hits = {h.id: h for h in (await store.search({"query": "margin", "kinds": ["decision"]})).hits}
    assert hits[old.id].superseded_by == new.id


async def test_superseding_a_missing_or_already_superseded_decision_is_refused(store: SqliteMemoryStore) -> None:
    old = await store.log_decision({"decision": "Use supplier A", "decided_by": "owner"})
    newer = await store.log_decision({"decision": "Use supplier B", "decided_by": "owner", "supersedes": old.id})
    with pytest.raises(NotFound, match="decision with id 77"):
        await store.log_decision({"decision": "Use C", "decided_by": "owner", "supersedes": 77})
    with pytest.raises(Conflict) as err:
        await store.log_decision({"decision": "Use C", "decided_by": "owner", "supersedes": old.id})
    assert str(newer.id) in err.value.hint
    with pytest.raises(NotFound, match="plan"):
        await store.log_decision({"decision": "Use C", "decided_by": "owner", "plan_id": 5})
    assert (await store.stats())["decisions"] == 2
    assert (await store.get_decision(newer.id)).superseded_by is None


async def test_a_decision_needs_someone_who_decided(store: SqliteMemoryStore) -> None:
    with pytest.raises(InvalidInput, match="decided_by"):
        await store.log_decision({"decision": "Do it"})


# -- conversations -----------------------------------------------------------------
async def test_conversation_messages_come_back_in_order_a_page_at_a_time(store: SqliteMemoryStore) -> None:
    conversation = await store.start_conversation({"title": "Hartley enquiry", "created_by": "sam"})
    roles = ["user", "assistant", "tool", "assistant", "user", "assistant", "system"]
    sent = [
        await store.add_message(conversation.id, {"role": role, "content": f"message {i}", "author": "sam"})
        for i, role in enumerate(roles)
    ]
    first = await store.get_conversation(conversation.id, limit=3)
    assert first.conversation.title == "Hartley enquiry"
    assert first.conversation.message_count == 7
    assert [m.content for m in first.messages] == ["message 0", "message 1", "message 2"]
    assert first.next_offset == 3
    last = await store.get_conversation(conversation.id, limit=3, offset=6)
    assert last.messages == sent[6:]
    assert last.next_offset is None
    everything = await store.get_conversation(conversation.id)
    assert everything.messages == sent
    assert [m.role for m in everything.messages] == roles


async def test_messages_need_a_known_conversation_and_a_valid_role(store: SqliteMemoryStore) -> None:
    with pytest.raises(NotFound, match="conversation"):
        await store.add_message(3, {"role": "user", "content": "hello"})
    conversation = await store.start_conversation()
    with pytest.raises(InvalidInput, match="role"):
        await store.add_message(conversation.id, {"role": "robot", "content": "hello"})
    with pytest.raises(InvalidInput, match="content"):
        await store.add_message(conversation.id, {"role": "user", "content": " \n "})
    with pytest.raises(InvalidInput, match="limit"):
        await store.get_conversation(conversation.id, limit=0)
    assert (await store.stats())["messages"] == 0


async def test_message_whitespace_is_kept_exactly(store: SqliteMemoryStore) -> None:
    conversation = await store.start_conversation()
    content = "  line one\n\n    indented code\n"
    await store.add_message(conversation.id, {"role": "assistant", "content": content})
    assert (await store.get_conversation(conversation.id)).messages[0].content == content


# -- plans -----------------------------------------------------------------------
async def test_a_plan_keeps_its_steps_in_order(store: SqliteMemoryStore) -> None:
    conversation = await store.start_conversation({"title": "Quote run"})
    plan = await store.create_plan(
        {
            "instruction": "Quote Hartley for 6 bifolds",
            "created_by": "sam",
            "conversation_id": conversation.id,
            "apps": ["quote-engine"],
            "steps": [
                {"tool": "crm.lookup", "arguments": {"name": "Hartley"}},
                {"tool": "quote.create", "arguments": {"items": [{"type": "bifold", "qty": 6}]}},
            ],
        }
    )
    assert plan.status == "running"  # the one plan-status vocabulary (memory.models.PlanStatus)
    assert [(s.seq, s.tool, s.status) for s in plan.steps] == [
        (1, "crm.lookup", "pending"),
        (2, "quote.create", "pending"),
    ]
    assert plan.steps[1].arguments == {"items": [{"type": "bifold", "qty": 6}]}
    extra = await store.add_plan_step(plan.id, {"tool": "email.send", "arguments": {"to": "hartley"}})
    assert extra.seq == 3
    stored = await store.get_plan(plan.id)
    assert [s.tool for s in stored.steps] == ["crm.lookup", "quote.create", "email.send"]
    assert stored.conversation_id == conversation.id and stored.apps == ["quote-engine"]


async def test_running_and_finishing_a_step_records_times_result_and_error(
    store: SqliteMemoryStore, clock: Clock
) -> None:
    plan = await store.create_plan({"instruction": "Chase invoice 1183", "steps": [{"tool": "a"}, {"tool": "b"}]})
    started = clock.now
    running = await store.update_plan_step(plan.id, 1, {"status": "running"})
    assert (running.status, running.started_at, running.finished_at) == ("running", started, None)
    clock.advance(seconds=5)
    done = await store.update_plan_step(plan.id, 1, {"status": "succeeded", "result_summary": "sent"})
    assert (done.started_at, done.finished_at, done.result_summary) == (started, clock.now, "sent")
    failed = await store.update_plan_step(plan.id, 2, {"status": "failed", "error": "SMTP refused"})
    assert failed.error == "SMTP refused" and failed.finished_at == clock.now
    plan = await store.set_plan_status(plan.id, "failed")
    assert plan.status == "failed" and plan.updated_at == clock.now
    assert [s.status for s in (await store.get_plan(plan.id)).steps] == ["succeeded", "failed"]


async def test_plan_mistakes_are_reported_not_stored(store: SqliteMemoryStore) -> None:
    with pytest.raises(NotFound, match="conversation"):
        await store.create_plan({"instruction": "x", "conversation_id": 9})
    with pytest.raises(InvalidInput, match="seq 1"):
        await store.create_plan({"instruction": "x", "steps": [{"tool": "a", "seq": 1}, {"tool": "b", "seq": 1}]})
    with pytest.raises(InvalidInput, match="arguments"):
        await store.create_plan({"instruction": "x", "steps": [{"tool": "a", "arguments": {"blob": "x" * 70_000}}]})
    assert (await store.stats())["plans"] == 0
    plan = await store.create_plan({"instruction": "x", "steps": [{"tool": "a"}]})
    with pytest.raises(Conflict, match="step 1"):
        await store.add_plan_step(plan.id, {"tool": "b", "seq": 1})
    with pytest.raises(NotFound, match="no step 7"):
        await store.update_plan_step(plan.id, 7, {"status": "running"})
    with pytest.raises(NotFound, match="plan with id 99"):
        await store.update_plan_step(99, 1, {"status": "running"})
    with pytest.raises(InvalidInput, match="status"):
        await store.update_plan_step(plan.id, 1, {"status": "exploded"})
    with pytest.raises(InvalidInput, match="plan status"):
        await store.set_plan_status(plan.id, "exploded")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="'draft' is not a plan status"):  # the old, second vocabulary
        await store.set_plan_status(plan.id, "draft")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await store.set_plan_status(99, "running")
    assert (await store.stats())["plan_steps"] == 1


async def test_stats_count_every_kind_of_record(store: SqliteMemoryStore) -> None:
    conversation = await store.start_conversation()
    await store.add_message(conversation.id, {"role": "user", "content": "hi"})
    await store.create_plan({"instruction": "x", "steps": [{"tool": "a"}, {"tool": "b"}]})
    await store.log_decision({"decision": "y", "decided_by": "owner"})
    await store.add_note({"text": "z"})
    assert await store.stats() == {
        "conversations": 1,
        "messages": 1,
        "plans": 1,
        "plan_steps": 2,
        "decisions": 1,
        "notes": 1,
    }


async def test_a_write_that_would_store_a_secret_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    from nexus_agent.wire.errors import SecretLeakRefused

    database = Database(tmp_path / "m.db")
    database.migrate([MIGRATIONS])
    store = SqliteMemoryStore(database)
    token = "ghp_" + "Q1w2E3r4T5y6U7i8O9p0" * 2  # built at run time: nothing token-like in the repo
    with pytest.raises(SecretLeakRefused) as refused:
        await store.add_note({"text": f"the quote-engine deploy token is {token}", "author": "owner"})
    assert "memory: the note" in str(refused.value) and token not in str(refused.value)
    assert (await store.stats()).get("notes", 0) == 0
    database.close()
    assert token.encode() not in (tmp_path / "m.db").read_bytes()
