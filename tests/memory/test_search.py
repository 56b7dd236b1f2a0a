"""Full-text search: ranking, filters, pagination, hostile input."""

from __future__ import annotations

from datetime import timedelta

import pytest

import memory.search
import memory.store as store_module
from memory.database import Database
from memory.models import SearchQuery
from memory.store import SqliteMemoryStore
from nexus_agent.wire.errors import InvalidInput
from tests.memory.conftest import Clock

pytestmark = pytest.mark.anyio

FILLER = [
    "Powder coating booked for Thursday",
    "Van service due next week",
    "Bradford site survey went well",
    "Credit check passed for Patel Homes",
    "Extrusion delivery short by twelve lengths",
]


async def add_filler(store: SqliteMemoryStore) -> None:
    for text in FILLER:
        await store.add_note({"text": text})


async def test_search_finds_every_kind_and_says_where_it_came_from(store: SqliteMemoryStore) -> None:
    conversation = await store.start_conversation({"title": "Chat"})
    message = await store.add_message(conversation.id, {"role": "user", "content": "Any news on the Hartley quote?"})
    plan = await store.create_plan({"instruction": "Send the Hartley quote", "conversation_id": conversation.id})
    decision = await store.log_decision(
        {"decision": "Hold the Hartley quote", "rationale": "Credit check pending", "decided_by": "owner"}
    )
    note = await store.add_note({"text": "Hartley quote is for 6 bifold doors", "apps": ["quote-engine"]})
    await add_filler(store)
    page = await store.search({"query": "Hartley quote"})
    found = {(h.kind, h.id): h for h in page.hits}
    assert set(found) == {("message", message.id), ("plan", plan.id), ("decision", decision.id), ("note", note.id)}
    assert found[("message", message.id)].conversation_id == conversation.id
    assert found[("plan", plan.id)].conversation_id == conversation.id
    assert found[("note", note.id)].apps == ["quote-engine"]
    assert found[("decision", decision.id)].title == "Hold the Hartley quote"
    assert found[("note", note.id)].snippet == "**Hartley** **quote** is for 6 bifold doors"
    assert page.next_offset is None


async def test_words_match_whatever_their_case_accents_or_endings(store: SqliteMemoryStore) -> None:
    note = await store.add_note({"text": "Schüco frames QUOTED for the Café on Briggate"})
    await add_filler(store)
    for query in ("schuco", "quote cafe", "Quotes FRAME", "briggate"):
        assert [h.id for h in (await store.search({"query": query})).hits] == [note.id], query


async def test_every_word_must_match(store: SqliteMemoryStore) -> None:
    await store.add_note({"text": "aluminium glazing quote"})
    await add_filler(store)
    assert (await store.search({"query": "aluminium quote"})).hits
    assert not (await store.search({"query": "aluminium invoice"})).hits


async def test_of_two_equally_relevant_notes_the_recent_one_ranks_first(store: SqliteMemoryStore, clock: Clock) -> None:
    clock.advance(days=-90)
    old = await store.add_note({"text": "Curtain wall quote for the Leeds office"})
    await add_filler(store)
    clock.advance(days=90)
    new = await store.add_note({"text": "Curtain wall quote for the Leeds office"})
    hits = (await store.search({"query": "curtain wall quote"})).hits
    assert [h.id for h in hits] == [new.id, old.id]
    assert hits[0].score > hits[1].score > 0


async def test_a_much_more_relevant_old_note_still_ranks_first(store: SqliteMemoryStore, clock: Clock) -> None:
    clock.advance(days=-200)
    old = await store.add_note(
        {"title": "Curtain wall", "text": "Curtain wall spec: curtain wall mullions, curtain wall transoms"}
    )
    clock.advance(days=200)
    for _ in range(3):
        await add_filler(store)
    for i in range(5):
        await store.add_note(
            {
                "text": f"Weekly meeting {i}: powder coating, van, deliveries, snagging, invoices, "
                "a curtain wall came up briefly, then fabrication schedule and glass orders"
            }
        )
    hits = (await store.search({"query": "curtain wall"})).hits
    assert len(hits) == 6
    assert hits[0].id == old.id


