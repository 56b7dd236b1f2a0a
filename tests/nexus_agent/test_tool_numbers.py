"""A number no field can hold is an error naming that field, for every one of Nexus's tools."""

from __future__ import annotations

import math
import types
import typing
from typing import Any

import pytest
from pydantic import Field

from nexus_agent.toolset import ALL_TOOLS
from nexus_agent.wire.errors import InvalidInput
from tools.base import ToolInput, ToolSpec, check_argument_size


def _number_kind(annotation: Any) -> type | None:
    args = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    for arg in args:
        if arg in (int, float):
            return arg  # type: ignore[no-any-return]
    return None


NUMBER_FIELDS = [
    (spec, name, kind)
    for spec in ALL_TOOLS
    for name, info in spec.input_model.model_fields.items()
    if (kind := _number_kind(info.annotation)) is not None
]


def _ids() -> list[str]:
    return [f"{spec.name}.{name}" for spec, name, _ in NUMBER_FIELDS]


@pytest.mark.parametrize(("spec", "field", "kind"), NUMBER_FIELDS, ids=_ids())
def test_a_huge_number_is_a_field_error(spec: ToolSpec[Any, Any], field: str, kind: type) -> None:
    bad_values: list[Any] = [10**30, -(10**30)]
    if kind is float:
        bad_values += [math.inf, -math.inf, math.nan]
    for bad in bad_values:
        with pytest.raises(InvalidInput) as caught:
            spec.parse({field: bad})
        assert f"  - {field}:" in caught.value.user_message(), (bad, caught.value.user_message())


def test_tool_inputs_refuse_huge_numbers_nested_in_free_form_arguments() -> None:
    class Free(ToolInput):
        arguments: dict[str, Any] = Field(default_factory=dict)

    with pytest.raises(ValueError, match="too large"):
        Free.model_validate({"arguments": {"rows": [1, 2, 10**40]}})
    with pytest.raises(ValueError, match="not a finite number"):
        Free.model_validate({"arguments": {"ratio": math.inf}})
    assert Free.model_validate({"arguments": {"n": 2**63 - 1, "flag": True}}).arguments["n"] == 2**63 - 1


def test_argument_size_limit_names_the_tool_and_the_setting() -> None:
    check_argument_size("quotes__echo", {"text": "x" * 100}, 1024)
    with pytest.raises(InvalidInput) as caught:
        check_argument_size("quotes__echo", {"text": "x" * 2000}, 1024)
    message = caught.value.user_message()
    assert "quotes__echo" in message and "1,024-byte limit" in message and "NEXUS_MAX_INPUT_BYTES" in message
