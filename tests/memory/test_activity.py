"""Recent activity, and the public surface of the memory package."""

from __future__ import annotations

import importlib

import pytest

from memory.store import SqliteMemoryStore
from nexus_agent.wire.errors import InvalidInput
from tests.memory.conftest import Clock

pytestmark = pytest.mark.anyio


async def fill(store: SqliteMemoryStore, clock: Clock) -> dict[str, int]:
    ids = {}
    conversation = await store.start_conversation({"title": "Leeds job"})
    clock.advance(minutes=1)
    ids["note"] = (await store.add_note({"text": "Leeds job measured", "apps": ["install-planner"]})).id
    clock.advance(minutes=1)
    ids["message"] = (await store.add_message(conversation.id, {"role": "user", "content": "Book the fitters"})).id
    clock.advance(minutes=1)
    ids["plan"] = (await store.create_plan({"instruction": "Book fitters for Leeds"})).id
    clock.advance(minutes=1)
    ids["decision"] = (await store.log_decision({"decision": "Fit on Monday", "decided_by": "owner"})).id
    return ids


async def test_recent_activity_lists_the_newest_first_across_kinds(store: SqliteMemoryStore, clock: Clock) -> None:
    ids = await fill(store, clock)
    items = await store.recent_activity()
    assert [(i.kind, i.id) for i in items] == [
        ("decision", ids["decision"]),
        ("plan", ids["plan"]),
        ("message", ids["message"]),
        ("note", ids["note"]),
    ]
    assert items[0].title == "Fit on Monday"
    assert items[2].summary == "Book the fitters" and items[2].conversation_id is not None
    assert items[3].apps == ["install-planner"]
    assert [i.kind for i in await store.recent_activity(limit=2)] == ["decision", "plan"]


async def test_recent_activity_filters_by_kind_and_time(store: SqliteMemoryStore, clock: Clock) -> None:
    ids = await fill(store, clock)
    for _ in range(3):
        await store.add_note({"text": "later note"})
    notes = await store.recent_activity(kinds=["note"], limit=10)
    assert [i.kind for i in notes] == ["note"] * 4 and notes[-1].id == ids["note"]
    mixed = await store.recent_activity(kinds=["message", "decision"])
    assert [(i.kind, i.id) for i in mixed] == [("decision", ids["decision"]), ("message", ids["message"])]
    since = await store.recent_activity(since=clock.ago(seconds=90))
    assert [i.kind for i in since] == ["note", "note", "note", "decision", "plan"]
    naive = await store.recent_activity(since=clock.ago(seconds=90).replace(tzinfo=None))
    assert naive == since
    assert await store.recent_activity(kinds=["note"], since=clock.ago(seconds=90), limit=2) == since[:2]


async def test_recent_activity_arguments_are_checked(store: SqliteMemoryStore) -> None:
    assert await store.recent_activity() == []
    for kwargs in ({"limit": 0}, {"limit": 201}, {"kinds": ["email"]}, {"kinds": "note"}, {"since": "yesterday"}):
        with pytest.raises(InvalidInput) as err:
            await store.recent_activity(**kwargs)  # type: ignore[arg-type]
        assert err.value.hint, kwargs


@pytest.mark.parametrize(
    "module", ["memory.models", "memory.schema", "memory.search", "memory.store", "memory.plans", "memory.snippets"]
)
def test_every_public_name_is_listed_and_exists(module: str) -> None:
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(set(mod.__all__))
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.{name}"
    defined_here = {
        name
        for name, value in vars(mod).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == module and callable(value)
    }
    assert defined_here <= set(mod.__all__), defined_here - set(mod.__all__)
