"""A legacy app's message types as MCP tools (no I/O here).

A legacy app is a web app with a message handler: ``POST {"type": "query.stock_level",
"params": {...}, "request_id": ...}``. Each message type it registered becomes one tool
named after the type with dots as underscores (``query.stock_level`` -> ``query_stock_level``,
so Nexus lists it as ``stock-ledger__query_stock_level``):

- the description comes from what the registration documents (the message type's own
  description, else one made from its name, plus the app's description and the business
  rules that mention it);
- the input schema lists the documented parameters (``message_specs``), else it is one free
  ``params`` object;
- ``query.*`` and ``test.ping`` are read-only and idempotent (safe to retry, no approval);
  ``action.*`` and anything else have side effects and need the owner's approval.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import mcp_types as types

from nexus_agent.wire.models import AppRecord, MessageParam, MessageSpec

__all__ = [
    "LegacyTool",
    "is_read_only_message",
    "legacy_tools",
    "message_params",
    "not_message_types",
    "tool_name_for",
]

_READ_ONLY_FAMILIES = frozenset({"query"})
_READ_ONLY_TYPES = frozenset({"test.ping"})
_JSON_TYPES: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "object": {"type": "object"},
    "array": {"type": "array"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
}
_FREE_PARAMS = "params"
_VALID_TYPE = re.compile(r"^[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)+$")


def tool_name_for(message_type: str) -> str:
    """``query.stock_level`` -> ``query_stock_level`` (the tool's name on the app)."""
    return message_type.replace(".", "_")


def is_read_only_message(message_type: str) -> bool:
    """``query.*`` and ``test.ping`` only read; every other message may change something."""
    return message_type in _READ_ONLY_TYPES or message_type.split(".", 1)[0] in _READ_ONLY_FAMILIES


@dataclass(frozen=True)
class LegacyTool:
    """One message type as a tool, and how its arguments become the message's ``params``."""

    message_type: str
    tool: types.Tool
    documented: bool  # True: the arguments are the params; False: the params are arguments['params']

    def params(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return message_params(arguments, documented=self.documented)


def message_params(arguments: dict[str, Any], *, documented: bool) -> dict[str, Any]:
    if documented:
        return dict(arguments)
    value = arguments.get(_FREE_PARAMS)
    return dict(value) if isinstance(value, dict) else {}


def _words(message_type: str) -> str:
    return message_type.split(".", 1)[-1].replace("_", " ").replace(".", " ")


def _summary(record: AppRecord, message_type: str) -> str:
    family = message_type.split(".", 1)[0]
    what = _words(message_type)
    if message_type == "test.ping":
        return f"Checks that {record.name} answers its message handler (test.ping)."
    if family == "query":
        return f"Asks {record.name} for {what}."
    if family == "action":
        return f"Has {record.name} {what} (a change in the app: needs approval)."
    return f"Sends {record.name} the message '{message_type}' (may change something in the app: needs approval)."


def _description(record: AppRecord, message_type: str, spec: MessageSpec | None) -> str:
    parts = [spec.description.strip() if spec and spec.description.strip() else _summary(record, message_type)]
    parts.append(f"Message '{message_type}' to the message handler of {record.name} ({record.slug}), a legacy app.")
    if record.description and message_type != "test.ping":  # a ping says nothing about what the app does
        parts.append(f"The app: {record.description.strip()}")
    keywords = {w for w in re.split(r"[^a-z0-9]+", _words(message_type).lower()) if len(w) > 3}
    rules = [r for r in record.business_rules if keywords & set(re.split(r"[^a-z0-9]+", r.lower()))]
    if rules:
        parts.append("Business rules: " + "; ".join(r.strip() for r in rules[:3]))
    return "\n".join(parts)[:4000]


def _param_schema(param: MessageParam) -> dict[str, Any]:
    schema = dict(_JSON_TYPES[param.type])
    if param.description:
        schema["description"] = param.description
    return schema


def _input_schema(spec: MessageSpec | None) -> tuple[dict[str, Any], bool]:
    if spec is not None and spec.params is not None:
        properties = {p.name: _param_schema(p) for p in spec.params}
        required = [p.name for p in spec.params if p.required]
        schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
        if required:
            schema["required"] = required
        return schema, True
    free = {
        "type": "object",
        "description": "The message's parameters, as the app expects them (its registration documents none).",
        "additionalProperties": True,
    }
    return {"type": "object", "properties": {_FREE_PARAMS: free}, "additionalProperties": False}, False


def not_message_types(record: AppRecord) -> list[str]:
    """Why entries of ``message_types`` make no tool: prose or parameter names are not 'family.name' types."""
    return [
        f"'{entry[:60]}' in message_types is not a message type ('family.name'); no tool for it"
        for entry in record.message_types
        if not _VALID_TYPE.match(entry)
    ]


def legacy_tools(record: AppRecord) -> list[LegacyTool]:
    """One tool per message type the record lists (documented types not listed count too), in listed order."""
    specs = {s.type: s for s in record.message_specs}
    types_ = list(dict.fromkeys([*record.message_types, *specs]))
    out: list[LegacyTool] = []
    for message_type in types_:
        if not _VALID_TYPE.match(message_type):
            continue  # prose or a parameter name in a message-type list is not a message type
        spec = specs.get(message_type)
        schema, documented = _input_schema(spec)
        read_only = is_read_only_message(message_type)
        title = f"{record.name}: {_words(message_type)}"[:200]
        annotations = types.ToolAnnotations(
            title=title,
            read_only_hint=read_only,
            idempotent_hint=read_only,
            destructive_hint=False if read_only else None,
            open_world_hint=True,
        )
        tool = types.Tool(
            name=tool_name_for(message_type),
            title=title,
            description=_description(record, message_type, spec),
            input_schema=schema,
            annotations=annotations,
        )
        out.append(LegacyTool(message_type, tool, documented))
    return out
