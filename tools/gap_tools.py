"""``gaps_analyse``: which registered apps cover each required capability."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field

from nexus_agent.auth.policy import READERS
from nexus_agent.gaps import GapReport, analyse_gaps
from tools.base import ToolCall, ToolInput, ToolSpec

__all__ = ["GAP_TOOLS"]


class GapsInput(ToolInput):
    capabilities: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list,
        max_length=100,
        description="Required capabilities in plain words, one per item, e.g. ['credit checks', 'site surveys']. "
        "Empty: only what was asked for (by the owner or an agent) that nothing covers.",
    )
    include_asked: bool = Field(
        True, description="Also report capabilities asked of Nexus (with who asked) that no live app covers yet."
    )


#: Tag of the notes the planner writes when nothing covers an instruction (``nexus_agent.planner.loop``).
UNMET_TAG = "unmet-capability"
_UNMET_TITLE = "Unmet capability: "


_ASKED_BY = re.compile(r"^Asked by (.{1,200}?) \((\w+)\):")


async def _asked_for(call: ToolCall) -> dict[str, list[str]]:
    """Each capability asked for that no tool covered -> who asked ('bot (agent)'; older notes: the owner)."""
    memory = call.services.memory
    page = await memory.search({"query": "unmet capability", "tag": UNMET_TAG, "limit": 100})
    asked: dict[str, list[str]] = {}
    for hit in page.hits:
        what = hit.title.removeprefix(_UNMET_TITLE).strip()
        if not hit.title.startswith(_UNMET_TITLE) or not what:
            continue
        match = _ASKED_BY.match((await memory.get_note(hit.id)).text) if hit.kind == "note" else None
        who = f"{match[1]} ({match[2]})" if match else "the owner"
        asked.setdefault(what, [])
        if who not in asked[what]:
            asked[what].append(who)
    return asked


async def gaps_analyse(call: ToolCall, params: GapsInput) -> GapReport:
    apps = await call.services.registry.all()
    if params.capabilities:
        report = analyse_gaps(params.capabilities, apps)
    else:
        report = GapReport(capabilities=[], covered=[], planned_only=[], gaps=[], apps_considered=len(apps), summary="")
    if params.include_asked:
        asked = await _asked_for(call)
        # The planner recorded these when no tool covered them; the registry may still list an app
        # for one (not callable yet): say so beside it. Each says who asked.
        found = analyse_gaps(list(asked), apps).capabilities if asked else []
        report.asked_not_covered = [
            f"{c.capability} (asked by {', '.join(asked.get(c.capability, ['the owner']))}"
            + (")" if c.coverage == "none" else f"; {c.summary}; not reachable when asked)")
            for c in found
        ]
        if not params.capabilities:
            n = len(report.asked_not_covered)
            report.summary = f"{n} capabilit{'y' if n == 1 else 'ies'} asked for that no live app covers."
    return report


GAP_TOOLS: list[ToolSpec] = [
    ToolSpec(
        name="gaps_analyse",
        roles=READERS,
        title="Capability gap analysis",
        description=(
            "Given the business capabilities SFG Aluminium needs (plain words, e.g. 'credit checks', "
            "'installation scheduling'), report which registered apps cover each one with the evidence "
            "that matched, which are only planned by placeholder apps, and which nothing covers. "
            "Deterministic; reads the registry only."
        ),
        input_model=GapsInput,
        output_model=GapReport,
        handler=gaps_analyse,
        read_only=True,
        idempotent=True,
        group="gaps",
    )
]
