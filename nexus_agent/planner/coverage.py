"""Does a tool cover what a clause asks? And what does the portfolio know that no reachable tool does?

A tool *covers* a clause when it shares the clause's subject (a content term of the clause
appears in the tool's name, description or its app's capabilities) and, for an order, its own
verb ('chase' in ``chase_quote``, 'book' in ``book_installation``) is among the clause's terms.
A clause term that only an app nobody can call knows ('survey' when the site-survey app is
pending) rules a tool out: the owner asked for that app's capability, not this tool's.

The portfolio and the recalled notes come from the context message the planner sends every model
(see :func:`parse_context`), so the offline planner knows exactly what the Anthropic one is told.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nexus_agent.planner.catalogue import ToolDescriptor
from nexus_agent.planner.text import quoted_options, split_identifier, terms


def _set(text: str) -> frozenset[str]:
    return frozenset(text.split())


__all__ = ["AppInfo", "Note", "Portfolio", "clause_terms", "parse_context", "tool_terms", "verb_terms"]

#: Terms that say nothing about which capability is wanted.
WEAK = _set(
    "=staff good ok right latest numbers stuff thing things status info detail details bit look lot way time "
    "moment still yet currently now wise again really up out one ones usual say saying tell add mention anybody "
    "anyone somebody someone lately recently who what how"
)
_WEAK_TERMS = WEAK | frozenset(t for w in WEAK for t in terms(w) if not t.startswith("="))
_DATE_WORDS = frozenset(
    terms("today tomorrow yesterday week weeks fortnight month day days next last this monday tuesday wednesday "
          "thursday friday saturday sunday morning afternoon")
)  # fmt: skip


@dataclass(frozen=True)
class AppInfo:
    slug: str
    name: str
    status: str
    category: str
    capabilities: tuple[str, ...]
    reachable: bool
    why: str = ""  # why its tools cannot be called now ('its secret X is not set ...'), when the context says

    @functools.cached_property
    def terms(self) -> frozenset[str]:
        return frozenset(terms(f"{split_identifier(self.slug)} {self.name} {' '.join(self.capabilities)}"))


@dataclass(frozen=True)
class Note:
    kind: str
    id: int
    date: str
    text: str


@dataclass
class Portfolio:
    apps: list[AppInfo] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)

    def unreachable_terms(self, reachable_terms: frozenset[str]) -> dict[str, list[AppInfo]]:
        """Term -> the apps nobody can call now that know it (and no reachable tool does)."""
        out: dict[str, list[AppInfo]] = {}
        for app in self.apps:
            if app.reachable:
                continue
            for t in app.terms - reachable_terms:
                out.setdefault(t, []).append(app)
        return out

    def categories(self) -> set[str]:
        return {a.category.lower() for a in self.apps if a.category}


_APP_LINE = re.compile(
    r"^- ([a-z0-9][a-z0-9-]*) \(([^,()]+), (\w+)(?:, ([\w -]*))?\)( \[not reachable\])?(?: \[[^]]*\])?: (.*)$"
)
_UNAVAILABLE_LINE = re.compile(r"^- ([a-z0-9][a-z0-9-]*) is UNAVAILABLE right now \((.*)\): ")
_NOTE_LINE = re.compile(r"^- (note|decision) (\d+) \((\d{4}-\d{2}-\d{2})\): (.*)$")


def parse_context(text: str) -> Portfolio:
    """The apps and recalled notes listed in the planner's context message (:mod:`.report` writes it)."""
    out = Portfolio()
    unavailable: dict[str, str] = {}
    for line in text.splitlines():
        u = _UNAVAILABLE_LINE.match(line.strip())
        if u:  # its tools were left out: not reachable, and the reason is worth saying
            unavailable[u[1]] = u[2]
            continue
        m = _APP_LINE.match(line.strip())
        if m:
            caps = tuple(c.strip() for c in m[6].split(";") if c.strip())
            out.apps.append(AppInfo(m[1], m[2], m[3], (m[4] or "").strip(), caps, not m[5]))
            continue
        n = _NOTE_LINE.match(line.strip())
        if n:
            out.notes.append(Note(n[1], int(n[2]), n[3], n[4]))
    out.apps = [
        AppInfo(a.slug, a.name, a.status, a.category, a.capabilities, False, unavailable[a.slug])
        if a.slug in unavailable
        else a
        for a in out.apps
    ]
    return out


@functools.lru_cache(maxsize=4096)
def _tool_terms(name: str, description: str, caps: tuple[str, ...], schema: str) -> frozenset[str]:
    return frozenset(terms(f"{split_identifier(name)} {description} {' '.join(caps)} {schema}"))


def _schema_words(schema: Mapping[str, Any]) -> str:
    """Property names, enum values and the options a description quotes: 'status: declined' says the tool
    can filter declined quotes."""
    words: list[str] = []
    props = schema.get("properties") or {}
    defs = schema.get("$defs") or {}
    for prop, raw in props.items():
        words.append(split_identifier(prop))
        options = [raw, *(raw.get("anyOf") or [])] if isinstance(raw, Mapping) else []
        for o in options:
            ref = str(o.get("$ref", "")).rsplit("/", 1)[-1]
            target = defs.get(ref, o) if ref else o
            words += [str(v) for v in target.get("enum", []) if isinstance(v, str)]
            words += quoted_options(str(target.get("description") or ""))  # "'north' or 'south'": options too
    return " ".join(words)


def tool_terms(d: ToolDescriptor) -> frozenset[str]:
    return _tool_terms(d.name, d.description, d.app_capabilities, _schema_words(d.input_schema))


def verb_terms(d: ToolDescriptor) -> frozenset[str]:
    """The tool's own verb: the first word of its name (after the app) and of its description."""
    own = split_identifier(d.name.split("__", 1)[-1]).split()
    first = d.description.split()[:1]
    words = [w for w in own[:1] + first if w.isalpha()]
    found: set[str] = set()
    for w in words:
        found.update(terms(w))
    if own and own[0].lower() in {"memory", "registry", "satellite", "nexus"} and len(own) > 1:
        found.update(terms(own[1]))  # 'memory_remember': the verb is the second word
    return frozenset(found)


def clause_terms(stripped: str) -> list[str]:
    """Content terms of a clause whose stated values were removed: no weak words, no date words."""
    return [t for t in dict.fromkeys(terms(stripped)) if t not in _WEAK_TERMS and t not in _DATE_WORDS]


def reachable_vocabulary(tools: Iterable[ToolDescriptor]) -> frozenset[str]:
    out: set[str] = set()
    for d in tools:
        out |= tool_terms(d)
    return frozenset(out)


def foreign(clause: Sequence[str], tool: ToolDescriptor, elsewhere: dict[str, list[AppInfo]]) -> list[str]:
    """Clause terms this tool does not know that only an unreachable app knows."""
    own = tool_terms(tool)
    return [t for t in clause if t not in own and t in elsewhere]
