"""``gaps_analyse``: which registered apps cover each required capability."""

from __future__ import annotations

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
        "Empty: only what the owner asked for that nothing covers.",
    )
    include_asked: bool = Field(
        True, description="Also report capabilities the owner asked Nexus for that no live app covers yet."
    )


#: Tag of the notes the planner writes when nothing covers an instruction (``nexus_agent.planner.loop``).
UNMET_TAG = "unmet-capability"
_UNMET_TITLE = "Unmet capability: "


async def _asked_for(call: ToolCall) -> list[str]:
    page = await call.services.memory.search({"query": "unmet capability", "tag": UNMET_TAG, "limit": 100})
    titles = [h.title.removeprefix(_UNMET_TITLE).strip() for h in page.hits if h.title.startswith(_UNMET_TITLE)]
    return list(dict.fromkeys(t for t in titles if t))


async def gaps_analyse(call: ToolCall, params: GapsInput) -> GapReport:
    apps = await call.services.registry.all()
    if params.capabilities:
        report = analyse_gaps(params.capabilities, apps)
    else:
        report = GapReport(capabilities=[], covered=[], planned_only=[], gaps=[], apps_considered=len(apps), summary="")
    if params.include_asked:
        asked = await _asked_for(call)
        # The planner recorded these when no *reachable* tool covered them; the registry may still list an app
        # for one (not callable yet): say so beside it.
        found = analyse_gaps(asked, apps).capabilities if asked else []
        report.asked_not_covered = [
            c.capability if c.coverage == "none" else f"{c.capability} ({c.summary}; not reachable when asked)"
            for c in found
        ]
        if not params.capabilities:
            n = len(report.asked_not_covered)
            report.summary = f"{n} capabilit{'y' if n == 1 else 'ies'} asked for by the owner that no live app covers."
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