async def test_identical_old_notes_rank_newest_first(store: SqliteMemoryStore, clock: Clock) -> None:
    clock.advance(days=-800)
    ids = [(await store.add_note({"text": "Reglaze the school skylight"})).id for _ in range(3)]
    clock.advance(days=800)
    await add_filler(store)
    assert [h.id for h in (await store.search({"query": "skylight"})).hits] == ids[::-1]


async def test_kind_filter(store: SqliteMemoryStore) -> None:
    conversation = await store.start_conversation()
    message = await store.add_message(conversation.id, {"role": "user", "content": "glazing question"})
    plan = await store.create_plan({"instruction": "glazing plan"})
    decision = await store.log_decision({"decision": "glazing decision", "decided_by": "owner"})
    note = await store.add_note({"text": "glazing note"})

    async def kinds(*wanted: str) -> set[tuple[str, int]]:
        return {(h.kind, h.id) for h in (await store.search({"query": "glazing", "kinds": list(wanted)})).hits}

    assert await kinds("decision") == {("decision", decision.id)}
    assert await kinds("note", "plan") == {("note", note.id), ("plan", plan.id)}
    assert await kinds("message") == {("message", message.id)}
    assert len(await kinds()) == len(await kinds("note", "decision", "message", "plan")) == 4


async def test_app_filter_matches_the_whole_slug_only(store: SqliteMemoryStore) -> None:
    engine = await store.add_note({"text": "margin rule", "apps": ["quote-engine", "crm"]})
    plain = await store.add_note({"text": "margin rule", "apps": ["quote"]})
    await store.add_note({"text": "margin rule"})
    decision = await store.log_decision({"decision": "margin rule", "decided_by": "owner", "apps": ["quote"]})
    assert [h.id for h in (await store.search({"query": "margin", "app": "quote-engine"})).hits] == [engine.id]
    assert [h.id for h in (await store.search({"query": "margin", "app": "crm"})).hits] == [engine.id]
    found = {(h.kind, h.id) for h in (await store.search({"query": "margin", "app": "quote"})).hits}
    assert found == {("note", plain.id), ("decision", decision.id)}
    assert not (await store.search({"query": "margin", "app": "engine"})).hits


async def test_tag_filter_ignores_case_and_allows_spaces(store: SqliteMemoryStore) -> None:
    urgent = await store.add_note({"text": "chase deposit", "tags": ["Urgent", "follow up"]})
    await store.add_note({"text": "chase deposit", "tags": ["later"]})
    assert [h.id for h in (await store.search({"query": "deposit", "tag": "urgent"})).hits] == [urgent.id]
    assert [h.id for h in (await store.search({"query": "deposit", "tag": "Follow Up"})).hits] == [urgent.id]
    assert not (await store.search({"query": "deposit", "tag": "follow"})).hits
    assert (await store.search({"query": "deposit", "tag": "urgent"})).hits[0].tags == ["Urgent", "follow up"]


async def test_time_window_includes_since_and_excludes_until(store: SqliteMemoryStore, clock: Clock) -> None:
    start = clock.now
    ids = []
    for day in range(5):
        clock.now = start + timedelta(days=day)
        ids.append((await store.add_note({"text": f"invoice run day {day}"})).id)

    async def window(**bounds: object) -> list[int]:
        return sorted(h.id for h in (await store.search({"query": "invoice", **bounds})).hits)

    assert await window(since=start + timedelta(days=3)) == ids[3:]
    assert await window(until=start + timedelta(days=2)) == ids[:2]
    assert await window(since=start + timedelta(days=1), until=start + timedelta(days=3)) == ids[1:3]
    assert await window(since=start + timedelta(days=9)) == []
    assert await window(until=start - timedelta(days=1)) == []
    naive = (start + timedelta(days=4)).replace(tzinfo=None)
    assert await window(since=naive) == ids[4:]


async def test_filters_combine(store: SqliteMemoryStore, clock: Clock) -> None:
    await store.add_note({"text": "credit limit raised", "apps": ["credit-check"], "tags": ["finance"]})
    clock.advance(days=2)
    wanted = await store.log_decision(
        {"decision": "credit limit raised", "decided_by": "owner", "apps": ["credit-check"], "tags": ["finance"]}
    )
    await store.log_decision({"decision": "credit limit raised", "decided_by": "owner", "apps": ["credit-check"]})
    page = await store.search(
        {
            "query": "credit limit",
            "kinds": ["decision"],
            "app": "credit-check",
            "tag": "finance",
            "since": clock.ago(days=1),
        }
    )
    assert [(h.kind, h.id) for h in page.hits] == [("decision", wanted.id)]


