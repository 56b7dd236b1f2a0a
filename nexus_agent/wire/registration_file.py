"""One registration file (an AppRecord as JSON): how it is written, and read back with errors a person can act on.

Written by :func:`render_app` (pretty JSON, sorted keys, no timestamps, so the same record
renders the same bytes), the layout of ``registry/apps/<slug>.json`` in Nexus's truth
repository and of the ``registrations/<slug>.json`` a satellite submits. Read by
:func:`load_app_record`: a UTF-8 byte-order mark is ignored; an HTML page or YAML saved under
a ``.json`` name is named as such; every invalid field is listed with what it expects.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from nexus_agent.wire.errors import InvalidInput
from nexus_agent.wire.models import AppRecord

__all__ = ["APP_FILE_EXCLUDE", "app_document", "load_app_record", "render_app"]


def _looks_like(text: str) -> str:
    head = text.lstrip()[:200].lower()
    if head.startswith(("<!doctype html", "<html")) or "<html" in head:
        title = re.search(r"<title>(.{0,80}?)</title>", text[:2000], re.IGNORECASE | re.DOTALL)
        return "an HTML page" + (f" (title {title.group(1).strip()!r})" if title else "")
    if head.startswith("<?xml") or head.startswith("<"):
        return "XML or HTML markup"
    if re.match(r"^[\w.-]+\s*:", head) or head.startswith("---"):
        return "YAML or a key: value file"
    return ""


def load_app_record(data: Mapping[str, Any] | str | bytes, source: str) -> AppRecord:
    """Parse one registration (a dict or JSON text) into an :class:`AppRecord`.

    A UTF-8 byte-order mark is ignored. Anything that is not a JSON object, and
    every invalid field, becomes an :class:`InvalidInput` naming ``source``.
    """
    if isinstance(data, bytes | bytearray):
        try:
            data = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"registration {source} is not UTF-8 text (undecodable byte at position {exc.start})",
                hint="Save the file as UTF-8 JSON.",
            ) from exc
    if isinstance(data, str):
        text = data.removeprefix("\ufeff")
        if not text.strip():
            raise InvalidInput(
                f"registration {source} is empty", hint="Give a JSON object with at least slug and name."
            )
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            kind = _looks_like(text)
            what = f"it looks like {kind}" if kind else f"{exc.msg} at line {exc.lineno} column {exc.colno}"
            raise InvalidInput(
                f"registration {source} is not JSON: {what}",
                hint="Point at the app's JSON registration file, or fix the JSON syntax.",
            ) from exc
    if not isinstance(data, Mapping):
        raise InvalidInput(
            f"registration {source} must be a JSON object, got {_JSON_NAMES.get(type(data), 'null')}",
            hint='Wrap the fields in one object: {"slug": "quote-engine", "name": "Quote Engine", ...}.',
        )
    try:
        return AppRecord.model_validate(dict(data))
    except ValidationError as exc:
        raise InvalidInput.from_validation(exc, f"registration {source}") from exc


_JSON_NAMES = {list: "a list", str: "a string", bool: "true/false", int: "a number", float: "a number"}


#: Fields left out of registry files: they change on every save and git already records when.
APP_FILE_EXCLUDE = frozenset({"created_at", "updated_at"})


def app_document(record: AppRecord) -> dict[str, Any]:
    """The JSON object written for ``record`` (no timestamps)."""
    return record.model_dump(mode="json", exclude=set(APP_FILE_EXCLUDE))


def render_app(record: AppRecord) -> bytes:
    """A registry file: pretty-printed, sorted keys, trailing newline, so re-rendering is byte-stable."""
    return (json.dumps(app_document(record), indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
