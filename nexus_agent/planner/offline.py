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
from datetime import datetime
from typing import Any

from nexus_agent.planner.arguments import fill_arguments, ids_for, is_id_property
from nexus_agent.planner.choice import Choice, Chooser
from nexus_agent.planner.coverage import Portfolio, parse_context
from nexus_agent.planner.entities import extract
from nexus_agent.planner.intent import proper_nouns
from nexus_agent.planner.llm import Message, ModelTurn, OfferedTool, ToolCallRequest
from nexus_agent.planner.selection import ToolIndex
from nexus_agent.planner.text import terms
from nexus_agent.wire.models import utcnow


def _wordlist(text: str) -> list[str]:
    return text.split()


__all__ = ["OFFLINE_PREFIX", "OfflineModel", "cited_notes", "context_of", "instruction_of", "split_clauses"]

OFFLINE_PREFIX = "Offline planner (no language model)"
_VERBS = _wordlist(
    "tell show list give let chase send book schedule check run raise create reserve email find update "
    "mark flag ask notify remind arrange order approve get put record log confirm cancel move issue "
    "prepare draft"
)
_QUESTIONS = "what|which|how|who|who's|whose|when|where|whether"
_SPLIT = re.compile(
    r"\s*(?:;\s*(?:then\s+)?|\.\s+|,?\s+then\s+|,?\s+and\s+(?=(?:also\s+)?(?:"
    + "|".join(_VERBS)
    + r")\b)|,?\s+and\s+(?=(?:"
    + _QUESTIONS
    + r")\b))\s*",
    re.I,
)


_EVERY = re.compile(r"\b(every|all|each)\b", re.I)


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


def context_of(messages: Sequence[Message]) -> str:
    """The context Nexus recalled (apps, memory): the text blocks of the first user message but the last."""
    content = messages[0]["content"] if messages else ""
    if isinstance(content, str):
        return ""
    texts = [b.get("text", "") for b in content if b.get("type") == "text"]
    return "\n".join(texts[:-1])


def cited_notes(instruction: str, portfolio: Portfolio, limit: int = 3) -> list[str]:
    """The recalled notes that bear on the instruction (a name it states, or two of its terms), with dates."""
    names = [n.lower() for n in proper_nouns(instruction)]
    wanted = set(terms(instruction))
    lines = []
    for note in portfolio.notes:
        text = note.text.lower()
        by_name = any(re.search(rf"\b{re.escape(n.split()[0])}", text) for n in names)
        if by_name or len(wanted & set(terms(note.text))) >= 2:
            lines.append(f"- {note.kind} {note.id} ({note.date}): {note.text[:300]}")
    return ["From memory (what I recalled that bears on this):", *lines[:limit]] if lines else []