async def test_pages_cover_every_hit_once(store: SqliteMemoryStore, clock: Clock) -> None:
    expected = set()
    for i in range(23):
        clock.advance(hours=1)
        text = "fabrication schedule" if i % 2 else "fabrication schedule for the Wakefield job, week 12"
        expected.add((await store.add_note({"text": text})).id)
    for _ in range(3):  # identical notes score the same: they must still page cleanly
        expected.add((await store.add_note({"text": "fabrication schedule"})).id)
    await add_filler(store)
    seen: list[int] = []
    offset: int | None = 0
    pages = 0
    while offset is not None:
        page = await store.search({"query": "fabrication schedule", "limit": 7, "offset": offset})
        assert len(page.hits) <= 7 and not page.capped
        seen += [h.id for h in page.hits]
        offset, pages = page.next_offset, pages + 1
    assert pages == 4
    assert len(seen) == len(set(seen)) == 26
    assert set(seen) == expected
    scores = [h.score for h in (await store.search({"query": "fabrication schedule", "limit": 100})).hits]
    assert scores == sorted(scores, reverse=True)


async def test_pagination_stops_at_the_offset_cap_and_says_so(
    store: SqliteMemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(memory.search, "MAX_OFFSET", 10)
    for i in range(16):
        await store.add_note({"text": f"remake panel {i}"})
    page = await store.search({"query": "remake", "limit": 5, "offset": 5})
    assert (page.next_offset, page.capped) == (10, False)
    page = await store.search({"query": "remake", "limit": 5, "offset": 10})
    assert len(page.hits) == 5
    assert (page.next_offset, page.capped) == (None, True)
    with pytest.raises(InvalidInput, match="offset"):
        await store.search({"query": "remake", "offset": 10_001})


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ('"unbalanced', False),
        ("glazing AND", True),
        ("OR NOT", False),
        ("NEAR(glazing quote", True),
        ("-glazing", True),
        ("glazing*", True),
        ("title:glazing", True),
        ("{title body}: glazing", True),
        ("^glazing", True),
        ("glazing + quote", True),
        ("a'b", False),
        ("glazing)", True),
        ("\\x00 glazing", False),
        ("NULL", True),
        ("glazing;DROP TABLE notes", True),
        ("«glazing»", True),
        ("glazing\u0000quote", True),
    ],
)
async def test_hostile_query_syntax_is_searched_as_plain_words(
    store: SqliteMemoryStore, query: str, found: bool
) -> None:
    note = await store.add_note({"text": "glazing quote AND near title body null drop table notes"})
    page = await store.search({"query": query})
    assert [h.id for h in page.hits] == ([note.id] if found else [])
    assert (await store.stats())["notes"] == 1


@pytest.mark.parametrize("query", ["*", '"', "(", "-", "   ", "", "---***", "_", "%_%"])
async def test_a_query_without_words_is_refused_with_a_hint(store: SqliteMemoryStore, query: str) -> None:
    with pytest.raises(InvalidInput) as err:
        await store.search({"query": query})
    assert err.value.hint


async def test_fts_keywords_are_ordinary_words(store: SqliteMemoryStore) -> None:
    note = await store.add_note({"text": "cut AND drill OR punch NOT weld NEAR the saw"})
    await add_filler(store)
    for query in ("AND", "or not", "NEAR"):
        assert [h.id for h in (await store.search({"query": query})).hits] == [note.id]


async def test_oversized_or_malformed_searches_are_refused(store: SqliteMemoryStore, clock: Clock) -> None:
    bad = [
        {"query": "x" * 501},
        {"query": " ".join(f"w{i}" for i in range(33))},
        {"query": "x", "limit": 0},
        {"query": "x", "limit": 101},
        {"query": "x", "offset": -1},
        {"query": "x", "kinds": ["email"]},
        {"query": "x", "app": "Quote Engine"},
        {"query": "x", "since": clock.now, "until": clock.ago(days=1)},
        {"query": "x", "colour": "red"},
    ]
    for query in bad:
        with pytest.raises(InvalidInput) as err:
            await store.search(query)
        assert err.value.hint, query
    with pytest.raises(InvalidInput):
        await store.search("glazing")  # type: ignore[arg-type]


