"""The search index: writing entries, turning free text into safe FTS5, ranking.

Ranking is BM25 (title weighted twice the body) times ``1 + boost``, where the
boost halves every ``HALF_LIFE_DAYS`` and is 0 after a year. Rowid order is
time order, so the boost is computed inside the FTS5 query as a piecewise-
linear function of the rowid, with knots at the first entry of each age
bucket: ranking needs no join and costs about what bare BM25 does. Filters
are FTS5 terms on the ``facets`` column (kind, app, tag) and a rowid range
(time).
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from memory.models import KINDS, MAX_OFFSET, Kind, SearchHit, SearchPage, SearchQuery
from memory.snippets import make_snippet
from nexus_agent.wire.errors import InvalidInput

__all__ = [
    "HALF_LIFE_DAYS",
    "INLINE_SEARCH_BUDGET_S",
    "MAX_TERMS",
    "RECENCY_BOOST",
    "Entry",
    "HeavyTerms",
    "RecencyKnots",
    "entries",
    "facet_text",
    "index_item",
    "labels",
    "next_timestamp",
    "page_of",
    "recency_weight",
    "run_search",
    "run_search_within",
    "safe_match",
    "search_terms",
    "to_datetime",
]

HALF_LIFE_DAYS = 30.0
RECENCY_BOOST = 1.0
MAX_TERMS = 32
_DAY = 86_400.0
_KNOT_AGES_DAYS = (365, 180, 90, 60, 30, 14, 7, 3, 1, 0.25, 1 / 24)
_TIE_BREAK = 1e-12  # boost per rowid: of two equally scored entries the newer ranks first
_TERM = re.compile(r"[^\W_]+")
_POSSESSIVE = re.compile(r"(\w)['’]s\b")
# A private-use character: FTS5 keeps it inside tokens, search_terms() never emits it.
_FACET_MARK = "\ue000"
_SNIPPET_SOURCE_CHARS = 65_536


def to_datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


# -- writing -------------------------------------------------------------------
def _facet(prefix: str, value: str) -> str:
    return _FACET_MARK + prefix + value.casefold().encode().hex()


def facet_text(kind: str, apps: Iterable[str] = (), tags: Iterable[str] = ()) -> str:
    return " ".join([_facet("k", kind), *(_facet("a", a) for a in apps), *(_facet("t", t) for t in tags)])


def next_timestamp(conn: sqlite3.Connection, now: float) -> float:
    """``now``, but never earlier than the newest entry (call inside the write transaction)."""
    row = conn.execute("SELECT created_at FROM memory_index ORDER BY id DESC LIMIT 1").fetchone()
    return now if row is None else max(now, row[0])


def index_item(
    conn: sqlite3.Connection,
    kind: Kind,
    ref_id: int,
    *,
    title: str,
    body: str,
    created_at: float,
    apps: Sequence[str] = (),
    tags: Sequence[str] = (),
) -> int:
    """Add one searchable entry (call inside the write transaction that stored the item)."""
    facets = facet_text(kind, apps, tags)
    cur = conn.execute(
        "INSERT INTO memory_index (kind, ref_id, apps, tags, facets, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (kind, ref_id, json.dumps(list(apps)), json.dumps(list(tags)), facets, created_at),
    )
    index_id = int(cur.lastrowid or 0)
    conn.execute(
        "INSERT INTO memory_fts (rowid, title, body, facets) VALUES (?, ?, ?, ?)", (index_id, title, body, facets)
    )
    return index_id


# -- reading entries -----------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    """One index entry with what a reader needs to show it."""

    index_id: int
    kind: Kind
    ref_id: int
    created_at: datetime
    title: str
    body: str
    apps: list[str]
    tags: list[str]
    conversation_id: int | None
    superseded_by: int | None


_ENTRY_SQL = """
SELECT m.id, m.kind, m.ref_id, m.created_at, m.apps, m.tags,
    CASE m.kind WHEN 'note' THEN n.title WHEN 'decision' THEN d.decision WHEN 'plan' THEN p.instruction ELSE '' END,
    substr(CASE m.kind WHEN 'note' THEN n.text WHEN 'decision' THEN d.rationale WHEN 'message' THEN g.content
        ELSE '' END, 1, ?),
    coalesce(g.conversation_id, p.conversation_id), d.superseded_by
