"""Message types as legacy apps document them (pure: no I/O).

Three shapes carry them:

- a JSON list in which parameter names and prose sit between the types
  (``["query.bay_occupancy", "bay_id", "The yard bay identifier", "action.reserve_bay"]``):
  only ``family.name`` strings are message types; an identifier after a type is one of
  its parameters, and prose describes the parameter (or type) before it;
- a Markdown page with a heading per type, a paragraph or ``**Description:**`` line, and
  parameter bullets (``- `bay_id` (string, required): the yard bay``);
- a documented payload example (a fenced JSON block under the type's heading): its keys
  become parameters typed from their example values (not required: an example says
  nothing about that).

:func:`merge_docs` turns the drafts of every file into
:class:`~nexus_agent.wire.models.MessageSpec` entries: what a page states explicitly
(type, required) wins over what a list only names.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from nexus_agent.wire.models import MESSAGE_TYPE_PATTERN, MessageParam, MessageSpec

__all__ = ["MessageDraft", "ParamDraft", "merge_docs", "messages_from_markdown", "split_message_list"]

_TYPE = re.compile(MESSAGE_TYPE_PATTERN)
_HEAD_REST = re.compile(r"^(\S+?)\s*(?::|\u2014|\s-\s)\s*(.*)$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_PARAM = re.compile(r"^\s*[-*+]\s+`([A-Za-z_][A-Za-z0-9_]{0,99})`\s*(?:\(([^)]*)\))?\s*(?:[:\u2014-]\s*(.*))?$")
_PARAM_BARE = re.compile(r"^\s*[-*+]\s+([A-Za-z_][A-Za-z0-9_]{0,99})\s*\(([^)]*)\)\s*(?:[:\u2014-]\s*(.*))?$")
_LABEL = re.compile(r"^\s*\*\*(description|summary|purpose)\s*:?\*\*\s*:?\s*(.*)$", re.IGNORECASE)
_OUTGOING = re.compile(r"\b(outgoing|sent|emit|emits|emitted|publish)", re.IGNORECASE)
_TYPE_WORDS = {
    "string": "string", "str": "string", "text": "string", "id": "string", "uuid": "string", "email": "string",
    "url": "string", "enum": "string", "integer": "integer", "int": "integer", "number": "number",
    "float": "number", "decimal": "number", "double": "number", "boolean": "boolean", "bool": "boolean",
    "date": "date", "datetime": "datetime", "date-time": "datetime", "timestamp": "datetime",
    "object": "object", "json": "object", "dict": "object", "map": "object", "array": "array", "list": "array",
}  # fmt: skip


@dataclass
class ParamDraft:
    name: str
    type: str | None = None  # None: the source does not say
    required: bool | None = None
    description: str = ""


@dataclass
class MessageDraft:
    name: str
    description: str = ""
    params: list[ParamDraft] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _clean(text: str) -> str:
    return " ".join(text.replace("`", "").split())


def _type_of(word: str) -> str | None:
    word = word.strip().lower()
    if word.endswith("[]"):
        return "array"
    return _TYPE_WORDS.get(word)


def _append(text: str, more: str) -> str:
    return f"{text} {more}".strip() if more else text


def split_message_list(items: list[str]) -> tuple[list[MessageDraft], list[str]]:
    """Message types (with the parameters and prose beside them) out of a mixed list; notes on the rest."""
    drafts: list[MessageDraft] = []
    current: MessageDraft | None = None
    last: ParamDraft | None = None
    params = prose = orphans = 0
    for item in items:
        text = _clean(item)
        split = _HEAD_REST.match(text)
        head, rest = (split.group(1), split.group(2)) if split else (text, "")
        if _TYPE.match(head):
            current, last = MessageDraft(name=head, description=rest), None
            drafts.append(current)
        elif current is not None and _IDENT.match(head) and "." not in head:
            last = ParamDraft(name=head, description=rest)
            current.params.append(last)
            params += 1
        elif current is not None and text:
            target = last if last is not None else current
            target.description = _append(target.description, text)
            prose += 1
        elif text:
            orphans += 1
    notes = []
    if params or prose or orphans:
        parts = [f"{params} parameter name(s)" if params else "", f"{prose} description(s)" if prose else ""]
        parts.append(f"{orphans} other item(s) before the first type" if orphans else "")
        notes.append(
            f"its message-type list mixes in {', '.join(p for p in parts if p)}: "
            "kept as parameters and descriptions, not as message types"
        )
    return drafts, notes


def _param_from_bullet(match: re.Match[str]) -> ParamDraft:
    param = ParamDraft(name=match.group(1), description=_clean(match.group(3) or ""))
    for word in (match.group(2) or "").split(","):
        word = word.strip().lower()
        if word in {"required", "mandatory"}:
            param.required = True
        elif word in {"optional"}:
            param.required = False
        elif word and param.type is None:
            param.type = _type_of(word) or "string"
    return param


def _params_from_payload(block: str) -> list[ParamDraft]:
    try:
        example = json.loads(block)
    except ValueError:
        return []
    if not isinstance(example, dict):
        return []
    kinds = {bool: "boolean", int: "integer", float: "number", str: "string", dict: "object", list: "array"}
    return [
        ParamDraft(name=key, type=kinds.get(type(value), "string"))
        for key, value in example.items()
        if isinstance(key, str) and _IDENT.match(key)
    ]


def messages_from_markdown(text: str) -> list[MessageDraft]:
    """Every message type documented under a heading, with its description and parameters.

    Types under a heading that says outgoing, sent or emitted are what the app sends: skipped.
    """
    drafts: list[MessageDraft] = []
    current: MessageDraft | None = None
    outgoing_level: int | None = None
    fence: list[str] | None = None
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            if fence is None:
                fence = []
            else:
                if current is not None and not current.params:
                    current.params = _params_from_payload("\n".join(fence))
                fence = None
            continue
        if fence is not None:
            fence.append(line)
            continue
        if heading := _HEADING.match(line):
            level, title = len(heading.group(1)), _clean(heading.group(2))
            if outgoing_level is not None and level <= outgoing_level:
                outgoing_level = None
            current = None
            if _OUTGOING.search(title):
                outgoing_level = level
            elif _TYPE.match(title) and outgoing_level is None:
                current = MessageDraft(name=title)
                drafts.append(current)
            continue
        if current is not None:
            _read_line(current, line)
    return drafts


def _read_line(current: MessageDraft, line: str) -> None:
    if match := _PARAM.match(line) or _PARAM_BARE.match(line):
        current.params.append(_param_from_bullet(match))
    elif label := _LABEL.match(line):
        current.description = _append(current.description, _clean(label.group(2)))
    elif line.strip() and not current.params and not re.match(r"^\s*(\*\*)?[A-Za-z ]+:(\*\*)?\s*$", line):
        current.description = _append(current.description, _clean(line))


def _merge_param(params: dict[str, MessageParam], draft: ParamDraft, explicit: set[str]) -> None:
    old = params.get(draft.name)
    stated = draft.type is not None or draft.required is not None
    if old is None or (stated and draft.name not in explicit):
        description = draft.description or (old.description if old else "")
        params[draft.name] = MessageParam(
            name=draft.name,
            type=draft.type or (old.type if old else "string"),  # type: ignore[arg-type]
            required=bool(draft.required),
            description=description[:1000],
        )
        if stated:
            explicit.add(draft.name)
    elif draft.description and not old.description:
        params[draft.name] = old.model_copy(update={"description": draft.description[:1000]})


def merge_docs(drafts: list[MessageDraft], types: list[str]) -> list[MessageSpec]:
    """One spec per message type in ``types`` that some draft documents (first description wins).

    ``params`` stays null when no file names a parameter (the tool then takes a free object).
    """
    docs: list[MessageSpec] = []
    for name in types:
        # a page that states types and requirements comes first, so its parameter order is kept
        mine = sorted(
            (d for d in drafts if d.name == name),
            key=lambda d: not any(p.type is not None or p.required is not None for p in d.params),
        )
        params: dict[str, MessageParam] = {}
        explicit: set[str] = set()
        for draft in mine:
            for param in draft.params:
                _merge_param(params, param, explicit)
        description = next((d.description for d in mine if d.description), "")
        if description or params:
            docs.append(
                MessageSpec(
                    type=name, description=description[:4000], params=list(params.values())[:100] if params else None
                )
            )
    return docs[:200]
