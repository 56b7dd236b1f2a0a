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

import re
from collections.abc import Callable, Sequence
from datetime import datetime

from nexus_agent.planner.arguments import Filled
from nexus_agent.planner.candidates import CandidateRanking, undocumented
from nexus_agent.planner.coverage import (
    Portfolio,
    clause_terms,
    reachable_vocabulary,
    tool_terms,
    verb_terms,
)
from nexus_agent.planner.entities import Entities, extract
from nexus_agent.planner.filling import Choice, Planned
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
from nexus_agent.planner.text import ID_HINTS, terms


def _set(text: str) -> frozenset[str]:
    return frozenset(text.split())


__all__ = ["Choice", "Chooser", "Planned"]

_FILLER = _set(
    "the a an of for to on in at by with and or our my me us we you i it please pls can could would will "
    "what which who how is are do does did have has got any there that this these those some just also"
)


_ID_PREFIX = re.compile(r"\b([A-Z]{1,4})-\d")


def _id_terms(clause: str) -> list[str]:
    """What the ids in a clause say it is about: 'Q-1042' -> '=quote'."""
    out: list[str] = []
    for m in _ID_PREFIX.finditer(clause):
        if m[1] in ID_HINTS:
            out += terms(ID_HINTS[m[1]])
    return list(dict.fromkeys(out))


def _stated(values: Entities) -> list[str]:
    """The values a clause states (ids, codes, names, amounts, dates), as said."""
    found = [f.text for f in values.ids + values.skus + values.dates] + [str(n.value) for n in values.names]
    found += [a.text for a in values.money + values.percents]
    return list(dict.fromkeys(found))[:4]


def _what(stripped: str) -> str:
    words = [w for w in re.findall(r"(?<![\w-])[A-Za-z][\w'-]*", stripped) if w.lower() not in _FILLER and len(w) > 2]
    return " ".join(words[:6]).lower()


class Chooser(CandidateRanking):
    """One instruction's decisions over one set of offered tools (deterministic).

    Scoring lives in :class:`~nexus_agent.planner.candidates.CandidateRanking`, argument filling in
    :class:`~nexus_agent.planner.filling.ArgumentFilling`; this is the decision per clause.
    """

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
        if not filled.arguments and stated and undocumented(d):  # never a blind call that drops what was said
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
