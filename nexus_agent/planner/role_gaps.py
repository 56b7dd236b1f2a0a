"""Asks a caller's role cannot serve but the owner's tools do: said plainly, never recorded as gaps.

An agent's plan is made over its role's tools only (:mod:`.roles`). When part of its instruction
is covered by a tool only the owner may call ('reserve order' and ``stock-ledger__action_reserve_stock``),
that is not a missing capability: the answer says the role cannot do it and the owner can, and
``nexus gaps`` is not told about it. Coverage is the offline planner's own test, run over the
tools outside the role.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime

from nexus_agent.auth import Principal
from nexus_agent.planner.catalogue import Catalogue
from nexus_agent.planner.llm import OfferedTool
from nexus_agent.planner.offline import OfflineModel
from nexus_agent.planner.roles import catalogue_for

__all__ = ["owner_only_asks", "say_owner_only"]

_NONE_REACHABLE = re.compile(r"none of the tools I can reach (?:covers|matches)")


def owner_only_asks(unmet: Sequence[str], principal: Principal, catalogue: Catalogue, now: datetime) -> dict[str, str]:
    """ask -> a tool outside ``principal``'s role that covers it (``catalogue``: every tool, the owner's view)."""
    mine = catalogue_for(catalogue, principal)
    outside = [OfferedTool(d) for name, d in catalogue.tools.items() if name not in mine.tools]
    if not outside or not unmet:
        return {}
    model = OfflineModel(clock=lambda: now)
    found: dict[str, str] = {}
    for ask in unmet:
        choice = model._choose(ask, outside)
        tools = [c.tool for c in choice.calls] + list(choice.unfillable)
        if tools:
            found[ask] = tools[0]
    return found


def say_owner_only(text: str, asks: Mapping[str, str], principal: Principal) -> str:
    """Replace 'none of the tools I can reach covers X' with what is true: the role may not, the owner may."""
    lines = text.splitlines()
    for ask, tool in asks.items():
        said = (
            f"I can't do '{ask}' as {principal.name}: the {principal.role.value} role may not call {tool}, "
            "which does it. The owner can: ask the owner to do it."
        )
        hit = next((i for i, line in enumerate(lines) if _NONE_REACHABLE.search(line) and ask in line), None)
        if hit is None:
            hit = next((i for i, line in enumerate(lines) if _NONE_REACHABLE.search(line)), None)
        if hit is None:
            lines.append(said)
        else:
            lines[hit] = said
    return "\n".join(lines)
