"""Which offered tools cover a clause, and which of them wins: the offline planner's scoring.

:class:`CandidateRanking` is the part of :class:`~nexus_agent.planner.choice.Chooser` that finds the
candidates for a clause (tools with side effects whose own verb it uses; read-only tools sharing its
subject), keeps those that fit the ids it names, and picks among those scoring within ``window`` of the
best the one that carries the most stated constraints (then complete, then rank). Orders on
'every/all/each' first list their targets, and an id no call uses goes to a tool that takes it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence

from nexus_agent.planner.arguments import Filled, ids_for, is_id_property
from nexus_agent.planner.catalogue import ToolDescriptor
from nexus_agent.planner.coverage import AppInfo, Portfolio, foreign, tool_terms, verb_terms
from nexus_agent.planner.entities import Found
from nexus_agent.planner.filling import ArgumentFilling
from nexus_agent.planner.intent import WEAK_VERBS, Reading, read
from nexus_agent.planner.text import split_identifier, terms

__all__ = ["CandidateRanking", "about_nexus", "free_text_tool", "undocumented"]


def about_nexus(d: ToolDescriptor) -> bool:
    """One of Nexus's own tools about itself (not memory: what the owner told Nexus is business)."""
    return d.source == "nexus" and "nexus memory" not in d.app_capabilities


def free_text_tool(d: ToolDescriptor) -> bool:
    """A tool that writes down whatever it is given (every required property is plain text)."""
    props = d.input_schema.get("properties") or {}
    required = list(d.input_schema.get("required") or [])
    plain = {"text", "note", "body", "message", "content", "decision"}
    return bool(required) and all(p in plain and "pattern" not in (props.get(p) or {}) for p in required)


def undocumented(d: ToolDescriptor) -> bool:
    """A tool whose schema says nothing about its parameters (one free-form object, as for a legacy app's
    message type its registration does not document): called with {}, it gets none of the owner's values."""
    props = d.input_schema.get("properties") or {}
    if not props:
        return bool(d.input_schema.get("additionalProperties", False))
    return len(props) == 1 and all(
        isinstance(p, dict) and p.get("type") == "object" and not p.get("properties") for p in props.values()
    )


