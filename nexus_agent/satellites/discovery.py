"""Tool discovery: naming satellite tools uniquely, checking their schemas, validating arguments.

A satellite's tools are exposed as ``<slug>__<tool>``. Slugs never contain an
underscore (``[a-z0-9-]``), so the first ``__`` always ends the slug, whatever the
tool's own name holds (``a__b`` is ``<slug>__a__b``); the tool is then found by
its qualified name in the satellite's listing, never by splitting the rest. Tool
names are cut down to the MCP tool-name alphabet (``[A-Za-z0-9_.-]``, at most 128
characters). A name already in that alphabet always keeps its plain qualified
name; a rewritten one that would collide with another takes a short hash of the
original name as a suffix (``-1a2b3c4d``), so names stay stable across listings.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import mcp_types as types

from nexus_agent.satellites.models import SatelliteTool
from nexus_agent.satellites.quick_schema import quick_accept
from nexus_agent.wire.errors import InvalidInput, UpstreamError

__all__ = [
    "SEPARATOR",
    "Listing",
    "build_listing",
    "compiled_output_validator",
    "qualify",
    "split_qualified",
    "validate_arguments",
]

logger = logging.getLogger(__name__)

SEPARATOR = "__"
MAX_NAME = 128
_BAD_CHARS = re.compile(r"[^A-Za-z0-9_.-]")


def qualify(slug: str, tool: str, taken: Iterable[str] = ()) -> str:
    """``<slug>__<tool>`` in MCP tool-name characters, at most 128 long and not in ``taken``."""
    base = f"{slug}{SEPARATOR}{_BAD_CHARS.sub('_', tool)}"
    taken = set(taken)
    if len(base) <= MAX_NAME and base not in taken:
        return base
    digest = hashlib.sha256(tool.encode()).hexdigest()
    for width in (8, 16, 64):
        name = f"{base[: MAX_NAME - width - 1]}-{digest[:width]}"
        if name not in taken:
            return name
    raise ValueError(f"cannot name tool {tool!r} of satellite {slug!r} uniquely")  # pragma: no cover


def split_qualified(name: str) -> tuple[str, str]:
    """'quote-engine__get_quote' -> ('quote-engine', 'get_quote'); raises InvalidInput otherwise."""
    slug, sep, tool = name.partition(SEPARATOR)
    if not sep or not slug or not tool:
        raise InvalidInput(
            f"'{name}' is not a satellite tool name",
            hint="Satellite tools are named '<slug>__<tool>', e.g. 'quote-engine__get_quote'.",
        )
    return slug, tool


@dataclass
class Listing:
    """One satellite's parsed tool list (or why there is none), as cached by the pool."""

    fetched_at: float
    by_name: dict[str, SatelliteTool] = field(default_factory=dict)
    by_qualified: dict[str, SatelliteTool] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    error: UpstreamError | None = None

    @property
    def tools(self) -> list[SatelliteTool]:
        return list(self.by_name.values())


