"""Finding the folders of a portfolio that hold the same app, on evidence only (pure: no I/O).

Two folders are one app when one of these holds, and the report names which:

- **same normalised folder name**: ``site-survey`` and ``sitesurvey``;
- **same registration name or slug**: a registration file in each names the app
  ``Yard Tracker`` / ``yard-tracker`` (a ``package.json`` name never counts: two
  unrelated Next.js apps are both called ``"app"``);
- **same endpoint URL**: both register the same webhook, handler, health or MCP URL;
- **same hosts**: every URL of each folder lives on the same (non-local) host names.

Folder names that are merely alike (``quote-engine-v2`` / ``quote-engine-v3``) are not
evidence: they are a note asking the owner to check.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

from nexus_agent.portfolio._shapes import Draft, norm_key

__all__ = ["Mergeable", "merge_duplicates", "same_app"]

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "0.0.0.0", "::1", ""}


class Mergeable(Protocol):
    folder: str
    slug: str
    drafts: list[Draft]
    notes: list[str]


M = TypeVar("M", bound=Mergeable)


def _identity(plan: Mergeable) -> dict[str, str]:
    """normalised name -> what it is (for the report)."""
    found: dict[str, str] = {}
    for d in plan.drafts:
        if not d.registration:
            continue
        for name in [*d.slug_hints, *(n for _, n in d.names)]:
            key = norm_key(name)
            if len(key) >= 3:
                found.setdefault(key, f"registration name '{name}' ({d.file})")
    return found


def _urls(plan: Mergeable) -> set[str]:
    return {u.rstrip("/").lower() for d in plan.drafts if d.registration for u in d.endpoints.values()}


def _hosts(plan: Mergeable) -> set[str]:
    return {(urlsplit(u).hostname or "").lower() for u in _urls(plan)}


def same_app(a: Mergeable, b: Mergeable) -> str | None:
    """The evidence that ``a`` and ``b`` hold the same app, or None."""
    if len(norm_key(a.folder)) >= 3 and norm_key(a.folder) == norm_key(b.folder):
        return f"same normalised folder name '{norm_key(a.folder)}' (apps/{a.folder}, apps/{b.folder})"
    ours, theirs = _identity(a), _identity(b)
    if shared := sorted(set(ours) & set(theirs)):
        return f"same {ours[shared[0]]} and {theirs[shared[0]]}"
    if shared_urls := sorted(_urls(a) & _urls(b)):
        return f"same endpoint {shared_urls[0]}"
    hosts = _hosts(a)
    if hosts and not hosts & _LOCAL_HOSTS and hosts == _hosts(b):
        return f"same hosts {', '.join(sorted(hosts))}"
    return None


def _note_similar(apps: list[M], find: Callable[[str], str]) -> None:
    for i, a in enumerate(apps):
        for b in apps[i + 1 :]:
            x, y = norm_key(a.folder), norm_key(b.folder)
            alike = min(len(x), len(y)) >= 6 and difflib.SequenceMatcher(None, x, y).ratio() >= 0.85
            if alike and find(a.folder) != find(b.folder):
                a.notes.append(
                    f"apps/{b.folder} has a similar folder name but nothing else in common: not merged; "
                    "check whether they are the same app"
                )


def merge_duplicates(apps: list[M], weight: Callable[[M], tuple[int, ...]]) -> list[tuple[M, M, str]]:
    """Group ``apps`` by evidence; return (merged, primary, evidence) for every folder merged into another."""
    group = {p.folder: p.folder for p in apps}

    def find(x: str) -> str:
        while group[x] != x:
            x = group[x]
        return x

    reasons: dict[str, str] = {}
    for i, a in enumerate(apps):
        for b in apps[i + 1 :]:
            if find(a.folder) != find(b.folder) and (why := same_app(a, b)):
                group[find(b.folder)] = find(a.folder)
                reasons.setdefault(a.folder, why)
                reasons.setdefault(b.folder, why)
    _note_similar(apps, find)
    by_root: dict[str, list[M]] = {}
    for p in apps:
        by_root.setdefault(find(p.folder), []).append(p)
    merged: list[tuple[M, M, str]] = []
    for members in by_root.values():
        if len(members) > 1:
            primary = max(members, key=lambda p: (weight(p), [-ord(c) for c in p.folder]))
            merged += [(other, primary, reasons[other.folder]) for other in members if other is not primary]
    return merged