class CandidateRanking(ArgumentFilling):
    """Candidates for a clause and the pick among them (needs the attributes a Chooser sets)."""

    portfolio: Portfolio
    rank: Callable[[str], list[tuple[str, float]]]
    window: float
    question: bool
    vocabulary: frozenset[str]
    elsewhere: dict[str, list[AppInfo]]

    def _memory_match(self, reading: Reading) -> str | None:
        """A name in the clause that a recalled note also names (exact word, any case)."""
        for name in reading.names:
            pattern = re.compile(rf"\b{re.escape(name.split()[0])}", re.I)
            if any(pattern.search(n.text) for n in self.portfolio.notes):
                return name
        return None

    def _spelt(self, term: str) -> str:
        """A word nobody knows that is one slip from one they do ('enquries' -> 'enquiry')."""
        if term in self.vocabulary or term.startswith("=") or len(term) < 5:
            return term
        close = difflib.get_close_matches(term, [v.lstrip("=") for v in self.vocabulary], n=1, cutoff=0.75)
        if not close:
            return term
        return next((v for v in self.vocabulary if v.lstrip("=") == close[0]), term)

    def _asks_action(self, clause: str) -> bool:
        """The clause names the action of some tool with side effects ('a reminder', 'booked')."""
        said = set(terms(clause))
        return any(not t.descriptor.read_only and verb_terms(t.descriptor) & said for t in self.by_name.values())

    def _takes_ids(self, d: ToolDescriptor, ids: Sequence[Found]) -> bool:
        """Every id the clause names fits one of the tool's properties ('INV-...' does not fit ``quote_id``)."""
        props = list((d.input_schema.get("properties") or {}).items())
        if ids and undocumented(d):
            return True  # it may take anything: the owner is asked how (never a blind call)
        kinds = {str(f.value).split("-", 1)[0] for f in ids}
        if len(kinds) > 1:  # 'Q-1062 and CUST-0135': each tool takes its own; the rest go to another tool
            return any(self._takes_ids(d, [f]) for f in ids)
        for found in ids:
            prefix = str(found.value).split("-", 1)[0]
            fits = any(ids_for(p, d.name, [found]) for p, _ in props if is_id_property(p))
            fits = fits or any(f"{prefix}-" in str((raw or {}).get("description", "")) for _, raw in props)
            if not fits:
                return False
        return True

    def _writers(
        self, ranked: list[tuple[str, float]], wanted: list[str], clause: str, ids: Sequence[Found]
    ) -> list[tuple[str, float]]:
        """Tools with side effects whose own verb the clause uses (or whose name holds the clause's verb:
        'estimate' -> ``create_quote``), and that fit its object and its ids."""
        reading = read(clause)
        verb = set(terms(reading.verb))
        # The order's own verb ('cancel the booking' is not 'book'); a carrier verb ('send a chaser') lends
        # the action to the rest of the clause.
        said = set(terms(clause)) if reading.verb in WEAK_VERBS else set(terms(reading.verb_phrase)) | verb
        out = []
        for name, score in ranked[:12]:
            d = self.by_name[name].descriptor
            if d.read_only or self.question or (foreign(wanted, d, self.elsewhere) and not free_text_tool(d)):
                continue  # what a note-taking tool is given is the note, not a capability asked for
            verbs = verb_terms(d)
            named = verb & set(terms(split_identifier(d.name.split("__", 1)[-1])))
            if not (verbs & said or named) or not self._takes_ids(d, ids):
                continue
            objects = [t for t in wanted if t not in verbs]
            if objects and not free_text_tool(d) and objects[0] not in tool_terms(d):
                continue
            out.append((name, score))
        return out

    def _readers(
        self, ranked: list[tuple[str, float]], wanted: list[str], ids: Sequence[Found], reading: Reading
    ) -> list[tuple[str, float]]:
        """Read-only tools that cover the clause's first subject and can take the ids it names."""
        out = []
        for name, score in ranked[:12]:
            d = self.by_name[name].descriptor
            if not d.read_only or foreign(wanted, d, self.elsewhere) or not self._takes_ids(d, ids):
                continue
            if wanted and wanted[0] not in tool_terms(d):
                continue
            if wanted and about_nexus(d) and wanted[0] not in set(terms(split_identifier(d.name))):
                continue  # Nexus's own tools about tools, health, instructions: only when named
            if not wanted and not ((ids or reading.names) and self.fill(name).carried):
                continue  # nothing but values ('What about Skipton Motors?'): a tool that takes them
            out.append((name, score))
        named = self._memory_match(reading)
        if named and "memory_search" in self.by_name and not any(n == "memory_search" for n, _ in out):
            self.choice.fills["memory_search"] = Filled({"query": named}, {"query": named})
            out.append(("memory_search", min(s for _, s in out) if out else 1.0))
        return out

    def _pick(self, cands: list[tuple[str, float]], clause: str = "") -> tuple[str, Filled]:
        """Within ``window`` of the best candidate: most constraints carried, then complete, then rank."""
        top = max(s for _, s in cands)
        near = [(n, s) for n, s in cands if s >= self.window * top]
        fills = {n: self.fill_clause(n, clause) for n, _ in near}
        said = set(terms(clause or self.instruction))
        best = max(
            near,
            key=lambda x: (
                fills[x[0]].carried,
                fills[x[0]].complete,
                bool(verb_terms(self.by_name[x[0]].descriptor) & said),
                x[1],
            ),
        )
        return best[0], fills[best[0]]

    def _leftover_ids(
        self, clause: str, ids: Sequence[Found], used_by: str, ranked: list[tuple[str, float]], reads: bool
    ) -> None:
        """'Get Q-1062 and credit check CUST-0135': an id no call uses goes to a tool that takes it."""
        used = {str(v) for c in self.choice.calls for v in c.arguments.values()}
        for found in ids:
            if str(found.value) in used:
                continue
            for name, _ in ranked[:12]:
                d = self.by_name[name].descriptor
                if name == used_by or (reads and not d.read_only) or not self._takes_ids(d, [found]):
                    continue
                filled = self.fill(name, str(found.value))
                if filled.complete and str(found.value) in map(str, filled.arguments.values()):
                    self._add(name, filled)
                    break

    def _list_first(
        self, name: str, filled: Filled, ranked: list[tuple[str, float]], wanted: list[str], clause: str
    ) -> bool:
        """'Chase every quote over £25k': list them with a read tool of the same clause, act on each later."""
        if len(filled.missing) != 1 or not is_id_property(filled.missing[0]):
            return False
        objects = [t for t in wanted if t not in verb_terms(self.by_name[name].descriptor)]
        readers = [
            (n, s)
            for n, s in ranked[:12]
            if self.by_name[n].descriptor.read_only
            and objects
            and objects[0] in tool_terms(self.by_name[n].descriptor)
            and self.fill_clause(n, clause).complete
        ]
        if not readers:
            return False
        lister, lister_filled = self._pick(readers, clause)
        self._add(lister, lister_filled)
        self.choice.unfillable.setdefault(name, filled.missing)
        self.choice.served_by.setdefault(name, lister)
        return True
