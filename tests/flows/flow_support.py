"""Helpers shared by the flow tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from nexus_agent.truth import TruthSource

RawCommit = Callable[[dict[str, bytes], str], Awaitable[None]]

BASE_URL = "http://quote-engine.example.test:8800"


@dataclass
class World:
    """One truth repository: Nexus's client, the satellite's client, and a way to commit past the secret guard."""

    kind: str
    nexus: TruthSource
    satellite: TruthSource
    raw_commit: RawCommit


def database_bytes(db_path: Path) -> bytes:
    """Everything SQLite holds on disk for the database, WAL included."""
    return b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*") if p.is_file())


async def everything_nexus_published(truth: TruthSource) -> str:
    """Every issue body and comment, and every file outside what satellites write, as one text."""
    parts = []
    for issue in await truth.list_issues(state="all"):
        parts.append(issue.title + "\n" + issue.body)
        parts += [c.body for c in await truth.list_comments(issue.number)]
    for path in await truth.list():
        if not path.startswith(("registrations/", "backups/", "reports/", ".nexus/")):
            parts.append((await truth.read(path)).decode("utf-8", "replace"))
    return "\n".join(parts)
