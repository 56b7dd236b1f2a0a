"""A quick yes for the common shape of tool input schemas, before the full JSON Schema validator.

Most tools' input schemas are a flat object: named properties with a type and perhaps an enum, bounds, a
length or a pattern, some required, maybe no others allowed (what the kit's pydantic models and a legacy app's
documented message parameters produce). :func:`quick_accept` compiles such a schema into a plain function that
answers True only when the arguments are certainly valid; anything else (a False, or a schema with any keyword it
does not know, which gets no quick check at all) goes to ``jsonschema``, which alone says what is wrong. So the
quick check can only save work, never change a verdict: it is stricter than JSON Schema where the two could
differ (an integer written as ``1.0``, an enum of numbers, a ``$ref``), and those cases simply take the full path.
"""

from __future__ import annotations

import functools
import json
import math
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["quick_accept"]

Check = Callable[[Any], bool]

#: Keywords that say nothing about validity (annotations); ``format`` is one too without a format checker.
_ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "$comment", "format", "deprecated", "readOnly", "writeOnly"}
)
_VALUE_KEYWORDS = frozenset(
    {"type", "enum", "const", "minLength", "maxLength", "pattern", "minimum", "maximum"}
    | {"exclusiveMinimum", "exclusiveMaximum", "anyOf"}
)
_OBJECT_KEYWORDS = frozenset({"type", "properties", "required", "additionalProperties", "$schema", "$id"})


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and math.isfinite(v))


_TYPES: dict[str, Check] = {
    "string": lambda v: isinstance(v, str),
    "integer": _is_int,  # 1.0 is an integer to JSON Schema: not quickly, jsonschema says so
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def _type_check(spec: Any) -> Check | None:
    names = [spec] if isinstance(spec, str) else spec
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n in _TYPES for n in names):
        return None
    checks = [_TYPES[n] for n in names]
    return checks[0] if len(checks) == 1 else _any_of(checks)


_NUMBER_BOUNDS: tuple[tuple[str, Callable[[Any, Any], bool]], ...] = (
    ("minimum", operator.ge),
    ("maximum", operator.le),
    ("exclusiveMinimum", operator.gt),
    ("exclusiveMaximum", operator.lt),
)
_LENGTH_BOUNDS: tuple[tuple[str, Callable[[Any, Any], bool]], ...] = (
    ("minLength", operator.ge),
    ("maxLength", operator.le),
)


def _number_bound(bound: Any, compare: Callable[[Any, Any], bool]) -> Check:
    return lambda v: not _is_number(v) or compare(v, bound)


def _length_bound(bound: int, compare: Callable[[Any, Any], bool]) -> Check:
    return lambda v: not isinstance(v, str) or compare(len(v), bound)


def _pattern(pattern: re.Pattern[str]) -> Check:
    return lambda v: not isinstance(v, str) or pattern.search(v) is not None


def _bound_checks(schema: Mapping[str, Any]) -> list[Check] | None:
    checks: list[Check] = []
    for key, compare in _NUMBER_BOUNDS:
        if key in schema:
            if not _is_number(schema[key]):
                return None
            checks.append(_number_bound(schema[key], compare))
    for key, compare in _LENGTH_BOUNDS:
        if key in schema:
            if not _is_int(schema[key]):
                return None
            checks.append(_length_bound(schema[key], compare))
    if "pattern" in schema:
        try:
            checks.append(_pattern(re.compile(schema["pattern"])))
        except (re.error, TypeError):
            return None
    return checks


def _one_of(choices: frozenset[str]) -> Check:
    return lambda v: isinstance(v, str) and v in choices


def _any_of(checks: list[Check]) -> Check:
    return lambda v: any(c(v) for c in checks)


def _value_check(schema: Any) -> Check | None:
    """A property's schema as a check, or None when it uses anything beyond the plain keywords."""
    if schema is True or schema == {}:
        return lambda v: True
    if not isinstance(schema, dict) or set(schema) - _VALUE_KEYWORDS - _ANNOTATIONS:
        return None
    checks: list[Check] = []
    if "type" in schema:
        typed = _type_check(schema["type"])
        if typed is None:
            return None
        checks.append(typed)
    for key in ("enum", "const"):  # strings only: JSON Schema's equality of numbers and booleans is subtle
        if key in schema:
            allowed = schema[key] if key == "enum" else [schema[key]]
            if not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed):
                return None
            checks.append(_one_of(frozenset(allowed)))
    bounds = _bound_checks(schema)
    if bounds is None:
        return None
    checks += bounds
    if "anyOf" in schema:
        options = schema["anyOf"]
        if not isinstance(options, list) or not options:
            return None
        compiled = [_value_check(o) for o in options]
        present = [c for c in compiled if c is not None]
        if len(present) != len(compiled):
            return None
        checks.append(_any_of(present))
    return _all_of(checks)


def _all_of(checks: list[Check]) -> Check:
    """The checks in turn; one check is itself (a plain property's type alone: no loop on every call)."""
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda v: first(v) and second(v)
    return lambda v: all(c(v) for c in checks)


def _object_check(schema: Mapping[str, Any]) -> Check | None:
    if set(schema) - _OBJECT_KEYWORDS - _ANNOTATIONS or schema.get("type", "object") != "object":
        return None
    properties, required = schema.get("properties", {}), schema.get("required", [])
    if not isinstance(properties, dict) or not isinstance(required, list):
        return None
    if not all(isinstance(name, str) for name in required):
        return None
    extra = schema.get("additionalProperties", True)
    if extra not in (True, False, {}):
        return None
    closed = extra is False
    checks: dict[str, Check] = {}
    for name, sub in properties.items():
        value_check = _value_check(sub)
        if value_check is None:
            return None
        checks[name] = value_check
    needed = tuple(required)

    def check(arguments: Any) -> bool:
        if not isinstance(arguments, dict):
            return False
        for name in needed:
            if name not in arguments:
                return False
        for name, value in arguments.items():
            found = checks.get(name)
            if found is None:
                if closed:
                    return False
            elif not found(value):
                return False
        return True

    return check


@functools.lru_cache(maxsize=2048)
def _compiled(key: str) -> Check | None:
    schema = json.loads(key)
    return _object_check(schema) if isinstance(schema, dict) else None


def quick_accept(schema: Mapping[str, Any]) -> Check | None:
    """A function saying True only for arguments that ``schema`` certainly accepts; None when ``schema`` is
    not of the plain shape (then only the full validator judges). Compiled once per distinct schema."""
    try:
        key = json.dumps(schema, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return None
    return _compiled(key)
