"""The quick check of plain input schemas never says yes where JSON Schema says no, and says yes to valid calls."""

from __future__ import annotations

import random
from typing import Any

import jsonschema
import pytest

from nexus_agent.satellites.discovery import validate_arguments
from nexus_agent.satellites.models import SatelliteTool
from nexus_agent.satellites.quick_schema import quick_accept
from nexus_agent.wire.errors import InvalidInput

PLAIN: list[dict[str, Any]] = [
    # a legacy app's documented message parameters
    {
        "type": "object",
        "properties": {"sku": {"type": "string", "description": "stock item code"}, "yard": {"type": "string"}},
        "required": ["sku"],
        "additionalProperties": False,
    },
    # what a pydantic model in the satellite kit produces: titles, defaults, Optional as anyOf with null
    {
        "title": "args",
        "type": "object",
        "properties": {
            "quote_id": {"title": "Quote Id", "type": "string", "minLength": 3, "maxLength": 12, "pattern": "^Q-"},
            "qty": {"type": "integer", "minimum": 1, "exclusiveMaximum": 1000},
            "price": {"type": "number", "exclusiveMinimum": 0},
            "urgent": {"type": "boolean", "default": False},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "yard": {"enum": ["north", "south"]},
            "tags": {"type": "array"},
            "extra": {"type": ["object", "null"]},
            "kind": {"const": "quote"},
            "anything": {},
        },
        "required": ["quote_id", "qty"],
    },
    {"type": "object", "properties": {}, "additionalProperties": {}},
    {"type": "object"},
]

NOT_PLAIN: list[dict[str, Any]] = [
    {"type": "object", "properties": {"a": {"$ref": "#/$defs/x"}}, "$defs": {"x": {"type": "string"}}},
    {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "string"}}}},
    {"type": "object", "properties": {"a": {"type": "integer", "multipleOf": 2}}},
    {"type": "object", "properties": {"a": {"enum": [1, 2, True]}}},
    {"type": "object", "additionalProperties": {"type": "string"}},
    {"type": "object", "patternProperties": {"^x": {"type": "string"}}},
    {"type": "object", "properties": {"a": {"type": "integer", "minimum": 0, "exclusiveMinimum": True}}},
    {"type": ["object", "null"]},
    {"type": "object", "properties": {"a": {"type": "string", "pattern": "("}}},
]

VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 7, 999, 1000, 1.0, 1.5, -0.5, float("nan"), float("inf"), 10**30,
    "", "Q", "Q-1", "Q-123", "Q-123456789012", "north", "south", "west", "quote", "é" * 5, "Q-\u00e9\u00e9",
    [], ["a"], {}, {"a": 1},
]  # fmt: skip
#: A value each field accepts in the schemas above, chosen most of the time so valid calls are common.
GOOD: dict[str, Any] = {
    "sku": "EXT-1", "yard": "north", "quote_id": "Q-123", "qty": 7, "price": 2.5, "urgent": True, "note": None,
    "tags": [], "extra": {}, "kind": "quote", "anything": 1.5,
}  # fmt: skip
NAMES = ["sku", "yard", "quote_id", "qty", "price", "urgent", "note", "tags", "extra", "kind", "anything", "other"]


def _instances(schema: dict[str, Any], seed: int, count: int) -> list[Any]:
    """Random calls: the schema's own fields (each given or not) and sometimes an unknown one."""
    rng = random.Random(seed)
    names = [*schema.get("properties", {}), "other"] if schema.get("properties") else NAMES
    out: list[Any] = [[], "text", 3, None]
    for _ in range(count):
        given = [n for n in names if rng.random() < (0.1 if n == "other" else 0.5)]
        out.append({n: GOOD[n] if n in GOOD and rng.random() < 0.8 else rng.choice(VALUES) for n in given})
    return out


@pytest.mark.parametrize("schema", PLAIN, ids=range(len(PLAIN)))
def test_a_quick_yes_is_always_a_json_schema_yes(schema: dict[str, Any]) -> None:
    quick = quick_accept(schema)
    assert quick is not None, "a plain schema gets a quick check"
    validator = jsonschema.Draft202012Validator(schema)
    valid = said_yes = 0
    for instance in _instances(schema, seed=7, count=20000):
        valid += validator.is_valid(instance)
        if quick(instance):
            said_yes += 1
            assert validator.is_valid(instance), (schema, instance)
    assert valid > 20 and said_yes > valid / 2, "the quick check accepts most valid calls (else it saves nothing)"


def test_plain_valid_calls_are_accepted_quickly() -> None:
    quick = quick_accept(PLAIN[1])
    assert quick is not None
    assert quick({"quote_id": "Q-17", "qty": 3, "note": None, "yard": "south", "kind": "quote", "extra": {}})
    assert not quick({"quote_id": "Q-17", "qty": 1.0})  # an integer written as 1.0: the full validator decides
    assert not quick({"quote_id": "Q-17", "qty": True})  # a boolean is not an integer


@pytest.mark.parametrize("schema", NOT_PLAIN, ids=range(len(NOT_PLAIN)))
def test_a_schema_beyond_the_plain_keywords_gets_no_quick_check(schema: dict[str, Any]) -> None:
    assert quick_accept(schema) is None


def test_validation_still_names_every_problem_when_the_quick_check_says_no() -> None:
    tool = SatelliteTool(slug="q", name="t", qualified_name="q__t", input_schema=PLAIN[1])
    tool._validator = jsonschema.Draft202012Validator(PLAIN[1])
    tool._quick = quick_accept(PLAIN[1])
    assert validate_arguments(tool, {"quote_id": "Q-17", "qty": 1.0}) == {"quote_id": "Q-17", "qty": 1.0}
    with pytest.raises(InvalidInput) as raised:
        validate_arguments(tool, {"quote_id": "X", "qty": 0, "yard": "west"})
    fields = {d["field"] for d in raised.value.details}  # type: ignore[union-attr]
    assert fields == {"quote_id", "qty", "yard"}
