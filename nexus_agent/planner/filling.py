"""Filling a chosen tool's arguments from what the owner said, and the calls it makes.

:class:`ArgumentFilling` is the part of the offline planner's :class:`~nexus_agent.planner.choice.Chooser`
that reads a tool's arguments out of a clause (or, for what the clause leaves out or points back to, the
whole instruction), makes one call per id the clause names, and asks the owner for what is missing.
The choice it builds is a :class:`Choice` of :class:`Planned` calls, questions and "I can't" sentences.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nexus_agent.planner.arguments import Filled, fill_arguments, ids_for, is_id_property
from nexus_agent.planner.entities import extract
from nexus_agent.planner.llm import OfferedTool

__all__ = ["ArgumentFilling", "Choice", "Planned"]


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


class ArgumentFilling:
    """Arguments for the tools a :class:`~nexus_agent.planner.choice.Chooser` picks, and the calls they make."""

    instruction: str
    by_name: dict[str, OfferedTool]
    now: datetime
    slugs: list[str]
    max_calls: int
    choice: Choice

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

    def _question(self, name: str, missing: list[str], clause: str, *, pronoun: bool = False) -> str:
        d = self.by_name[name].descriptor
        props = (d.input_schema.get("properties") or {}) if isinstance(d.input_schema, dict) else {}
        wants = []
        for p in missing:
            desc = str((props.get(p) or {}).get("description", "")).strip().rstrip(".")
            wants.append(f"{p} ({desc})" if desc else p)
        lead = "Which one do you mean?" if pronoun else "I need more to go on."
        return f"{lead} To do '{clause}' with {name} I need: {', '.join(wants)}. Please say which."
