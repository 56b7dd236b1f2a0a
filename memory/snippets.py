"""Short excerpts of a hit around the first searched word, words in ``**bold**``.

Computed in Python from the stored text rather than with FTS5 ``snippet()``,
which would re-run the full-text query once per hit. Words match by a crude
stem (``quotes`` finds ``quoted``); this only affects highlighting, never which
items are found. No per-query regex is compiled: that alone would cost more
than a selective full-text query.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

__all__ = ["make_snippet"]

_SUFFIXES = ("ations", "ation", "ings", "ing", "ers", "er", "ies", "ied", "es", "ed", "ly", "s", "e")


@functools.lru_cache(maxsize=4096)
def _stem(term: str) -> str:
    for suffix in _SUFFIXES:
        if term.endswith(suffix) and len(term) - len(suffix) >= 3:
            return term[: -len(suffix)]
    return term


def _first_match(text: str, stems: tuple[str, ...]) -> int:
    lower = text.lower()
    if len(lower) != len(text):  # a few characters change length when lower-cased
        lower = text
    best = -1
    for stem in stems:
        at = lower.find(stem)
        while at > 0 and lower[at - 1].isalnum():  # prefer the start of a word
            at = lower.find(stem, at + 1)
        if at >= 0 and (best < 0 or at < best):
            best = at
    return best


def _highlight(window: str, stems: tuple[str, ...]) -> str:
    lower = window.lower()
    if len(lower) != len(window):
        lower = window
    spans: list[tuple[int, int]] = []
    for stem in stems:
        at = lower.find(stem)
        while at >= 0:
            end = at + len(stem)
            if at == 0 or not lower[at - 1].isalnum():
                while end < len(lower) and lower[end].isalnum():
                    end += 1
                spans.append((at, end))
            at = lower.find(stem, end)
    out, done = [], 0
    for at, end in sorted(spans):
        if at >= done:
            out += [window[done:at], "**", window[at:end], "**"]
            done = end
    return "".join([*out, window[done:]])


def make_snippet(text: str, terms: Sequence[str], width: int = 200) -> str:
    """About ``width`` characters of ``text``, starting shortly before the first match."""
    if not text:
        return ""
    stems = tuple({_stem(t) for t in terms if t})
    found = _first_match(text, stems) if stems else -1
    start = max(0, found - width // 4)
    if start:
        space = text.rfind(" ", max(0, start - 20), start)
        start = space + 1 if space >= 0 else start
    end = min(len(text), start + width)
    if end < len(text):
        space = text.find(" ", end, end + 20)
        end = space if space >= 0 else end
    window = " ".join(text[start:end].split())
    return ("…" if start else "") + _highlight(window, stems) + ("…" if end < len(text) else "")