class OfflineModel:
    """A :class:`~nexus_agent.planner.llm.PlannerModel` that needs no model."""

    name = "offline"

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = utcnow,
        max_calls: int = 6,
        max_follow_ups: int = 10,
        window: float = 0.4,
        slugs: Sequence[str] = (),
    ) -> None:
        self._clock = clock
        self.max_calls = max_calls
        self.max_follow_ups = max_follow_ups
        self.window = window  # a clause's candidates: tools scoring at least window x its best
        self._slugs = list(slugs)

    async def next_turn(self, system: str, messages: Sequence[Message], tools: Sequence[OfferedTool]) -> ModelTurn:
        turns = sum(1 for m in messages if m["role"] == "assistant")
        context = context_of(messages)
        if turns == 0:
            return self.plan(instruction_of(messages), tools, context)
        if turns == 1:
            follow = self.follow_up(instruction_of(messages), tools, messages, context)
            if follow is not None:
                return follow
        return ModelTurn(text=self._answer(messages, instruction_of(messages), context), stop_reason="end_turn")

    # -- turn 1 -----------------------------------------------------------------
    def plan(self, instruction: str, tools: Sequence[OfferedTool], context: str = "") -> ModelTurn:
        choice = self._choose(instruction, tools, context)
        calls = [
            ToolCallRequest(id=f"offline_{i}", name=c.tool, arguments=c.arguments)
            for i, c in enumerate(choice.calls, start=1)
        ]
        lines = [f"{OFFLINE_PREFIX}: calling {', '.join(choice.chosen)}." if calls else f"{OFFLINE_PREFIX}:"]
        for c in choice.calls:
            for prop, words in c.reasons.items():
                lines.append(f"- {c.tool}.{prop} = {json.dumps(c.arguments[prop])} (from '{words}')")
        lines += choice.cants
        if calls and choice.asks:
            lines += [f"Not done, because it is unclear: {q}" for q in choice.asks]
        if choice.not_applied:
            lines.append("Not applied (no tool I chose has a field for it): " + "; ".join(choice.not_applied))
        if calls:
            return ModelTurn(text="\n".join(lines), tool_calls=calls, stop_reason="tool_use", unmet=tuple(choice.unmet))
        if choice.asks:
            question = " ".join(choice.asks)
            return ModelTurn(
                text="\n".join([*lines, question]), stop_reason="end_turn", question=question, unmet=tuple(choice.unmet)
            )
        if not choice.cants:
            lines.append("I can't do that: none of the tools I can reach matches this instruction, so I did nothing.")
            return ModelTurn(text="\n".join(lines), stop_reason="end_turn", unmet=(instruction[:200],))
        return ModelTurn(text="\n".join(lines), stop_reason="end_turn", unmet=tuple(choice.unmet))

    def _choose(self, instruction: str, tools: Sequence[OfferedTool], context: str = "") -> Choice:
        clauses = split_clauses(instruction) or [instruction]
        chooser = Chooser(
            instruction,
            tools,
            parse_context(context),
            now=self._clock(),
            rank=_ranker(tools),
            window=self.window,
            max_calls=self.max_calls,
        )
        return chooser.run(clauses)

    # -- turn 2: act on what turn 1 found ('chase every quote ...') ----------------
    def follow_up(
        self, instruction: str, tools: Sequence[OfferedTool], messages: Sequence[Message], context: str = ""
    ) -> ModelTurn | None:
        """For an 'every/all/each' order ('chase every quote over £25k'): call the tool it could not fill in
        turn 1 once per id that the tool serving the same clause returned (at most ``max_follow_ups``)."""
        if not _EVERY.search(instruction):
            return None
        choice = self._choose(instruction, tools, context)
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

    # -- last turn ----------------------------------------------------------------
    def _answer(self, messages: Sequence[Message], instruction: str = "", context: str = "") -> str:
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
            lines.append(f"- {name}: {'FAILED: ' + first[:400] if is_error else readable(text)}")
        keep = ("I can't", "Not done", "Not applied")
        for text in texts:
            lines += [ln for ln in text.splitlines() if ln.startswith(keep)]
        lines += cited_notes(instruction, parse_context(context))
        return "\n".join(lines)


_KEYS = ("slug", "quote_id", "enquiry_id", "invoice_id", "customer_id", "order_id", "installation_id", "id", "kind")
_DETAILS = ("name", "customer", "crew", "title", "status", "region", "date", "total", "amount", "days_overdue")


def readable(text: str, limit: int = 8) -> str:
    """A tool result in a line people read: 'found 2 quotes: Q-1042 (Hartley Construction, sent, 48500), ...'."""
    try:
        data = json.loads(text)
    except ValueError:
        return text[:400]
    if isinstance(data, dict):
        app = data.get("app")
        if isinstance(app, dict) and app.get("slug"):  # one app's record (registry_get): the app, not its history
            return _item(app)
        lists = {k: v for k, v in data.items() if isinstance(v, list) and v and isinstance(v[0], dict)}
        if lists:
            parts = []
            for key, items in lists.items():
                shown = "; ".join(_item(i) for i in items[:limit]) + ("; ..." if len(items) > limit else "")
                parts.append(f"{len(items)} {key}: {shown}")
            return " | ".join(parts)[:1200]
        if any(k in data for k in _KEYS):
            return _item(data)
    return text[:400] if text.strip() not in {"{}", "[]"} else "nothing found"


def _item(item: dict[str, Any]) -> str:
    summary = item.get("summary")
    if isinstance(summary, str) and summary.strip():  # the app's own one-line wording of the item
        return summary.strip()[:200]
    key = next((str(item[k]) for k in _KEYS if item.get(k) not in (None, "")), "")
    details = [str(item[k]) for k in _DETAILS if item.get(k) not in (None, "", [])]
    caps = item.get("capabilities")
    if isinstance(caps, list) and caps:
        names = [c.get("name", "") if isinstance(c, dict) else str(c) for c in caps[:4]]
        details.append("can: " + ", ".join(n for n in names if n))
    return f"{key} ({', '.join(details)})" if details else key or json.dumps(item, default=str)[:200]


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