async def test_searching_an_empty_memory_finds_nothing(store: SqliteMemoryStore) -> None:
    page = await store.search({"query": "anything"})
    assert (page.hits, page.next_offset, page.capped) == ([], None, False)


async def test_snippets_show_the_matching_part_of_long_text(store: SqliteMemoryStore) -> None:
    text = "Intro words. " * 60 + "The retention release for Harrogate is due in March. " + "Outro. " * 60
    await store.add_note({"text": text})
    (hit,) = (await store.search({"query": "retention harrogate"})).hits
    assert "**retention** release for **Harrogate**" in hit.snippet
    assert hit.snippet.startswith("…") and hit.snippet.endswith("…")
    assert len(hit.snippet) < 260


@pytest.mark.parametrize("query", ["Kawneer", "kawneer", "Kawn", "schuc", "Schuco's", "hartle"])
async def test_names_are_found_by_their_exact_word_or_its_start(store: SqliteMemoryStore, query: str) -> None:
    """A supplier or customer named in a note is found by its name, a stem of it, or its first letters."""
    await add_filler(store)
    wanted = {
        "kawn": "Kawneer raised prices 8% from 1 April",
        "schu": "Schuco confirmed the AWS 75 lead time",
        "hart": "Hartley Construction prefer a phone call",
    }
    ids = {k: (await store.add_note({"text": v})).id for k, v in wanted.items()}
    page = await store.search({"query": query, "kinds": ["note"]})
    assert [h.id for h in page.hits] == [ids[query.lower()[:4]]]


async def test_a_prefix_still_needs_every_word(store: SqliteMemoryStore) -> None:
    await store.add_note({"text": "Kawneer raised prices 8%"})
    await store.add_note({"text": "Kawneer delivered the AA100 mullions"})
    page = await store.search({"query": "kawn pric"})
    assert [h.snippet for h in page.hits] == ["**Kawneer** raised **prices** 8%"]


async def test_a_short_search_answers_on_the_calling_thread_and_a_long_one_in_the_worker(
    database: Database, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Short searches skip the worker-thread hop (it costs up to 5 ms when the CPU is busy); a search over
    its budget is abandoned cleanly and answered in full by the worker thread."""
    store = SqliteMemoryStore(database, clock=clock)
    for i in range(30):
        await store.add_note({"text": f"Hartley quote revision {i} for bifold doors"})
    await add_filler(store)
    query = SearchQuery(query="Hartley quote", limit=5)
    in_thread = await database.run(store._search, query)
    hopped: list[object] = []
    real_run = database.run

    async def counting_run(fn: object, *args: object, **kwargs: object) -> object:
        hopped.append(fn)
        return await real_run(fn, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(database, "run", counting_run)
    assert await store.search(query) == in_thread and hopped == []  # answered inline, same page
    monkeypatch.setattr(memory.search, "_PROGRESS_STEPS", 1)  # check the budget at every step of this tiny db
    with database.read() as db:  # over budget: given up (None), the connection left as it was
        db.conn.execute("BEGIN")
        assert memory.search.run_search_within(db.conn, query, budget_s=0.0, knots=store._knots) is None
        db.conn.execute("COMMIT")
        assert db.conn.execute("SELECT count(*) FROM notes").fetchone()[0] == 35
    monkeypatch.setattr(store_module, "INLINE_SEARCH_BUDGET_S", 0.0)
    assert await store.search(query) == in_thread and hopped == [store._search]  # the worker answered
    monkeypatch.setattr(store_module, "INLINE_SEARCH_BUDGET_S", 1.0)  # a generous budget again...
    hopped.clear()
    assert await store.search(query) == in_thread and hopped == [store._search]  # ...but its words overran once
    powder = await store.search({"query": "powder coating"})
    assert [h.title for h in powder.hits] == ["Powder coating booked for Thursday"] and len(hopped) == 1
