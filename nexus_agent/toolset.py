"""Every tool Nexus serves over MCP: the planner's (``instruct``, ``plan_*``) and Nexus's own.

Composed here, above the planner, so that ``tools/`` never imports the planner (imports flow one way:
tools -> planner -> edge). The planner itself offers only :data:`tools.NEXUS_TOOLS` to its model.
"""

from __future__ import annotations

from nexus_agent.planner.tools import PLANNER_TOOLS
from tools import NEXUS_TOOLS, ToolSpec

__all__ = ["ALL_TOOLS", "tool_by_name"]

ALL_TOOLS: tuple[ToolSpec, ...] = (*PLANNER_TOOLS, *NEXUS_TOOLS)


def tool_by_name(name: str) -> ToolSpec:
    for spec in ALL_TOOLS:
        if spec.name == name:
            return spec
    raise KeyError(name)
