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

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, Field

from nexus_agent.gap_sources import MemoEntry, Source, memo_entry
from nexus_agent.gap_terms import STOPWORDS, SYNONYMS, WEAK_WORDS, normalise, stem, term_weight
from nexus_agent.wire.errors import InvalidInput
from nexus_agent.wire.models import LIVE_STATUSES, PLANNED_STATUSES, AppRecord, AppStatus

__all__ = [
    "COVER_THRESHOLD",
    "FIELD_WEIGHTS",
    "STOPWORDS",
    "SYNONYMS",
    "WEAK_WORDS",
    "AppMatch",
    "CapabilityCoverage",
    "GapReport",
    "analyse_gaps",
    "normalise",
    "stem",
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


def _clip(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _match(required: list[tuple[str, str]], app: AppRecord, sources: list[Source]) -> AppMatch | None:
    total = sum(term_weight(t) for t, _ in required)
    scored: list[tuple[float, int, list[tuple[str, str]]]] = []
    for order, (kind, _, terms) in enumerate(sources):
        hits = [(t, words) for t, words in required if t in terms]
        if hits:
            scored.append((FIELD_WEIGHTS[kind] * sum(term_weight(t) for t, _ in hits) / total, order, hits))
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

    def __init__(self, entries: list[tuple[AppRecord, list[Source], frozenset[str]]]) -> None:
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
_LAST_INDEX: list[tuple[tuple[int, ...], list[MemoEntry], _Index]] = []


def _index(apps: list[AppRecord]) -> _Index:
    ordered = sorted(apps, key=_slug_of)
    memos = [memo_entry(app) for app in ordered]
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
