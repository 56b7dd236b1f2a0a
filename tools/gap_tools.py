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
        ...,
        min_length=1,
        max_length=100,
        description="Required capabilities in plain words, one per item, e.g. ['credit checks', 'site surveys'].",
    )


async def gaps_analyse(call: ToolCall, params: GapsInput) -> GapReport:
    apps = await call.services.registry.all()
    return analyse_gaps(params.capabilities, apps)


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
