"""Reading one app folder of a legacy portfolio: every file parsed, scanned, or failed with a reason."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from nexus_agent.wire.secret_guard import SecretFinding, redact_data, scan

__all__ = ["MAX_FILE_BYTES", "SKIPPED_DIRS", "PortfolioFile", "read_folder"]

MAX_FILE_BYTES = 2 * 1024 * 1024
#: Folders that hold tooling or build output, never a registration.
SKIPPED_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", ".next", ".venv", "venv", "__pycache__", "dist"})
_TEXT_SUFFIXES = frozenset({".md", ".markdown", ".txt"})


@dataclass
class PortfolioFile:
    """One file of an app folder. ``data`` is the JSON with secret fields dropped and inline secrets redacted."""

    rel: str  # relative to the portfolio root: apps/<folder>/...
    kind: Literal["json", "markdown", "source", "skipped"]
    data: Any = None
    text: str = ""
    failure: str | None = None
    secrets: list[SecretFinding] = field(default_factory=list)
    note: str | None = None

    @property
    def name(self) -> str:
        return self.rel.rsplit("/", 1)[-1]


def _describe_non_json(text: str, exc: json.JSONDecodeError) -> str:
    head = text.lstrip()[:200].lower()
    if head.startswith(("<!doctype html", "<html")) or "<html" in head:
        title = re.search(r"<title>(.{0,80}?)</title>", text[:2000], re.IGNORECASE | re.DOTALL)
        return "not JSON: it is an HTML page" + (f" (title {title.group(1).strip()!r})" if title else "")
    if head.startswith("<"):
        return "not JSON: it is XML or HTML markup"
    return f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"


def _scan_lines(text: str, rel: str) -> list[SecretFinding]:
    found: list[SecretFinding] = []
    for number, line in enumerate(text.splitlines(), start=1):
        found += scan(line, location=f"{rel}:{number}")
    return found


def _read_one(path: Path, rel: str) -> PortfolioFile:
    if path.is_symlink():
        return PortfolioFile(rel, "skipped", note="a symbolic link; not followed")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            failure = f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MB ({size} bytes); not read"
            return PortfolioFile(rel, "skipped", failure=failure if path.suffix == ".json" else None, note=failure)
        raw = path.read_bytes()
    except OSError as exc:
        return PortfolioFile(rel, "skipped", failure=f"cannot be read: {exc.strerror or exc}")
    if b"\0" in raw[:8192]:
        return PortfolioFile(rel, "skipped", note="binary file")
    text = raw.decode("utf-8-sig", errors="replace")
    if path.suffix.lower() != ".json":
        kind: Literal["markdown", "source"] = "markdown" if path.suffix.lower() in _TEXT_SUFFIXES else "source"
        return PortfolioFile(rel, kind, text=text, secrets=_scan_lines(text, rel))
    try:
        strict = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        failure = f"not UTF-8 text (undecodable byte at position {exc.start})"
        return PortfolioFile(rel, "json", failure=failure, secrets=_scan_lines(text, rel))
    if not strict.strip():
        return PortfolioFile(rel, "json", failure="empty file")
    try:
        data = json.loads(strict)
    except json.JSONDecodeError as exc:
        return PortfolioFile(rel, "json", failure=_describe_non_json(strict, exc), secrets=_scan_lines(strict, rel))
    secrets = scan(data, location=f"{rel}:$")
    cleaned = redact_data(data, drop_fields=True)
    if not isinstance(data, dict):
        kind_name = "a list" if isinstance(data, list) else "a single value"
        return PortfolioFile(rel, "json", failure=f"a JSON object was expected, found {kind_name}", secrets=secrets)
    note = "started with a UTF-8 byte-order mark (ignored)" if raw.startswith(b"\xef\xbb\xbf") else None
    return PortfolioFile(rel, "json", data=cleaned, secrets=secrets, note=note)


def read_folder(folder: Path, root: Path) -> list[PortfolioFile]:
    """Every file under ``folder`` (sorted, skipping :data:`SKIPPED_DIRS`), read and scanned for secrets."""
    paths: list[Path] = []
    for here, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        paths += [Path(here, n) for n in names]
    return [_read_one(p, p.relative_to(root).as_posix()) for p in sorted(paths)]
