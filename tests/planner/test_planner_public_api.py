"""`nexus_agent.planner` says what is public, and every name it lists exists."""

from __future__ import annotations

import nexus_agent.planner as planner
import nexus_agent.planner.tools as planner_tools


def test_all_names_exist_and_are_sorted() -> None:
    for module in (planner, planner_tools):
        assert list(module.__all__) == sorted(module.__all__, key=lambda n: (not n.isupper(), n))
        for name in module.__all__:
            assert hasattr(module, name), name


def test_the_main_pieces_are_public() -> None:
    assert {"Planner", "ToolProvider", "ToolDescriptor", "AnthropicModel", "OfflineModel", "build_planner"} <= set(
        planner.__all__
    )
