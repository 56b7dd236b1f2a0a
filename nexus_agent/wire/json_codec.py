"""JSON for the per-call hot paths: the same text ``json.dumps`` writes and the same values ``json.loads`` reads,
without the Python that wraps their C cores.

``json.dumps`` runs three Python functions (``dumps``, ``encode``, ``iterencode``: some 85 bytecodes, a closure
made each time) around the C encoder, and ``json.loads`` three (``loads``, ``decode``, ``raw_decode``) around the
C scanner. A relayed call writes and reads JSON five times; :func:`encoder` makes the C encoder once, and
:func:`loads` calls the C scanner directly, handing anything it does not take at once (leading whitespace,
invalid JSON) to ``json.loads``, which reads it or says what is wrong exactly as before.

The encoders skip ``json.dumps``'s circular-reference check: they are for values read from JSON (which cannot
hold themselves) and dicts built around them. Where the C encoder is missing (not CPython), the plain encoder's
``encode`` is used: same text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json import encoder as _encoder
from typing import Any

__all__ = ["encoder", "loads"]

_JSON_SPACE = " \t\n\r"
_scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # the C scanner json.loads uses


def encoder(
    *,
    separators: tuple[str, str] = (", ", ": "),
    ensure_ascii: bool = True,
    default: Callable[[Any], Any] | None = None,
) -> Callable[[Any], str]:
    """``lambda value: json.dumps(value, separators=..., ensure_ascii=..., default=...)``, made once."""
    plain = json.JSONEncoder(separators=separators, ensure_ascii=ensure_ascii, default=default, check_circular=False)
    make = getattr(_encoder, "c_make_encoder", None)  # the C encoder's maker (json.encoder's own name for it)
    if make is None:  # pragma: no cover - CPython always has the C encoder
        return plain.encode
    quote = _encoder.encode_basestring_ascii if ensure_ascii else _encoder.encode_basestring
    encode = make(None, plain.default, quote, None, plain.key_separator, plain.item_separator, False, False, True)

    def dumps(value: Any) -> str:
        return "".join(encode(value, 0))

    return dumps


def loads(text: str) -> Any:
    """``json.loads(text)`` for a ``str``: the same value, or the same ``JSONDecodeError``."""
    try:
        value, end = _scan(text, 0)
    except StopIteration:  # leading whitespace, or not JSON: json.loads reads it or names the fault
        return json.loads(text)
    if end != len(text) and text[end:].strip(_JSON_SPACE):
        return json.loads(text)  # extra data after the value: json.loads raises, naming where
    return value
