"""Reading one registration (an AppRecord as JSON) with errors a person can act on.

A UTF-8 byte-order mark is ignored; an HTML page or YAML saved under a ``.json`` name is
named as such; every invalid field is listed with what it expects.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from nexus_agent.wire.errors import InvalidInput
from nexus_agent.wire.models import AppRecord

__all__ = ["load_app_record"]


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
