"""The planner's prompt files: loaded and rendered by name, stable where caching needs it."""

from __future__ import annotations

import pytest

import prompts
from nexus_agent.wire.errors import InvalidInput

PLANNER_PROMPTS = ("planner_system", "planner_context", "planner_last_step")


@pytest.mark.parametrize("name", PLANNER_PROMPTS)
def test_each_planner_prompt_loads_and_renders_with_no_placeholder_left(name: str) -> None:
    template = prompts.load_prompt(name)
    assert template.title and template.description
    values = {a.name: f"<{a.name}>" for a in template.arguments}
    text = template.render(values)
    assert "{{" not in text
    for value in values.values():
        assert value in text


def test_system_prompt_is_stable_text_for_the_cache() -> None:
    first = prompts.render_prompt("planner_system", owner="The owner")
    assert first == prompts.render_prompt("planner_system", owner="The owner")
    assert "British English" in first and "parallel" in first and "approve" in first


def test_context_and_last_step_prompts_check_their_arguments() -> None:
    with pytest.raises(InvalidInput):
        prompts.render_prompt("planner_last_step")
    with pytest.raises(InvalidInput):
        prompts.render_prompt("planner_context", instruction="not an argument")
    text = prompts.render_prompt("planner_context", apps="- quote-engine", memory="(none)")
    assert "- quote-engine" in text and "instruction follows" in text
    assert "last turn of 3" in prompts.render_prompt("planner_last_step", steps=3)