def _schema_key(schema: Mapping[str, Any]) -> str | None:
    """A schema's canonical text (the cache key), or None when it is not plain JSON."""
    try:
        return json.dumps(schema, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return None


@functools.lru_cache(maxsize=2048)
def _checked_input_validator(key: str) -> tuple[Any, str | None]:
    """(validator, None) for a valid input schema, (None, why) otherwise: checking a schema against its
    meta-schema is ~2 ms of CPU, and 500 satellites of one kind list the same few schemas."""
    import jsonschema  # imported on first discovery: it costs ~0.2 s of `nexus serve`'s start
    from jsonschema.validators import validator_for

    schema = json.loads(key)
    validator_cls = validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        validator_cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return None, exc.message
    return validator_cls(schema), None


def _input_validator(schema: Mapping[str, Any]) -> tuple[Any, str | None]:
    return _checked_input_validator(_schema_key(schema) or json.dumps(schema, default=str))


@functools.lru_cache(maxsize=2048)
def _compiled_output_validator(key: str) -> Any:
    from jsonschema import SchemaError
    from jsonschema.validators import validator_for
    from referencing import Registry

    schema = json.loads(key)
    validator_cls = validator_for(schema)
    try:
        validator_cls.check_schema(schema)
    except SchemaError as exc:
        raise RuntimeError(f"invalid output schema: {exc.message}") from None
    return validator_cls(schema, registry=Registry())


def compiled_output_validator(schema: Mapping[str, Any]) -> Any:
    """A compiled validator for a tool's output schema, shared by every connection that lists the same schema
    (the SDK compiles one per session and tool: ~2.5 ms each, most of a first fan-out's CPU per satellite).
    Raises RuntimeError for a schema that is not valid JSON Schema (never cached)."""
    key = _schema_key(schema)
    if key is None:  # pragma: no cover - a listed schema is JSON
        raise RuntimeError("output schema is not JSON")
    return _compiled_output_validator(key)


def build_listing(slug: str, tools: Iterable[types.Tool], fetched_at: float) -> Listing:
    """Parse a satellite's tools; a tool with an unusable input schema is skipped with a warning."""
    listing = Listing(fetched_at=fetched_at)
    tools = list(tools)
    # A name already in the MCP alphabet always keeps '<slug>__<name>', whatever order the satellite lists
    # its tools in; a name that had to be rewritten ('a b' -> 'a_b') yields to it and takes a hash suffix.
    exact = {f"{slug}{SEPARATOR}{t.name}" for t in tools if not _BAD_CHARS.search(t.name)}
    for tool in tools:
        schema = tool.input_schema
        validator, problem = _input_validator(schema)
        if problem is not None:
            listing.warnings.append(
                f"tool '{tool.name}' skipped: its input schema is not valid JSON Schema ({problem})"
            )
            continue
        if tool.name in listing.by_name:
            listing.warnings.append(f"tool '{tool.name}' is listed twice; the first one is kept")
            continue
        if tool.execution is not None and tool.execution.task_support == "required":
            listing.warnings.append(
                f"tool '{tool.name}' skipped: it runs only as a task (task-augmented execution), which Nexus does "
                "not relay; call the satellite directly for it"
            )
            continue
        rewritten = _BAD_CHARS.search(tool.name) is not None
        qualified = qualify(slug, tool.name, [*listing.by_qualified, *exact] if rewritten else listing.by_qualified)
        entry = SatelliteTool(
            slug=slug,
            name=tool.name,
            qualified_name=qualified,
            title=tool.title,
            description=tool.description,
            input_schema=dict(schema),
            output_schema=tool.output_schema,
            annotations=tool.annotations,
        )
        entry._validator = validator
        entry._quick = quick_accept(schema)
        listing.by_name[tool.name] = entry
        listing.by_qualified[qualified] = entry
    return listing


def _field(path: Iterable[Any], leaf: str | None = None) -> str:
    parts = [str(p) for p in path]
    if leaf is not None:
        parts.append(leaf)
    return ".".join(parts) or "(arguments)"


def validate_arguments(tool: SatelliteTool, arguments: Any) -> dict[str, Any]:
    """Check ``arguments`` against the tool's input schema; raise InvalidInput naming each bad field."""
    what = f"the arguments for tool '{tool.qualified_name}'"
    if not isinstance(arguments, Mapping):
        raise InvalidInput(
            f"{what} must be a JSON object, not {type(arguments).__name__}",
            hint="Pass the arguments as an object of named fields.",
            details=[{"field": "(arguments)", "problem": "must be an object"}],
        )
    arguments = dict(arguments)
    quick = tool._quick
    if quick is not None and quick(arguments):  # a plain schema's certain yes (quick_schema); else the validator
        return arguments
    validator = tool._validator
    if validator is None:  # pragma: no cover - built by build_listing
        return arguments
    problems: list[dict[str, str]] = []
    try:
        errors = sorted(validator.iter_errors(arguments), key=lambda e: [str(p) for p in e.absolute_path])
    except Exception as exc:  # an unresolvable $ref and the like: let the satellite judge
        logger.warning("cannot evaluate the input schema of %s (%s); not validating locally", tool.qualified_name, exc)
        return arguments
    for err in errors:
        if err.validator == "required" and isinstance(err.instance, Mapping):
            for name in err.validator_value:
                if name not in err.instance:
                    problems.append(
                        {"field": _field(err.absolute_path, name), "problem": "is required but was not given"}
                    )
        elif err.validator == "additionalProperties" and isinstance(err.instance, Mapping):
            known = set((err.schema or {}).get("properties", {}))
            for name in err.instance:
                if name not in known:
                    problems.append({"field": _field(err.absolute_path, str(name)), "problem": "is not a known field"})
        else:
            problems.append({"field": _field(err.absolute_path), "problem": err.message})
    if problems:
        lines = "\n".join(f"  - {p['field']}: {p['problem']}" for p in problems)
        count = len(problems)
        raise InvalidInput(
            f"{what} are invalid ({count} problem{'s' if count != 1 else ''}):\n{lines}",
            hint="Correct the fields listed above; the tool's input schema says what it accepts.",
            details=problems,
        )
    return arguments
