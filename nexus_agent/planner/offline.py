"""The offline planner: deterministic, no language model, the default without an API key.

Turn 1 splits the instruction into clauses ('chase X ... and tell me Y'), picks
for each the best-ranked offered tool whose required arguments it can fill from
the instruction (:mod:`nexus_agent.planner.arguments`), and asks for those
calls at once. For 'every/all/each' instructions, turn 2 calls a tool it could
not fill in turn 1 once per id the same clause's tool found ('chase every quote
over £25k' lists the quotes, then chases each). The last turn answers from the
results. It says plainly what it could
not do and why ('quote-engine__send_chaser needs quote_id, which the
instruction does not state'). It never calls the same tool twice in a plan.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nexus_agent.planner.arguments import Filled, fill_arguments, ids_for, is_id_property
from nexus_agent.planner.entities import extract
from nexus_agent.planner.llm import Message, ModelTurn, OfferedTool, ToolCallRequest
from nexus_agent.planner.selection import ToolIndex
from nexus_agent.planner.text import terms
from nexus_agent.wire.models import utcnow


def _wordlist(text: str) -> list[str]:
    return text.split()


__all__ = ["OFFLINE_PREFIX", "OfflineModel", "instruction_of", "split_clauses"]

OFFLINE_PREFIX = "Offline planner (no language model)"
_VERBS = _wordlist(
    "tell show list give let chase send book schedule check run raise create reserve email find update "
    "mark flag ask notify remind arrange order approve get put record log confirm cancel move issue "
    "prepare draft"
)
_QUESTIONS = "what|which|how|who|when|where|whether|is|are"
_SPLIT = re.compile(
    r"\s*(?:;\s*(?:then\s+)?|\.\s+|,?\s+then\s+|,?\s+and\s+(?=(?:also\s+)?(?:"
    + "|".join(_VERBS)
    + r")\b)|,\s+and\s+(?=(?:"
    + _QUESTIONS
    + r")\b))\s*",
    re.I,
)


_ASK = frozenset(
    _wordlist("which what whats what's how is are show list find get give tell who when where do does any check see")
)
_ACT = frozenset(
    _wordlist(
        "chase send book schedule raise create reserve email update mark approve issue log record move cancel "
        "order assign arrange notify remind release estimate price quote set change add"
    )
)


_EVERY = re.compile(r"\b(every|all|each)\b", re.I)
_POLITE = frozenset(_wordlist("please kindly just"))


def _intent(clause: str) -> str | None:
    """'ask' for a question, 'act' for an order, None when the first word does not say."""
    words = clause.strip().lower().split()
    request = len(words) > 2 and words[0] in {"can", "could", "would", "will"} and words[1] == "you"
    if request:
        words = words[2:]  # 'Can you chase ...?' is an order put politely, not a question
    while words and words[0] in _POLITE:
        words = words[1:]
    first = (words[0] if words else "").strip(",.:;!?")
    if first in _ACT:
        return "act"
    if not request and (first in _ASK or clause.rstrip().endswith("?")):
        return "ask"
    return None


def split_clauses(instruction: str) -> list[str]:
    """'Chase X and tell me Y; then book Z' -> ['Chase X', 'tell me Y', 'book Z']."""
    return [c for c in (p.strip(" .") for p in _SPLIT.split(instruction)) if c]


def instruction_of(messages: Sequence[Message]) -> str:
    """The instruction: by convention, the last text block of the first user message."""
    content = messages[0]["content"] if messages else ""
    if isinstance(content, str):
        return content
    texts = [b.get("text", "") for b in content if b.get("type") == "text"]
    return texts[-1] if texts else ""


class OfflineModel:
    """A :class:`~nexus_agent.planner.llm.PlannerModel` that needs no model."""

    name = "offline"

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = utcnow,
        max_calls: int = 4,
        max_follow_ups: int = 10,
        window: float = 0.7,
        slugs: Sequence[str] = (),
    ) -> None:
        self._clock = clock
        self.max_calls = max_calls
        self.max_follow_ups = max_follow_ups
        self.window = window  # a clause's candidates: tools scoring at least window x its best
        self._slugs = list(slugs)

    async def next_turn(self, system: str, messages: Sequence[Message], tools: Sequence[OfferedTool]) -> ModelTurn:
        turns = sum(1 for m in messages if m["role"] == "assistant")
        if turns == 0:
            return self.plan(instruction_of(messages), tools)
        if turns == 1:
            follow = self.follow_up(instruction_of(messages), tools, messages)
            if follow is not None:
                return follow
        return ModelTurn(text=self._answer(messages), stop_reason="end_turn")

    # -- turn 1 -----------------------------------------------------------------
    def plan(self, instruction: str, tools: Sequence[OfferedTool]) -> ModelTurn:
        if not tools:
            return ModelTurn(
                text=f"{OFFLINE_PREFIX}: none of the tools I can reach matches this instruction, so I did nothing.",
                stop_reason="end_turn",
            )
        choice = self._choose(instruction, tools)
        calls = [
            ToolCallRequest(id=f"offline_{i}", name=name, arguments=choice.fills[name].arguments)
            for i, name in enumerate(choice.chosen, start=1)
        ]
        lines = [f"{OFFLINE_PREFIX}: calling {', '.join(choice.chosen)}." if calls else f"{OFFLINE_PREFIX}:"]
        for name in choice.chosen:
            filled = choice.fills[name]
            for prop, words in filled.reasons.items():
                lines.append(f"- {name}.{prop} = {json.dumps(filled.arguments[prop])} (from '{words}')")
        for name, missing in choice.unfillable.items():
            lines.append(
                f"I could not call {name}: it needs {', '.join(missing)}, which the instruction does not state."
            )
        if not calls:
            lines.append("I found no tool whose required details the instruction gives, so I did nothing.")
        return ModelTurn(text="\n".join(lines), tool_calls=calls, stop_reason="tool_use" if calls else "end_turn")

    def _choose(self, instruction: str, tools: Sequence[OfferedTool]) -> _Choice:
        """Per clause, the best offered tool it can fill; and the best it could not, with what served instead."""
        entities = extract(instruction, self._clock())
        slugs = self._slugs or sorted({t.descriptor.source for t in tools})
        by_name = {t.name: t for t in tools}
        choice = _Choice()

        def fill(name: str) -> Filled:
            if name not in choice.fills:
                d = by_name[name].descriptor
                choice.fills[name] = fill_arguments(
                    d.input_schema, instruction, entities, tool_name=d.name, tool_text=d.description, slugs=slugs
                )
            return choice.fills[name]

        rank = _ranker(tools)
        clauses = split_clauses(instruction)
        for clause in [instruction, *clauses] if len(clauses) > 1 else [instruction]:
            ranked = rank(clause)
            if not ranked:
                continue
            served: str | None = None
            best_unfillable: tuple[str, list[str]] | None = None
            for name, _score in self._window(ranked, _intent(clause), by_name):
                if name in choice.chosen or fill(name).complete:
                    served = name  # already chosen for an earlier clause, or chosen now
                    if name not in choice.chosen:
                        choice.chosen.append(name)
                    break
                best_unfillable = best_unfillable or (name, fill(name).missing)
            whole = clause is instruction and len(clauses) > 1  # the clauses say what cannot be done
            if best_unfillable is not None and best_unfillable[0] not in choice.chosen and not whole:
                choice.unfillable.setdefault(*best_unfillable)
                if served is not None and _EVERY.search(clause) and _intent(clause) == "act":
                    choice.served_by.setdefault(best_unfillable[0], served)  # 'chase every quote ...': follow up
            if len(choice.chosen) >= self.max_calls:
                break
        return choice

    # -- turn 2: act on what turn 1 found ('chase every quote ...') ----------------
    def follow_up(
        self, instruction: str, tools: Sequence[OfferedTool], messages: Sequence[Message]
    ) -> ModelTurn | None:
        """For an 'every/all/each' order ('chase every quote over £25k'): call the tool it could not fill in
        turn 1 once per id that the tool serving the same clause returned (at most ``max_follow_ups``)."""
        if not _EVERY.search(instruction):
            return None
        choice = self._choose(instruction, tools)
        results = _results_by_tool(messages)
        by_name = {t.name: t for t in tools}
        calls: list[ToolCallRequest] = []
        lines: list[str] = []
        for name, missing in choice.unfillable.items():
            source = choice.served_by.get(name)
            if source is None or source not in results or len(missing) != 1 or not is_id_property(missing[0]):
                continue
            d = by_name[name].descriptor
            found = ids_for(missing[0], name, extract(results[source], self._clock()).ids)
            values = list(dict.fromkeys(str(f.value) for f in found))[: self.max_follow_ups]
            for value in values:
                text = f"{instruction} ({value})"
                filled = fill_arguments(d.input_schema, text, extract(text, self._clock()), tool_name=name,
                                        tool_text=d.description)  # fmt: skip
                if filled.complete and filled.arguments.get(missing[0]) == value:
                    calls.append(ToolCallRequest(f"offline_f{len(calls) + 1}", name, filled.arguments))
            if values:
                lines.append(f"{OFFLINE_PREFIX}: {source} found {', '.join(values)}; calling {name} for each.")
        if not calls:
            return None
        return ModelTurn(text="\n".join(lines), tool_calls=calls, stop_reason="tool_use")

    def _window(
        self, ranked: list[tuple[str, float]], intent: str | None, by_name: dict[str, OfferedTool]
    ) -> list[tuple[str, float]]:
        """A clause's candidates, in the order to try them: tools of the kind the clause asks for
        ('which ...?' reads, 'book ...' acts) first, each group within ``window`` of its own best."""
        head = ranked[:8]
        top = head[0][1]
        if intent is None:
            return [x for x in head if x[1] >= self.window * top]
        wanted = [x for x in head if by_name[x[0]].descriptor.read_only == (intent == "ask")]
        rest = [x for x in head if x not in wanted]
        best = wanted[0][1] if wanted else 0.0
        first = [x for x in wanted if x[1] >= max(self.window * best, 0.5 * top)]
        # the other kind is a fallback ('I could not chase them, but here they are'): a lower bar
        return first + [x for x in rest if x[1] >= (self.window - 0.1) * top]

    # -- turn 2 -----------------------------------------------------------------
    def _answer(self, messages: Sequence[Message]) -> str:
        texts: list[str] = []
        uses: dict[str, str] = {}
        results: list[tuple[str, bool, str]] = []
        for m in messages:
            if not isinstance(m["content"], list):
                continue
            for b in m["content"]:
                if m["role"] == "assistant" and b.get("type") == "text":
                    texts.append(b["text"])
                elif b.get("type") == "tool_use":
                    uses[b["id"]] = b["name"]
                elif b.get("type") == "tool_result":
                    results.append((uses.get(b["tool_use_id"], "?"), bool(b.get("is_error")), _text(b)))
        lines = [f"{OFFLINE_PREFIX}. What I did:"]
        for name, is_error, text in results:
            first = text.splitlines()[0] if text else ""
            lines.append(f"- {name}: {'FAILED: ' if is_error else ''}{first[:400]}")
        called = set(uses.values())
        for text in texts:
            lines += [
                ln
                for ln in text.splitlines()
                if ln.startswith("I could not") and ln.split()[4].rstrip(":") not in called
            ]
        return "\n".join(lines)


def _ranker(tools: Sequence[OfferedTool]) -> Callable[[str], list[tuple[str, float]]]:
    """Rank the offered tools against a clause: by their catalogue-wide score per term when known
    (a clause's terms are a subset of the instruction's), else with an index of the offered tools."""
    if tools and all(t.contributions for t in tools[:1]):

        def by_terms(clause: str) -> list[tuple[str, float]]:
            wanted = set(terms(clause))
            scored = [(t.name, sum(v for k, v in t.contributions.items() if k in wanted)) for t in tools]
            return sorted((x for x in scored if x[1] > 0), key=lambda x: (-x[1], x[0]))

        return by_terms
    index = ToolIndex([t.descriptor for t in tools])
    return lambda clause: [(r.descriptor.name, r.score) for r in index.search(clause, k=6)]


@dataclass
class _Choice:
    chosen: list[str] = field(default_factory=list)
    unfillable: dict[str, list[str]] = field(default_factory=dict)  # tool -> required properties it lacks
    served_by: dict[str, str] = field(default_factory=dict)  # unfillable tool -> the tool that lists its ids
    fills: dict[str, Filled] = field(default_factory=dict)


def _results_by_tool(messages: Sequence[Message]) -> dict[str, str]:
    """The text of each successful tool result, by tool name."""
    uses: dict[str, str] = {}
    out: dict[str, str] = {}
    for m in messages:
        if isinstance(m["content"], list):
            for b in m["content"]:
                if b.get("type") == "tool_use":
                    uses[b["id"]] = b["name"]
                elif b.get("type") == "tool_result" and not b.get("is_error") and b["tool_use_id"] in uses:
                    out[uses[b["tool_use_id"]]] = _text(b)
    return out


def _text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, list):
        return "\n".join(c.get("text", "") for c in content if c.get("type") == "text")
    return str(content or "")
