"""Capability gap analysis: which registered apps cover each required capability.

Deterministic text matching, no LLM. Each text is normalised the same way:
lower-cased words, stopwords dropped, a light stemmer (``quoting``, ``quotes``,
``quotation`` -> ``quot``) and a small synonym table in the owner's vocabulary
(quote = quotation = estimate = pricing; enquiry = inquiry = lead; site visit =
survey; ...), multi-word phrases first. A required capability is scored against
every field of every app::

    field score = field weight x (weight of the required terms found in the field
                                  / weight of all the required terms)

with domain terms (the synonym table) weighing 2, ordinary words 1 and generic
verbs ('manage', 'generate', 'track') 0.5. An app's score is its best field;
it covers the capability when the score reaches :data:`COVER_THRESHOLD`.

Approved, active and degraded apps are live coverage; placeholder and pending
apps only plan it ("planned, not live"); suspended and retired apps never count
(they are listed under ``not_counted`` for information).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, Field

from nexus_agent.wire.errors import InvalidInput
from nexus_agent.wire.models import LIVE_STATUSES, PLANNED_STATUSES, AppRecord, AppStatus

__all__ = [
    "COVER_THRESHOLD",
    "FIELD_WEIGHTS",
    "SYNONYMS",
    "AppMatch",
    "CapabilityCoverage",
    "GapReport",
    "analyse_gaps",
]

#: Minimum score (0..1) for an app to cover a capability.
COVER_THRESHOLD = 0.6
#: How much a full match in each kind of field is worth.
FIELD_WEIGHTS: dict[str, float] = {
    "capability": 1.0,
    "workflow": 0.85,
    "name": 0.8,
    "tag": 0.7,
    "description": 0.7,
    "category": 0.5,
    "integration": 0.5,
    "business rule": 0.5,
}
MAX_EVIDENCE = 4

#: Domain concept -> the words and phrases that mean it in SFG Aluminium's business.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "quote": ("quote", "quotation", "estimate", "estimating", "pricing", "price", "costing", "tender"),
    "enquiry": ("enquiry", "inquiry", "enquire", "inquire", "lead", "sales lead", "prospect"),
    "lead time": ("lead time", "lead time estimate"),  # not an enquiry, not a quote
    "invoice": ("invoice", "billing", "bill"),
    "payment": ("payment", "pay", "receivable", "cash collection", "debt chasing"),
    "schedule": ("schedule", "calendar", "booking", "book", "appointment", "diary", "slot", "roster", "rota"),
    "survey": ("survey", "surveyor", "site visit", "site survey", "measure up"),
    "measurement": ("measurement", "measure", "dimension"),
    "stock": ("stock", "inventory", "stock level", "stock control", "inventory control", "stock take"),
    "credit check": ("credit check", "credit vetting", "credit vet", "credit rating", "credit score", "credit scoring"),
    "fabrication": ("fabrication", "fabricate", "manufacturing", "manufacture", "production", "workshop"),
    "installation": ("installation", "install", "installer", "fitting", "fit", "fitter"),
    "margin": ("margin", "profitability", "profit", "markup"),
    "glazing": ("glazing", "glazier", "glass", "curtain wall", "curtain walling"),
    "customer": ("customer", "client"),
    "supplier": ("supplier", "vendor", "procurement", "purchasing", "purchase order"),
    "delivery": ("delivery", "dispatch", "shipping", "logistics", "transport"),
    "staff": ("staff", "crew", "employee", "workforce", "operative", "team"),
    "notification": ("notification", "notify", "alert", "reminder"),
    "report": ("report", "reporting", "dashboard", "analytics", "kpi"),
    "approval": ("approval", "approve", "sign off", "authorisation", "authorization"),
    "accounting": ("accounting", "bookkeeping", "xero", "sage", "quickbooks"),
    "aftercare": ("aftercare", "warranty", "snagging", "remedial", "repair", "service call"),
    "compliance": ("compliance", "certification", "fensa", "building regulation"),
    "document": ("document", "pdf", "paperwork"),
}


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOPWORDS = _word_set(
    "a an and are as at be by can could do does for from has have in into is it its of on or our so that the their "
    "this to via we when where which while who will with within without all any each every per than then them they "
    "us also new app apps application system software tool platform module feature functionality capability "
    "ability able using use based etc e g i ie"
)
#: Generic verbs and nouns that say little on their own: half weight.
WEAK_WORDS = _word_set(
    "manage management handle handling process generate generation create track tracking record capture view "
    "update send check run support automate automation data information detail"
)


# -- normalisation ----------------------------------------------------------
def _undouble(w: str) -> str:
    return w[:-1] if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "lsz" else w


def _drop_final_vowel(w: str) -> str:
    return w[:-1] if len(w) > 3 and w.endswith(("e", "y")) else w


@functools.lru_cache(maxsize=8192)
def stem(word: str) -> str:
    """A light, predictable stemmer: 'quotations', 'quoting', 'quoted' and 'quote' all give 'quot'."""
    w = word
    if len(w) <= 3 or w.isdigit():
        return w
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("sses"):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suffix in ("ing", "ed"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = _undouble(w[: -len(suffix)])  # planning -> plan
            break
    for suffix in ("ation", "ment", "ion"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)]
            break
    w = _drop_final_vowel(w)
    for suffix in ("or", "er"):  # surveyor -> survey -> surve, fitter -> fit
        if w.endswith(suffix) and len(w) - len(suffix) >= 4:
            w = _drop_final_vowel(_undouble(w[: -len(suffix)]))
            break
    if len(w) > 4 and w.endswith("at"):  # generat(e) -> gener, like generation
        w = w[:-2]
    return w


def _words(text: str) -> list[str]:
    return [w for w in re.findall(r"[^\W_]+", text.lower()) if (len(w) > 1 or w.isdigit()) and w not in STOPWORDS]


def _build_phrases() -> dict[tuple[str, ...], str]:
    phrases: dict[tuple[str, ...], str] = {}
    for concept, variants in SYNONYMS.items():
        for variant in (concept, *variants):
            key = tuple(stem(w) for w in _words(variant))
            if key:
                phrases.setdefault(key, "=" + concept)
    return phrases


_PHRASES = _build_phrases()
_LONGEST = max(len(k) for k in _PHRASES)
_WEAK = frozenset(stem(w) for w in WEAK_WORDS)


def normalise(text: str) -> list[tuple[str, str]]:
    """Text -> ``[(term, original words)]``; a term is a stem or ``=concept`` (longest phrase first)."""
    words = _words(text)
    stems = [stem(w) for w in words]
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(stems):
        for n in range(min(_LONGEST, len(stems) - i), 0, -1):
            concept = _PHRASES.get(tuple(stems[i : i + n]))
            if concept:
                out.append((concept, " ".join(words[i : i + n])))
                i += n
                break
        else:
            out.append((stems[i], words[i]))
            i += 1
    return out


def _weight(term: str) -> float:
    return 2.0 if term.startswith("=") else 0.5 if term in _WEAK else 1.0


# -- report models ----------------------------------------------------------
class AppMatch(BaseModel):
    slug: str
    name: str
    status: AppStatus
    score: float = Field(description="0..1: the best-matching field's weight x share of the capability's terms.")
    evidence: list[str] = Field(description="What matched, strongest first.")


class CapabilityCoverage(BaseModel):
    capability: str
    terms: list[str] = Field(description="What was matched on: the words, and the concept a synonym maps to.")
    coverage: Literal["live", "planned", "none"]
    summary: str
    live: list[AppMatch] = Field(description="Approved, active or degraded apps that cover it, best first.")
    planned: list[AppMatch] = Field(description="Placeholder or pending apps that plan to cover it.")
    not_counted: list[AppMatch] = Field(description="Suspended or retired apps that match; they do not count.")


class GapReport(BaseModel):
    capabilities: list[CapabilityCoverage]
    covered: list[str] = Field(description="Capabilities a live app covers.")
    planned_only: list[str] = Field(description="Capabilities only placeholder/pending apps cover: planned, not live.")
    gaps: list[str] = Field(description="Capabilities nothing (live or planned) covers.")
    apps_considered: int
    threshold: float = COVER_THRESHOLD
    summary: str
    asked_not_covered: list[str] = Field(
        default_factory=list,
        description="Capabilities asked of Nexus (instructions it answered 'I can't'; each says who asked) that no "
        "live app covers yet.",
    )

    def to_text(self) -> str:
        """A plain-text rendering for people (CLI, logs): one block per capability, best evidence first."""
        labels = {"live": "COVERED", "planned": "PLANNED, NOT LIVE", "none": "NOT COVERED"}
        lines = [self.summary]
        for c in self.capabilities:
            lines += ["", f"{labels[c.coverage]}: {c.capability}", f"  {c.summary}"]
            for m in [*c.live, *c.planned, *c.not_counted]:
                lines.append(f"  - {m.slug} ({m.status.value}, score {m.score:.2f}): {m.evidence[0]}")
        if self.gaps:
            lines += ["", "Nothing covers: " + "; ".join(self.gaps)]
        if self.asked_not_covered:
            lines += ["", "Asked for, not covered: " + "; ".join(self.asked_not_covered)]
        return "\n".join(lines)


# -- matching ---------------------------------------------------------------
_Source = tuple[str, str, dict[str, str]]  # (kind, label, {term: app's words})


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
_SOURCES_MEMO: dict[tuple[object, ...], tuple[list[_Source], frozenset[str]]] = {}
_SOURCES_MEMO_MAX = 50_000


#: The same, found by the identity of the record's field objects: the registry hands out shallow copies of
#: the records it parsed, so an unchanged app comes back with the very same strings and lists, and checking
#: identities is ~50x cheaper than building the texts key (~45 ms for 5,000 apps). Each entry holds the
#: objects it was keyed on (slug and status too, which the index also depends on), so their ids cannot be
#: reused while it exists. Like the registry's own memo, this assumes records are not mutated in place.
_Memo = tuple[tuple[object, ...], list[_Source], frozenset[str]]
_BY_IDENTITY: dict[int, _Memo] = {}


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


def _memo(app: AppRecord) -> _Memo:
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


def _sources(app: AppRecord) -> tuple[list[_Source], frozenset[str]]:
    """The app's sources, and every term in any of them."""
    _, sources, terms = _memo(app)
    return sources, terms


