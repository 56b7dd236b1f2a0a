"""Memory search on PostgreSQL: ``tsvector`` + GIN, ``websearch_to_tsquery``, recency in the ranking.

The same query words as on SQLite (:func:`memory.search.search_terms`), each required, and
each of three or more characters also matching as a prefix (``'hart'`` finds Hartley), as
:func:`memory.search.safe_match` does. The score is ``ts_rank`` (title weighted above the
body) times ``1 + boost``, the boost being SQLite's :func:`~memory.search.recency_weight`
(halving every ``HALF_LIFE_DAYS``, 0 after a year), computed in SQL; ties go to the newer
entry. Results are the same :class:`~memory.models.SearchPage` as on SQLite.
"""

from __future__ import annotations

import time
from typing import Any

from memory.models import KINDS, SearchPage, SearchQuery
from memory.pg.database import Cursorish
from memory.search import HALF_LIFE_DAYS, RECENCY_BOOST, page_of, search_terms

__all__ = ["pg_search", "tsquery_sql"]

_DAY = 86_400.0
#: A label filter (app or tag) on the JSON array column ``{col}``, case-insensitive as on SQLite.
_LABEL = "EXISTS (SELECT 1 FROM jsonb_array_elements_text(m.{col}::jsonb) x WHERE lower(x) = lower(?))"


def tsquery_sql(terms: list[str]) -> tuple[str, list[str]]:
    """A tsquery requiring every term (as a word, or as a prefix when 3+ characters) and its parameters."""
    parts: list[str] = []
    params: list[str] = []
    for term in terms:
        if len(term) >= 3:
            # The prefix of the stem also matches the word itself ('quotes' -> 'quot':* matches 'quot'),
            # so this one term is SQLite's ("t" OR "t"*) without scanning the index twice.
            parts.append("to_tsquery('nexus_text', ?)")
            params.append(f"{term}:*")  # search_terms() yields letters and digits only: no tsquery syntax
        else:
            parts.append("websearch_to_tsquery('nexus_text', ?)")
            params.append(term)
    return " && ".join(parts), params


def _where(query: SearchQuery) -> tuple[list[str], list[Any]]:
    where: list[str] = ["m.document @@ q.query"]
    params: list[Any] = []
    kinds = set(query.kinds)
    if kinds and kinds != set(KINDS):
        where.append(f"m.kind IN ({', '.join('?' * len(kinds))})")
        params += sorted(kinds)
    if query.app:
        where.append(_LABEL.format(col="apps"))
        params.append(query.app)
    if query.tag:
        where.append(_LABEL.format(col="tags"))
        params.append(query.tag)
    if query.since is not None:
        where.append("m.created_at >= ?")
        params.append(query.since.timestamp())
    if query.until is not None:
        where.append("m.created_at < ?")
        params.append(query.until.timestamp())
    return where, params


def pg_search(conn: Cursorish, query: SearchQuery, *, now: float | None = None) -> SearchPage:
    """Run ``query``; call inside a read snapshot."""
    terms = search_terms(query.query)
    now = time.time() if now is None else now
    tsquery, tsparams = tsquery_sql(terms)
    where, params = _where(query)
    boost = "(CASE WHEN m.created_at <= ? THEN 0.0 ELSE ? * power(0.5, greatest(? - m.created_at, 0) / ?) END)"
    sql = (
        f"WITH q AS (SELECT {tsquery} AS query) "
        f"SELECT m.id, ts_rank(m.document, q.query) * (1.0 + {boost}) AS score "
        f"FROM memory_index AS m, q WHERE {' AND '.join(where)} "
        "ORDER BY score DESC, m.id DESC LIMIT ? OFFSET ?"
    )
    boost_params = [now - 365 * _DAY, RECENCY_BOOST, now, HALF_LIFE_DAYS * _DAY]
    ranked = conn.execute(sql, [*tsparams, *boost_params, *params, query.limit + 1, query.offset]).fetchall()
    return page_of(conn, query, terms, [(i, float(score)) for i, score in ranked])
