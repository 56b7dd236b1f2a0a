"""What gap analysis reads from each app: its fields, normalised into terms, memoised.

Normalising is most of an analysis's cost and the registry's texts rarely change between calls, so each
app's sources are memoised by identity of its field objects and by the texts themselves.
"""

from __future__ import annotations

from nexus_agent.gap_terms import normalise
from nexus_agent.wire.models import AppRecord

__all__ = ["MemoEntry", "Source", "memo_entry"]

Source = tuple[str, str, dict[str, str]]  # (kind, label, {term: app's words})


def _fields_key(app: AppRecord) -> tuple[object, ...]:
    """Every text the analysis reads from an app: apps whose texts are equal have the same sources."""
    return (
        app.name,
        app.description,
        app.category,
        tuple((c.name, c.description) for c in app.capabilities),
        tuple((w.name, w.description, tuple(w.steps)) for w in app.workflows),
        tuple(app.tags),
        tuple(app.integrations),
        tuple(app.business_rules),
    )


#: Normalised sources by the texts they came from: normalising is most of an analysis's cost, and the
#: registry's texts rarely change between calls. A pure memo, bounded (cleared when full).
_SOURCES_MEMO: dict[tuple[object, ...], tuple[list[Source], frozenset[str]]] = {}
_SOURCES_MEMO_MAX = 50_000


#: The same, found by the identity of the record's field objects: the registry hands out shallow copies of
#: the records it parsed, so an unchanged app comes back with the very same strings and lists, and checking
#: identities is ~50x cheaper than building the texts key (~45 ms for 5,000 apps). Each entry holds the
#: objects it was keyed on (slug and status too, which the index also depends on), so their ids cannot be
#: reused while it exists. Like the registry's own memo, this assumes records are not mutated in place.
MemoEntry = tuple[tuple[object, ...], list[Source], frozenset[str]]
_BY_IDENTITY: dict[int, MemoEntry] = {}


def _field_objects(app: AppRecord) -> tuple[object, ...]:
    return (
        app.slug,
        app.status,
        app.name,
        app.description,
        app.category,
        app.capabilities,
        app.workflows,
        app.tags,
        app.integrations,
        app.business_rules,
    )


def memo_entry(app: AppRecord) -> MemoEntry:
    """The app's memo entry: its field objects, its sources and every term in any of them."""
    objects = _field_objects(app)
    known = _BY_IDENTITY.get(id(app.capabilities))
    if known is not None and known[0] == objects:  # identity first: for the same objects, no text is compared
        return known
    sources, terms = _sources_by_text(app)
    if len(_BY_IDENTITY) >= _SOURCES_MEMO_MAX:
        _BY_IDENTITY.clear()
    entry = _BY_IDENTITY[id(app.capabilities)] = (objects, sources, terms)
    return entry


def _sources(app: AppRecord) -> tuple[list[Source], frozenset[str]]:
    """The app's sources, and every term in any of them."""
    _, sources, terms = memo_entry(app)
    return sources, terms


def _sources_by_text(app: AppRecord) -> tuple[list[Source], frozenset[str]]:
    key = _fields_key(app)
    found = _SOURCES_MEMO.get(key)
    if found is None:
        if len(_SOURCES_MEMO) >= _SOURCES_MEMO_MAX:
            _SOURCES_MEMO.clear()
        sources = _compute_sources(app)
        found = _SOURCES_MEMO[key] = (sources, frozenset(t for _, _, terms in sources for t in terms))
    return found


def _compute_sources(app: AppRecord) -> list[Source]:
    fields: list[tuple[str, str, str]] = [
        ("name", app.name, app.name),
        ("description", app.description, app.description),
    ]
    fields += [("capability", c.name, f"{c.name} {c.description}") for c in app.capabilities]
    fields += [("workflow", w.name, " ".join([w.name, w.description, *w.steps])) for w in app.workflows]
    fields += [("tag", t, t) for t in app.tags]
    fields += [("category", app.category, app.category.replace("_", " "))]
    fields += [("integration", i, i) for i in app.integrations]
    fields += [("business rule", r, r) for r in app.business_rules]
    out: list[Source] = []
    for kind, label, text in fields:
        terms: dict[str, str] = {}
        for term, words in normalise(text):
            terms.setdefault(term, words)
        if terms:
            out.append((kind, label, terms))
    return out
