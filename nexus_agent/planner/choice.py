"""The offline planner's decision per clause: call a tool, ask the owner, or say it can't be done.

For each clause of the instruction (:func:`~nexus_agent.planner.offline.split_clauses`):

1. a question about the portfolio goes to the registry and gap tools (:mod:`.portfolio`);
2. the candidates are the offered tools that *cover* the clause (:mod:`.coverage`): for a
   question or a 'show me', read-only tools sharing its subject; for an order, tools whose own
   verb the clause uses. A question never gets a tool with side effects;
3. among candidates scoring within ``window`` of the best, the one that carries the most of the
   stated constraints wins (then the one with all its required arguments, then rank);
4. an order whose target is missing or only a pronoun ('chase it', 'book the install for
   Thursday') becomes a question for the owner; 'every/all/each' orders first list the targets
   with the read tool that covers the same clause;
5. nothing covers it: "I can't", naming what is missing and any registered app that has it but
   cannot be called.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nexus_agent.planner.arguments import Filled, fill_arguments, ids_for, is_id_property
from nexus_agent.planner.catalogue import ToolDescriptor
from nexus_agent.planner.coverage import (
    Portfolio,
    clause_terms,
    foreign,
    reachable_vocabulary,
    tool_terms,
    verb_terms,
)
from nexus_agent.planner.entities import Entities, Found, extract
from nexus_agent.planner.intent import (
    READ_VERBS,
    WEAK_VERBS,
    Reading,
    asks_memory,
    is_question,
    memory_subject,
    read,
    strip_values,
)
from nexus_agent.planner.llm import OfferedTool
from nexus_agent.planner.portfolio import portfolio_call
from nexus_agent.planner.text import ID_HINTS, split_identifier, terms


def _set(text: str) -> frozenset[str]:
    return frozenset(text.split())


__all__ = ["Choice", "Chooser", "Planned"]

_FILLER = _set(
    "the a an of for to on in at by with and or our my me us we you i it please pls can could would will "
    "what which who how is are do does did have has got any there that this these those some just also"
)


@dataclass
class Planned:
    tool: str
    arguments: dict[str, Any]
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass
class Choice:
    calls: list[Planned] = field(default_factory=list)
    asks: list[str] = field(default_factory=list)  # questions for the owner
    cants: list[str] = field(default_factory=list)  # plain 'I can't' sentences
    unmet: list[str] = field(default_factory=list)  # missing capabilities, for the gap report
    unfillable: dict[str, list[str]] = field(default_factory=dict)  # tool -> required properties it lacks
    served_by: dict[str, str] = field(default_factory=dict)  # unfillable tool -> the tool that lists its ids
    not_applied: list[str] = field(default_factory=list)  # stated constraints no chosen call carries
    fills: dict[str, Filled] = field(default_factory=dict)

    @property
    def chosen(self) -> list[str]:
        return list(dict.fromkeys(c.tool for c in self.calls))


_BACK_REFERENCE = re.compile(r"\b(their|them|they|its|his|her|theirs|those|these)\b", re.I)
_ID_PREFIX = re.compile(r"\b([A-Z]{1,4})-\d")


def _id_terms(clause: str) -> list[str]:
    """What the ids in a clause say it is about: 'Q-1042' -> '=quote'."""
    out: list[str] = []
    for m in _ID_PREFIX.finditer(clause):
        if m[1] in ID_HINTS:
            out += terms(ID_HINTS[m[1]])
    return list(dict.fromkeys(out))


def _about_nexus(d: ToolDescriptor) -> bool:
    """One of Nexus's own tools about itself (not memory: what the owner told Nexus is business)."""
    return d.source == "nexus" and "nexus memory" not in d.app_capabilities


def _free_text_tool(d: ToolDescriptor) -> bool:
    """A tool that writes down whatever it is given (every required property is plain text)."""
    props = d.input_schema.get("properties") or {}
    required = list(d.input_schema.get("required") or [])
    plain = {"text", "note", "body", "message", "content", "decision"}
    return bool(required) and all(p in plain and "pattern" not in (props.get(p) or {}) for p in required)