FROM memory_index AS m
LEFT JOIN notes AS n ON m.kind = 'note' AND n.id = m.ref_id
LEFT JOIN decisions AS d ON m.kind = 'decision' AND d.id = m.ref_id
LEFT JOIN messages AS g ON m.kind = 'message' AND g.id = m.ref_id
LEFT JOIN plans AS p ON m.kind = 'plan' AND p.id = m.ref_id
WHERE m.id IN ({})
"""


def entries(conn: sqlite3.Connection, index_ids: Sequence[int], *, body_chars: int = 200) -> dict[int, Entry]:
    """Describe index entries: kind, id, title, start of the text, labels, parents."""
    if not index_ids:
        return {}
    out: dict[int, Entry] = {}
    for row in conn.execute(_ENTRY_SQL.format(_marks(index_ids)), [body_chars, *index_ids]):
        index_id, kind, ref_id, created_at, apps, tags, title, body, conversation_id, superseded_by = row
        out[index_id] = Entry(
            index_id=index_id,
            kind=kind,
            ref_id=ref_id,
            created_at=to_datetime(created_at),
            title=title or _first_line(body),
            body=body,
            apps=json.loads(apps),
            tags=json.loads(tags),
            conversation_id=conversation_id,
            superseded_by=superseded_by,
        )
    return out


def _marks(values: Sequence[object]) -> str:
    return ",".join("?" * len(values))


def labels(conn: sqlite3.Connection, kind: Kind, ref_id: int) -> tuple[list[str], list[str]]:
    """The apps and tags of one item."""
    row = conn.execute("SELECT apps, tags FROM memory_index WHERE kind = ? AND ref_id = ?", (kind, ref_id)).fetchone()
    return ([], []) if row is None else (json.loads(row[0]), json.loads(row[1]))


def _first_line(text: str, width: int = 80) -> str:
    line = text.strip().split("\n", 1)[0]
    return line if len(line) <= width else line[: width - 1] + "…"


# -- query text ----------------------------------------------------------------
def search_terms(text: str) -> list[str]:
    """The distinct words of ``text``; all FTS5 syntax and punctuation is dropped."""
    plain = _POSSESSIVE.sub(r"\1", text)  # "Schuco's" is about Schuco
    terms = list(dict.fromkeys(t.casefold() for t in _TERM.findall(plain)))
    if not terms:
        raise InvalidInput(
            f"the search query {text[:80]!r} has no words to search for",
            hint="Search with words or numbers, e.g. 'aluminium quote Hartley'; punctuation is ignored.",
        )
    if len(terms) > MAX_TERMS:
        raise InvalidInput(
            f"the search query has {len(terms)} distinct words; the limit is {MAX_TERMS}",
            hint="Search with the few most distinctive words; every word must match anyway.",
        )
    return terms


def safe_match(terms: Sequence[str]) -> str:
    """An FTS5 expression requiring every term; each is quoted, so none is syntax.

    A term of three or more characters matches as itself (the index stems both sides) *or* as the
    prefix of a word: a name a caller has already stemmed or cut short ('schuc', 'kawn') still finds
    'Schuco' and 'Kawneer', and 'hart' finds 'Hartley'.
    """
    return " AND ".join(f'("{t}" OR "{t}"*)' if len(t) >= 3 else f'"{t}"' for t in terms)


def _filters_match(query: SearchQuery) -> list[str]:
    parts: list[str] = []
    kinds = set(query.kinds)
    if kinds and kinds != set(KINDS):
        parts.append("{facets} : (" + " OR ".join(f'"{_facet("k", k)}"' for k in sorted(kinds)) + ")")
    if query.app:
        parts.append(f'{{facets}} : "{_facet("a", query.app)}"')
    if query.tag:
        parts.append(f'{{facets}} : "{_facet("t", query.tag)}"')
    return parts


# -- ranking -------------------------------------------------------------------
def recency_weight(age_seconds: float) -> float:
    age_days = max(age_seconds, 0.0) / _DAY
    return 0.0 if age_days >= 365 else RECENCY_BOOST * 0.5 ** (age_days / HALF_LIFE_DAYS)


def _first_at_or_after(conn: sqlite3.Connection, ts: float) -> tuple[int, float] | None:
    return conn.execute(
        "SELECT id, created_at FROM memory_index WHERE created_at >= ? ORDER BY created_at, id LIMIT 1", (ts,)
    ).fetchone()


def _last_before(conn: sqlite3.Connection, ts: float) -> int | None:
    row = conn.execute(
        "SELECT id FROM memory_index WHERE created_at < ? ORDER BY created_at DESC, id DESC LIMIT 1", (ts,)
    ).fetchone()
    return None if row is None else int(row[0])


class RecencyKnots:
    """Where the age buckets start, as rowids; looked up again at most every ``ttl`` seconds.

    Between look-ups only the newest entry is read; a bucket edge that moved by
    less than ``ttl`` seconds changes a boost by a negligible amount.
    """

    def __init__(self, ttl: float = 60.0) -> None:
        self._ttl = ttl
        self._at: float | None = None
        self._edges: list[tuple[int, float]] = []

    def knots(self, conn: sqlite3.Connection, now: float) -> list[tuple[int, float]]:
        """``(rowid, boost)`` at the first entry of each age bucket and at the newest entry."""
        newest = conn.execute("SELECT id, created_at FROM memory_index ORDER BY id DESC LIMIT 1").fetchone()
        if newest is None:
            return []
        stale = self._at is None or abs(now - self._at) > self._ttl
        if stale or (self._edges and self._edges[-1][0] > newest[0]):
            self._edges = [row for age in _KNOT_AGES_DAYS if (row := _first_at_or_after(conn, now - age * _DAY))]
            self._at = now
        found = dict(self._edges)
        found[newest[0]] = newest[1]
        return [(rowid, recency_weight(now - ts)) for rowid, ts in sorted(found.items())]


@functools.lru_cache(maxsize=32)
def _boost_sql(knot_count: int) -> str:
    """SQL for the boost of ``rowid``: 0 before the first knot, linear between knots, plus a tie-break."""
    between = ["WHEN rowid < ? THEN ? + ? * rowid"] * (knot_count - 1)
    return " ".join(["(CASE WHEN rowid < ? THEN 0.0", *between, "ELSE ? END + ? * rowid)"])


def _boost_params(knots: list[tuple[int, float]]) -> list[float]:
    params: list[float] = [knots[0][0]]
    for (r0, w0), (r1, w1) in itertools.pairwise(knots):
        slope = (w1 - w0) / (r1 - r0)
        params += (r1, w0 - slope * r0, slope)
    return [*params, knots[-1][1], _TIE_BREAK]


# -- searching -----------------------------------------------------------------
def run_search(
    conn: sqlite3.Connection, query: SearchQuery, *, now: float | None = None, knots: RecencyKnots | None = None
) -> SearchPage:
    """Run ``query``; call inside a read snapshot."""
    terms = search_terms(query.query)
    now = time.time() if now is None else now
    boost_knots = (knots or RecencyKnots()).knots(conn, now)
    empty = SearchPage(hits=[], next_offset=None)
    if not boost_knots:
        return empty
    match = " AND ".join([safe_match(terms), *_filters_match(query)])
    where, bounds = ["memory_fts MATCH ?"], []
    if query.since is not None:
        first = _first_at_or_after(conn, query.since.timestamp())
        if first is None:
            return empty
        where.append("rowid >= ?")
        bounds.append(first[0])
    if query.until is not None:
        last = _last_before(conn, query.until.timestamp())
        if last is None:
            return empty
        where.append("rowid <= ?")
        bounds.append(last)
    sql = (
        f"SELECT rowid, bm25(memory_fts, 2.0, 1.0, 0.0) * (1.0 + {_boost_sql(len(boost_knots))}) AS score "
        f"FROM memory_fts WHERE {' AND '.join(where)} ORDER BY score LIMIT ? OFFSET ?"
    )
    params = [*_boost_params(boost_knots), match, *bounds, query.limit + 1, query.offset]
    try:
        ranked = conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError as exc:
        if "fts5" not in str(exc):
            raise
        raise InvalidInput(
            f"the search query {query.query[:80]!r} could not be run ({exc})",
            hint="Search with plain words; this is a bug if it keeps happening.",
        ) from None
    return page_of(conn, query, terms, [(i, -score) for i, score in ranked])


#: How long a search may run on the event loop before it is abandoned for the worker thread (see
#: ``run_search_within``). Most searches with a rare word take well under 1 ms of SQLite at 1M notes.
INLINE_SEARCH_BUDGET_S = 0.001
_PROGRESS_STEPS = 1000  # SQLite VM instructions between budget checks (~10-50 µs)


class HeavyTerms:
    """Search terms that made a search overrun its inline budget: a later search with one of them goes
    straight to the worker thread instead of wasting the budget again (frequent words recur). Bounded."""

    def __init__(self, limit: int = 10_000) -> None:
        self._terms: set[str] = set()
        self._limit = limit

    def any_in(self, terms: Iterable[str]) -> bool:
        return not self._terms.isdisjoint(terms)

    def add(self, terms: Iterable[str]) -> None:
        if len(self._terms) >= self._limit:
            self._terms.clear()
        self._terms.update(terms)


def run_search_within(
    conn: sqlite3.Connection,
    query: SearchQuery,
    *,
    budget_s: float,
    now: float | None = None,
    knots: RecencyKnots,
    heavy: HeavyTerms | None = None,
) -> SearchPage | None:
    """``run_search``, abandoned (None) once SQLite has worked on it for ``budget_s``; call in a read snapshot.

    For the event loop: a short search there answers sooner than one handed to a worker thread, whose
    hand-over back costs up to the GIL's switch interval (5 ms) when another thread or core is busy, ten
    times a short search. A long search gives up after ``budget_s`` (its terms are noted in ``heavy``, and
    a search with a noted term is not tried inline) and the caller runs it in the thread.
    """
    terms = search_terms(query.query)
    if heavy is not None and heavy.any_in(terms):
        return None
    deadline = time.perf_counter() + budget_s
    conn.set_progress_handler(lambda: time.perf_counter() > deadline, _PROGRESS_STEPS)
    try:
        return run_search(conn, query, now=now, knots=knots)
    except sqlite3.OperationalError as exc:
        if "interrupt" not in str(exc):
            raise
        if heavy is not None:
            heavy.add(terms)
        return None
    finally:
        conn.set_progress_handler(None, 0)


def page_of(conn: Any, query: SearchQuery, terms: Sequence[str], ranked: Sequence[tuple[int, float]]) -> SearchPage:
    """The page of hits for ``ranked`` ``(index id, score)`` rows, best first; one row past ``query.limit``
    (if the engine fetched it) says there is a next page. Shared by the SQLite and PostgreSQL searches."""
    more = len(ranked) > query.limit
    ranked = ranked[: query.limit]
    next_offset = query.offset + query.limit if more else None
    capped = next_offset is not None and next_offset > MAX_OFFSET
    found = entries(conn, [r[0] for r in ranked], body_chars=_SNIPPET_SOURCE_CHARS)
    hits = [
        SearchHit(
            kind=e.kind,
            id=e.ref_id,
            title=e.title,
            snippet=make_snippet(e.body, terms) or e.title,
            score=float(score),
            created_at=e.created_at,
            apps=e.apps,
            tags=e.tags,
            conversation_id=e.conversation_id,
            superseded_by=e.superseded_by,
        )
        for index_id, score in ranked
        if (e := found.get(index_id)) is not None
    ]
    return SearchPage(hits=hits, next_offset=None if capped else next_offset, capped=capped)
