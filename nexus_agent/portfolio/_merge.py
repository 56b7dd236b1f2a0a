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
from dataclasses import dataclass
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

from nexus_agent.portfolio._shapes import Draft, norm_key

__all__ = ["Mergeable", "merge_duplicates"]

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "0.0.0.0", "::1", ""}


class Mergeable(Protocol):
    folder: str
    slug: str
    drafts: list[Draft]
    notes: list[str]


M = TypeVar("M", bound=Mergeable)


def _identity(plan: Mergeable) -> dict[str, str]:
    """normalised name -> how the report shows it (the name and the registration file saying it)."""
    found: dict[str, str] = {}
    for d in plan.drafts:
        if not d.registration:
            continue
        for name in [*d.slug_hints, *(n for _, n in d.names)]:
            key = norm_key(name)
            if len(key) >= 3:
                found.setdefault(key, f"'{name}' ({d.file})")
    return found


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:  # not a URL (e.g. one whose credentials were redacted): no host to compare
        return ""


@dataclass(frozen=True)
class _Signature:
    """What one folder offers as evidence, computed once."""

    folder: str
    names: dict[str, str]
    urls: frozenset[str]
    hosts: frozenset[str]

    @classmethod
    def of(cls, plan: Mergeable) -> _Signature:
        urls = frozenset(u.rstrip("/").lower() for d in plan.drafts if d.registration for u in d.endpoints.values())
        hosts = frozenset(_host(u) for u in urls)
        return cls(norm_key(plan.folder), _identity(plan), urls, hosts)

    def evidence_keys(self) -> list[tuple[str, str]]:
        keys = [("folder", self.folder)] if len(self.folder) >= 3 else []
        keys += [("name", k) for k in self.names] + [("url", u) for u in self.urls]
        if self.hosts and not self.hosts & _LOCAL_HOSTS:
            keys.append(("hosts", ",".join(sorted(self.hosts))))
        return keys


def _evidence(a: Mergeable, b: Mergeable, x: _Signature, y: _Signature) -> str | None:
    """The evidence that ``a`` and ``b`` hold the same app, or None."""
    if len(x.folder) >= 3 and x.folder == y.folder:
        return f"same normalised folder name '{x.folder}' (apps/{a.folder}, apps/{b.folder})"
    if shared := sorted(set(x.names) & set(y.names)):
        return f"same registration name: {x.names[shared[0]]} and {y.names[shared[0]]}"
    if shared_urls := sorted(x.urls & y.urls):
        return f"same endpoint {shared_urls[0]}"
    if x.hosts and not x.hosts & _LOCAL_HOSTS and x.hosts == y.hosts:
        return f"same hosts {', '.join(sorted(x.hosts))}"
    return None


def _note_similar(apps: list[M], same_group: Callable[[int, int], bool]) -> None:
    keys = [norm_key(p.folder) for p in apps]
    matcher = difflib.SequenceMatcher(None)
    for j in range(len(apps)):
        if len(keys[j]) < 6:
            continue
        matcher.set_seq2(keys[j])  # the matcher caches what it learns about seq2
        for i in range(j):
            if len(keys[i]) < 6 or same_group(i, j):
                continue
            matcher.set_seq1(keys[i])
            if matcher.real_quick_ratio() >= 0.85 and matcher.quick_ratio() >= 0.85 and matcher.ratio() >= 0.85:
                apps[i].notes.append(
                    f"apps/{apps[j].folder} has a similar folder name but nothing else in common: not merged; "
                    "check whether they are the same app"
                )


def _candidates(signatures: list[_Signature]) -> list[tuple[int, int]]:
    """Pairs of folders sharing at least one piece of evidence (an index, not every pair)."""
    buckets: dict[tuple[str, str], list[int]] = {}
    for index, signature in enumerate(signatures):
        for key in signature.evidence_keys():
            buckets.setdefault(key, []).append(index)
    pairs = {(m[i], m[j]) for m in buckets.values() for i in range(len(m)) for j in range(i + 1, len(m))}
    return sorted(pairs)


def merge_duplicates(apps: list[M], weight: Callable[[M], tuple[int, ...]]) -> list[tuple[M, M, str]]:
    """Group ``apps`` by evidence; return (merged, primary, evidence) for every folder merged into another."""
    group = list(range(len(apps)))

    def find(x: int) -> int:
        while group[x] != x:
            x = group[x]
        return x

    signatures = [_Signature.of(p) for p in apps]
    reasons: dict[int, str] = {}
    for i, j in _candidates(signatures):
        if find(i) != find(j) and (why := _evidence(apps[i], apps[j], signatures[i], signatures[j])):
            group[find(j)] = find(i)
            reasons.setdefault(i, why)
            reasons.setdefault(j, why)
    _note_similar(apps, lambda i, j: find(i) == find(j))
    by_root: dict[int, list[int]] = {}
    for index in range(len(apps)):
        by_root.setdefault(find(index), []).append(index)
    merged: list[tuple[M, M, str]] = []
    for members in by_root.values():
        if len(members) > 1:
            primary = max(members, key=lambda k: (weight(apps[k]), [-ord(c) for c in apps[k].folder]))
            merged += [(apps[k], apps[primary], reasons[k]) for k in members if k != primary]
    return merged