def _undocumented(d: ToolDescriptor) -> bool:
    """A tool whose schema says nothing about its parameters (one free-form object, as for a legacy app's
    message type its registration does not document): called with {}, it gets none of the owner's values."""
    props = d.input_schema.get("properties") or {}
    if not props:
        return bool(d.input_schema.get("additionalProperties", False))
    return len(props) == 1 and all(
        isinstance(p, dict) and p.get("type") == "object" and not p.get("properties") for p in props.values()
    )


def _stated(values: Entities) -> list[str]:
    """The values a clause states (ids, codes, names, amounts, dates), as said."""
    found = [f.text for f in values.ids + values.skus + values.dates] + [str(n.value) for n in values.names]
    found += [a.text for a in values.money + values.percents]
    return list(dict.fromkeys(found))[:4]


def _what(stripped: str) -> str:
    words = [w for w in re.findall(r"(?<![\w-])[A-Za-z][\w'-]*", stripped) if w.lower() not in _FILLER and len(w) > 2]
    return " ".join(words[:6]).lower()


class Chooser:
    """One instruction's decisions over one set of offered tools (deterministic)."""

    def __init__(
        self,
        instruction: str,
        tools: Sequence[OfferedTool],
        portfolio: Portfolio,
        *,
        now: datetime,
        rank: Callable[[str], list[tuple[str, float]]],
        window: float,
        max_calls: int,
    ) -> None:
        self.instruction = instruction
        self.by_name = {t.name: t for t in tools}
        self.portfolio = portfolio
        self.now = now
        self.rank = rank
        self.window = window
        self.max_calls = max_calls
        self.question = is_question(instruction)
        self.entities = extract(instruction, now)
        self.slugs = sorted({t.descriptor.source for t in tools} | {a.slug for a in portfolio.apps})
        reachable = reachable_vocabulary(t.descriptor for t in tools)
        self.reachable = reachable
        self.elsewhere = portfolio.unreachable_terms(reachable)
        self.vocabulary = reachable | frozenset(self.elsewhere)
        self.choice = Choice()

    # -- helpers --------------------------------------------------------------------------------
    def fill(self, name: str, text: str | None = None) -> Filled:
        key = name if text is None else f"{name}\x00{text}"
        if key not in self.choice.fills:
            d = self.by_name[name].descriptor
            source = self.instruction if text is None else text
            self.choice.fills[key] = fill_arguments(
                d.input_schema,
                source,
                extract(source, self.now),
                tool_name=d.name,
                tool_text=d.description,
                slugs=self.slugs,
            )
        return self.choice.fills[key]

    def _add(self, name: str, filled: Filled) -> None:
        if any(c.tool == name and c.arguments == filled.arguments for c in self.choice.calls):
            return  # the same call once
        if len(self.choice.calls) < self.max_calls:
            self.choice.calls.append(Planned(name, dict(filled.arguments), dict(filled.reasons)))

    def _memory_match(self, reading: Reading) -> str | None:
        """A name in the clause that a recalled note also names (exact word, any case)."""
        for name in reading.names:
            pattern = re.compile(rf"\b{re.escape(name.split()[0])}", re.I)
            if any(pattern.search(n.text) for n in self.portfolio.notes):
                return name
        return None

    # -- the decision -----------------------------------------------------------------------------
    def run(self, clauses: Sequence[str]) -> Choice:
        for clause in [part for c in clauses for part in self._listed(c)]:
            self.clause(clause)
            if len(self.choice.calls) >= self.max_calls:
                break
        self._report_unapplied()
        return self.choice

    def _listed(self, clause: str) -> list[str]:
        """'Show new web enquiries and free install slots in Leeds': two things to show, each its own clause,
        when what follows 'and' has a subject of its own that no tool covering the first part knows."""
        reading = read(clause)
        left, sep, right = clause.partition(" and ")
        if not sep or not (reading.reads or self.question) or portfolio_call(clause, self.portfolio, set()):
            return [clause]
        head = clause_terms(strip_values(right, extract(right, self.now)))
        first = clause_terms(strip_values(read(left).rest or left, extract(left, self.now)))
        if not head or not first or head[0] not in self.reachable or head[0] in first:
            return [clause]
        serving_left = [t for t in self.by_name.values() if first[0] in tool_terms(t.descriptor)]
        if any(head[0] in tool_terms(t.descriptor) for t in serving_left):
            return [clause]  # 'quotes over £20k and waiting ...': one subject, one more filter
        verb = reading.verb if reading.verb in READ_VERBS and not reading.question else ""
        return [left, f"{verb} {right}".strip()]

    def clause(self, clause: str) -> None:
        reading = read(clause)
        reads = reading.reads or self.question
        if reads:
            found = portfolio_call(clause, self.portfolio, set(self.by_name))
            if found is not None:
                self._add(found.tool, Filled(found.arguments, {k: found.why for k in found.arguments}))
                return
            subject = memory_subject(clause) if asks_memory(clause) else ""
            if subject and "memory_search" in self.by_name:  # what Nexus knows is in memory, not an app
                self._add("memory_search", Filled({"query": subject}, {"query": subject}))
                return
        values = extract(clause, self.now)
        stripped = strip_values(reading.rest or clause, values)
        own = [self._spelt(t) for t in clause_terms(stripped)]
        wanted = own + [t for t in _id_terms(clause) if t not in own]
        if reading.vague and not reads:
            self.choice.asks.append(
                f"What would you like me to do about '{_what(stripped) or clause}'? Say the action "
                "(for example list, chase or book) and what it is for."
            )
            return
        ranked = [(n, s) for n, s in self.rank(clause) if n in self.by_name]
        cands = [] if reads else self._writers(ranked, wanted, clause, values.ids)
        if not reads and not cands:
            verb = set(terms(reading.verb))
            cands = [  # 'produce the cutting list': a read-only tool whose own verb is the order's
                (n, s)
                for n, s in self._readers(ranked, wanted, values.ids, reading)
                if verb & verb_terms(self.by_name[n].descriptor)
            ]
        if not reads and not cands and reading.verb in WEAK_VERBS and not self._asks_action(clause):
            reads = True  # 'get quote Q-1062': an order to show something (but 'send a reminder' is an action)
        if reads:
            cands = self._readers(ranked, wanted, values.ids, reading)
        if not cands:
            self._nothing_covers(reading, clause, stripped, wanted, reads)
            return
        name, filled = self._pick(cands, clause)
        d = self.by_name[name].descriptor
        stated = _stated(values)
        if not filled.arguments and stated and _undocumented(d):  # never a blind call that drops what was said
            self.choice.asks.append(
                f"{name} documents no parameters, so I can't tell how to pass {', '.join(stated)} to it. "
                "Say which fields the app expects (for example order_id), or ask about the app itself."
            )
        elif not d.read_only and reading.pronoun_target:
            self.choice.asks.append(self._question(name, filled.missing or ["target"], clause, pronoun=True))
        elif filled.complete:
            self._call_each_id(name, filled, clause)
            self._leftover_ids(clause, values.ids, name, ranked, reads)
        elif not d.read_only and reading.every and self._list_first(name, filled, ranked, wanted, clause):
            return
        else:
            self.choice.unfillable.setdefault(name, filled.missing)
            self.choice.asks.append(self._question(name, filled.missing, clause))

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
        if ids and _undocumented(d):
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
            if d.read_only or self.question or (foreign(wanted, d, self.elsewhere) and not _free_text_tool(d)):
                continue  # what a note-taking tool is given is the note, not a capability asked for
            verbs = verb_terms(d)
            named = verb & set(terms(split_identifier(d.name.split("__", 1)[-1])))
            if not (verbs & said or named) or not self._takes_ids(d, ids):
                continue
            objects = [t for t in wanted if t not in verbs]
            if objects and not _free_text_tool(d) and objects[0] not in tool_terms(d):
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
            if wanted and _about_nexus(d) and wanted[0] not in set(terms(split_identifier(d.name))):
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

    def fill_clause(self, name: str, clause: str) -> Filled:
        """From the clause; what it leaves out (or points back to: 'their', 'them') from the whole instruction."""
        if name == "memory_search" and "query" in self.choice.fills.get(name, Filled()).arguments:
            return self.choice.fills[name]
        if not clause or clause == self.instruction:
            return self.fill(name)
        own = self.fill(name, clause)
        if own.complete and not _BACK_REFERENCE.search(clause):
            return own
        whole = self.fill(name)
        merged = Filled({**whole.arguments, **own.arguments}, {**whole.reasons, **own.reasons})
        merged.missing = [p for p in whole.missing if p not in merged.arguments]
        merged.guessed = (whole.guessed - set(own.arguments)) | own.guessed
        return merged

    def _call_each_id(self, name: str, filled: Filled, clause: str) -> None:
        """'Chase Q-1042 and Q-1043': one call per id of the kind the tool's id property takes."""
        props = [p for p in filled.arguments if is_id_property(p)]
        if len(props) == 1 and not self.by_name[name].descriptor.read_only:
            same = ids_for(props[0], name, extract(clause, self.now).ids)
            values = list(dict.fromkeys(str(f.value) for f in same))
            if len(values) > 1:
                for value in values:
                    args = {**filled.arguments, props[0]: value}
                    self._add(name, Filled(args, {**filled.reasons, props[0]: value}))
                return
        self._add(name, filled)

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

    def _question(self, name: str, missing: list[str], clause: str, *, pronoun: bool = False) -> str:
        d = self.by_name[name].descriptor
        props = (d.input_schema.get("properties") or {}) if isinstance(d.input_schema, dict) else {}
        wants = []
        for p in missing:
            desc = str((props.get(p) or {}).get("description", "")).strip().rstrip(".")
            wants.append(f"{p} ({desc})" if desc else p)
        lead = "Which one do you mean?" if pronoun else "I need more to go on."
        return f"{lead} To do '{clause}' with {name} I need: {', '.join(wants)}. Please say which."

    def _nothing_covers(self, reading: Reading, clause: str, stripped: str, wanted: list[str], reads: bool) -> None:
        name = self._memory_match(reading) if reads else None
        if name and "memory_search" in self.by_name:
            self._add("memory_search", Filled({"query": name}, {"query": name}))
            return
        what = _what(strip_values(clause, extract(clause, self.now))) or _what(stripped) or clause.lower()
        apps = {a.slug: a for t in wanted for a in self.elsewhere.get(t, [])}
        asked = set(wanted) | set(terms(reading.verb))
        shared = [(len(a.terms & asked), a.slug, a) for a in self.portfolio.apps if not a.reachable]
        for _, slug, a in sorted((x for x in shared if x[0]), key=lambda x: (-x[0], x[1]))[:3]:
            apps.setdefault(slug, a)  # an app nobody can call that knows what was asked, if not only it
        extra = "".join(
            f" {a.name} ({a.slug}) is in the registry as {a.status}, but none of its tools can be called"
            + (f": {a.why}." if a.why else ".")
            for a in apps.values()
        )
        self.choice.cants.append(f"I can't do '{clause}': none of the tools I can reach covers {what or 'it'}.{extra}")
        self.choice.unmet.append(what)

    def _report_unapplied(self) -> None:
        used = " ".join(v for c in self.choice.calls for v in c.reasons.values()).lower()
        e = self.entities
        stated = [a.text for a in e.money + e.percents] + [d.text for d in e.durations + e.dates]
        stated += [str(n.value) for n in e.names]
        for text in stated:
            if text.lower() not in used and self.choice.calls:
                self.choice.not_applied.append(text)
