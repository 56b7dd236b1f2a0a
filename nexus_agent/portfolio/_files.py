"""Reading a portfolio's files: every file of an app folder parsed, scanned, or failed with a reason;
every other file of the tree scanned for secrets. Build output, dependencies and lock files are
neither (:data:`SKIPPED_DIRS`, :func:`is_generated`)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from nexus_agent.portfolio._text_secrets import scan_labelled
from nexus_agent.wire.secret_guard import SecretFinding, redact_data, scan

__all__ = [
    "MAX_FILE_BYTES",
    "SKIPPED_DIRS",
    "PortfolioFile",
    "hidden",
    "is_generated",
    "read_folder",
    "scan_outside_apps",
    "scan_text",
]

MAX_FILE_BYTES = 2 * 1024 * 1024
#: Folders that hold tooling, dependencies or build output: never a registration, never scanned
#: (their hashes and package names would bury the real findings).
SKIPPED_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", "node_modules", "bower_components", "vendor", ".venv", "venv", "__pycache__",
        ".next", ".nuxt", ".svelte-kit", ".turbo", ".vercel", ".build", "build", "dist", "out", ".cache",
        "coverage", ".parcel-cache", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".tox",
    }
)  # fmt: skip
#: Lock files and generated files: hashes and integrity strings, no registration.
_GENERATED_NAMES = frozenset(
    {
        "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb", "bun.lock",
        "poetry.lock", "pipfile.lock", "uv.lock", "cargo.lock", "composer.lock", "gemfile.lock", "go.sum",
        "next-env.d.ts",
    }
)  # fmt: skip
_GENERATED_SUFFIXES = (".tsbuildinfo", ".lock", ".min.js", ".min.css", ".map", ".chunk.js")
#: Maps of package name -> version in a manifest: 'jsonwebtoken' there is a package, not a secret.
_DEPENDENCY_KEYS = frozenset(
    {
        "dependencies", "devDependencies", "peerDependencies", "optionalDependencies", "bundleDependencies",
        "bundledDependencies", "resolutions", "overrides", "require", "require-dev", "packages",
    }
)  # fmt: skip
_MANIFESTS = frozenset({"package.json", "composer.json"})
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


def hidden(findings: list[SecretFinding]) -> list[SecretFinding]:
    """The findings with previews that show only a length: a report never holds any part of a secret."""
    out = []
    for f in findings:
        length = f.preview[f.preview.find("[") :] if "[" in f.preview else "[hidden]"
        out.append(SecretFinding(kind=f.kind, location=f.location, preview=length, severity=f.severity))
    return out


def _scan_lines(text: str, rel: str, *, prose: bool = False) -> list[SecretFinding]:
    found: list[SecretFinding] = []
    for number, line in enumerate(text.splitlines(), start=1):
        found += scan(line, location=f"{rel}:{number}")
    if prose:  # Markdown: credentials written as 'Password: ...' too
        seen = {f.location for f in found}
        found += [f for f in scan_labelled(text, rel) if f.location not in seen]
    return hidden(found)


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
        return PortfolioFile(rel, kind, text=text, secrets=_scan_lines(text, rel, prose=kind == "markdown"))
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
    scanned = data
    if path.name in _MANIFESTS and isinstance(data, dict):
        scanned = {k: v for k, v in data.items() if k not in _DEPENDENCY_KEYS}
    secrets = hidden(scan(scanned, location=f"{rel}:$"))
    cleaned = redact_data(data, drop_fields=True)
    if not isinstance(data, dict):
        kind_name = "a list" if isinstance(data, list) else "a single value"
        return PortfolioFile(rel, "json", failure=f"a JSON object was expected, found {kind_name}", secrets=secrets)
    note = "started with a UTF-8 byte-order mark (ignored)" if raw.startswith(b"\xef\xbb\xbf") else None
    return PortfolioFile(rel, "json", data=cleaned, secrets=secrets, note=note)


def scan_text(text: str, rel: str) -> list[SecretFinding]:
    """Secrets in a Markdown or text document, line by line (``rel:<line>``), previews showing only a length."""
    return _scan_lines(text, rel, prose=True)


def is_generated(name: str) -> bool:
    """A lock file or build artefact (by file name): not read as a registration, not scanned."""
    lower = name.lower()
    return lower in _GENERATED_NAMES or lower.endswith(_GENERATED_SUFFIXES)


def _walk(folder: Path, skip_top: frozenset[str] = frozenset()) -> tuple[list[Path], int]:
    """Files under ``folder`` outside :data:`SKIPPED_DIRS`, and how many generated files were left out."""
    paths: list[Path] = []
    generated = 0
    for here, dirs, names in os.walk(folder, followlinks=False):
        top = Path(here) == folder
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not (top and d in skip_top))
        for name in names:
            if is_generated(name):
                generated += 1
            else:
                paths.append(Path(here, name))
    return sorted(paths), generated


def read_folder(folder: Path, root: Path) -> list[PortfolioFile]:
    """Every file under ``folder`` (sorted; no build output or lock file), read and scanned for secrets."""
    paths, _ = _walk(folder)
    return [_read_one(p, p.relative_to(root).as_posix()) for p in paths]


def scan_outside_apps(root: Path) -> list[SecretFinding]:
    """Secrets in the portfolio's files outside ``apps/`` (a root ``.env``, docs, registration issues)."""
    paths, _ = _walk(root, skip_top=frozenset({"apps"}))
    return [s for p in paths for s in _read_one(p, p.relative_to(root).as_posix()).secrets]