def _sources_by_text(app: AppRecord) -> tuple[list[_Source], frozenset[str]]:
    key = _fields_key(app)
    found = _SOURCES_MEMO.get(key)
    if found is None:
        if len(_SOURCES_MEMO) >= _SOURCES_MEMO_MAX:
            _SOURCES_MEMO.clear()
        sources = _compute_sources(app)
        found = _SOURCES_MEMO[key] = (sources, frozenset(t for _, _, terms in sources for t in terms))
    return found


def _compute_sources(app: AppRecord) -> list[_Source]:
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
    out: list[_Source] = []
    for kind, label, text in fields:
        terms: dict[str, str] = {}
        for term, words in normalise(text):
            terms.setdefault(term, words)
        if terms:
            out.append((kind, label, terms))
    return out


def _clip(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _match(required: list[tuple[str, str]], app: AppRecord, sources: list[_Source]) -> AppMatch | None:
    total = sum(_weight(t) for t, _ in required)
    scored: list[tuple[float, int, list[tuple[str, str]]]] = []
    for order, (kind, _, terms) in enumerate(sources):
        hits = [(t, words) for t, words in required if t in terms]
        if hits:
            scored.append((FIELD_WEIGHTS[kind] * sum(_weight(t) for t, _ in hits) / total, order, hits))
    if not scored:
        return None
    scored.sort(key=lambda s: (-s[0], s[1]))
    best = round(scored[0][0], 3)
    if best < COVER_THRESHOLD:
        return None
    evidence = []  # worded only for the strongest few, and only for an app that covers it
    for _, order, hits in scored[:MAX_EVIDENCE]:
        kind, label, terms = sources[order]
        shown = [words if terms[t] == words else f"{words} (as '{terms[t]}')" for t, words in hits]
        evidence.append(f"{kind} '{_clip(label)}' matched terms {', '.join(shown)}")
    return AppMatch(slug=app.slug, name=app.name, status=app.status, score=best, evidence=evidence)


def _display(required: list[tuple[str, str]]) -> list[str]:
    return [
        f"{words} (= {term[1:]})" if term.startswith("=") and words != term[1:] else words for term, words in required
    ]


def _names(matches: Iterable[AppMatch]) -> str:
    return ", ".join(f"{m.slug} ({m.status.value})" for m in matches)


def _unique(terms: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for t, w in terms:
        if t not in seen:
            seen.add(t)
            out.append((t, w))
    return out


def _check(required: list[str]) -> list[tuple[str, list[tuple[str, str]]]]:
    if not isinstance(required, list) or not 1 <= len(required) <= 100:
        count = len(required) if isinstance(required, list) else 0
        raise InvalidInput(
            f"give 1..100 required capabilities (got {count})",
            hint="Give at least one capability; split a list longer than 100 into several analyses.",
        )
    problems: list[dict[str, str]] = []
    parsed: list[tuple[str, list[tuple[str, str]]]] = []
    seen: set[str] = set()
    for i, item in enumerate(required):
        text = " ".join(item.split()) if isinstance(item, str) else ""
        terms = _unique(normalise(text))
        if not isinstance(item, str) or not text:
            problems.append({"field": f"required[{i}]", "problem": "must be a non-empty text"})
        elif len(text) > 200:
            problems.append({"field": f"required[{i}]", "problem": f"must be at most 200 characters (got {len(text)})"})
        elif not terms:
            problems.append({"field": f"required[{i}]", "problem": f"has no words to match (got {text!r})"})
        elif text.lower() not in seen:  # repeated capabilities are analysed once
            seen.add(text.lower())
            parsed.append((text, terms))
    if problems:
        lines = "\n".join(f"  - {p['field']}: {p['problem']}" for p in problems)
        raise InvalidInput(
            f"required capabilities are invalid ({len(problems)} problem{'s' if len(problems) != 1 else ''}):\n{lines}",
            hint="Describe each capability in a few plain words, e.g. 'credit checks' or 'installation scheduling'.",
            details=problems,
        )
    return parsed


class _Index:
    """Apps with their (memoised) sources, and which apps hold each term: a capability is scored only against
    the apps that share a term with it (an app sharing none scores 0), so an analysis costs what matches."""

    def __init__(self, entries: list[tuple[AppRecord, list[_Source], frozenset[str]]]) -> None:
        self.entries = entries
        self.by_term: dict[str, list[int]] = {}
        for position, (_, _, terms) in enumerate(entries):
            for term in terms:
                self.by_term.setdefault(term, []).append(position)

    def matches(self, required: list[tuple[str, str]]) -> list[AppMatch]:
        positions = sorted({p for t, _ in required for p in self.by_term.get(t, ())})
        found = (_match(required, *self.entries[p][:2]) for p in positions)
        return [m for m in found if m is not None]


#: The last index built, with the memo entries it was built from (held, so their ids stay theirs): gap
#: analyses of an unchanged registry (the usual case) find the same entries and reuse the index.
_LAST_INDEX: list[tuple[tuple[int, ...], list[_Memo], _Index]] = []


def _index(apps: list[AppRecord]) -> _Index:
    ordered = sorted(apps, key=_slug_of)
    memos = [_memo(app) for app in ordered]
    key = tuple(map(id, memos))
    if _LAST_INDEX and _LAST_INDEX[0][0] == key:
        return _LAST_INDEX[0][2]
    index = _Index([(app, sources, terms) for app, (_, sources, terms) in zip(ordered, memos, strict=True)])
    _LAST_INDEX[:] = [(key, memos, index)]
    return index


def _slug_of(app: AppRecord) -> str:
    return app.slug


def analyse_gaps(required: list[str], apps: list[AppRecord]) -> GapReport:
    """Which of ``apps`` cover each of the ``required`` capabilities, with evidence; and what nothing covers."""
    parsed = _check(required)
    index = _index(apps)
    results: list[CapabilityCoverage] = []
    for text, terms in parsed:
        matches = index.matches(terms)
        matches.sort(key=lambda m: (-m.score, m.slug))
        live = [m for m in matches if m.status in LIVE_STATUSES]
        planned = [m for m in matches if m.status in PLANNED_STATUSES]
        other = [m for m in matches if m.status not in LIVE_STATUSES | PLANNED_STATUSES]
        if live:
            coverage: Literal["live", "planned", "none"] = "live"
            summary = f"covered by {_names(live)}" + (f"; also planned in {_names(planned)}" if planned else "")
        elif planned:
            coverage, summary = "planned", f"planned, not live: only {_names(planned)} would cover it"
        else:
            coverage, summary = "none", "not covered by any registered app"
            if other:
                summary += f" (matched only by {_names(other)}, which do not count)"
        results.append(
            CapabilityCoverage(
                capability=text,
                terms=_display(terms),
                coverage=coverage,
                summary=summary,
                live=live,
                planned=planned,
                not_counted=other,
            )
        )
    covered = [r.capability for r in results if r.coverage == "live"]
    planned_only = [r.capability for r in results if r.coverage == "planned"]
    gaps = [r.capability for r in results if r.coverage == "none"]
    return GapReport(
        capabilities=results,
        covered=covered,
        planned_only=planned_only,
        gaps=gaps,
        apps_considered=len(apps),
        summary=(
            f"{len(results)} capabilities against {len(apps)} apps: {len(covered)} covered by live apps, "
            f"{len(planned_only)} planned but not live, {len(gaps)} not covered"
        ),
    )
