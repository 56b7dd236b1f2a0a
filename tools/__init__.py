"""Nexus's own tools: typed functions shared by the MCP server and the planner.

The planner's own tools (``instruct``, ``plan_*``) live with the planner (:mod:`nexus_agent.planner.tools`);
the edge serves both (:mod:`nexus_agent.toolset`). Nothing here imports the planner."""

from __future__ import annotations

from tools.base import ToolCall, ToolInput, ToolSpec
from tools.flow_tools import FLOW_TOOLS
from tools.gap_tools import GAP_TOOLS
from tools.health_tools import HEALTH_TOOLS
from tools.memory_tools import MEMORY_TOOLS
from tools.registry_tools import REGISTRY_TOOLS
from tools.satellite_tools import SATELLITE_TOOLS

__all__ = ["NEXUS_TOOLS", "ToolCall", "ToolInput", "ToolSpec", "tool_by_name"]

NEXUS_TOOLS: tuple[ToolSpec, ...] = (
    *REGISTRY_TOOLS,
    *MEMORY_TOOLS,
    *GAP_TOOLS,
    *SATELLITE_TOOLS,
    *FLOW_TOOLS,
    *HEALTH_TOOLS,
)


def tool_by_name(name: str) -> ToolSpec:
    for spec in NEXUS_TOOLS:
        if spec.name == name:
            return spec
    raise KeyError(name)
