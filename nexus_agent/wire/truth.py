"""The truth repository as both sides see it: what it hands back, which paths are safe, and
the few operations the satellite kit needs of it (no I/O here).

Nexus's truth sources (:class:`nexus_agent.truth.base.TruthSource`: local git, GitHub) do much
more; they satisfy :class:`TruthRepository` structurally, so the kit can be handed one of them,
or any small client of its own, without importing Nexus's truth package.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from nexus_agent.wire.errors import InvalidInput

__all__ = [
    "RESERVED_PREFIX",
    "Commit",
    "Issue",
    "IssueComment",
    "IssueState",
    "TruthFile",
    "TruthRepository",
    "check_path",
]

IssueState = Literal["open", "closed"]

#: Folder the implementations keep for themselves (the local issue store); ``write`` refuses it.
RESERVED_PREFIX = ".nexus/"

_MAX_PATH = 1024
_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")


def check_path(path: str, *, what: str = "path", allow_reserved: bool = False) -> str:
    """Return ``path`` if it is a safe repository-relative file path, else raise :class:`InvalidInput`."""
    hint = "Use a relative path with '/' between folders, e.g. 'registry/apps/quote-engine.json'."
    if not isinstance(path, str) or not path:
        raise InvalidInput(f"the {what} is empty", hint=hint)
    if len(path) > _MAX_PATH:
        raise InvalidInput(f"the {what} is longer than {_MAX_PATH} characters", hint=hint)
    if _BAD_CHARS.search(path):
        raise InvalidInput(f"the {what} {path!r} contains a backslash or a control character", hint=hint)
    if path.startswith("/"):
        raise InvalidInput(f"the {what} {path!r} is absolute", hint=hint)
    segments = path.split("/")
    if any(s == "" for s in segments):
        raise InvalidInput(f"the {what} {path!r} has an empty segment ('//' or a trailing '/')", hint=hint)
    if any(s in {".", ".."} for s in segments):
        raise InvalidInput(f"the {what} {path!r} contains '.' or '..'", hint=hint)
    if any(s.lower() == ".git" for s in segments):
        raise InvalidInput(f"the {what} {path!r} points into git's own '.git' folder", hint=hint)
    if not allow_reserved and (path + "/").startswith(RESERVED_PREFIX):
        raise InvalidInput(
            f"the {what} {path!r} is inside {RESERVED_PREFIX!r}, which Nexus keeps for its issue store",
            hint="Use issues through create_issue/comment/set_labels, and keep files outside '.nexus/'.",
        )
    return path


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Commit(_Frozen):
    """One commit on the truth source's branch."""

    sha: str = Field(description="The 40-hex git commit id.")
    message: str
    author_name: str = ""
    author_email: str = ""
    committed_at: datetime | None = None
    url: str | None = Field(None, description="Where a person can see it (GitHub html_url); None for local git.")

    @property
    def summary(self) -> str:
        """The first line of the message."""
        return self.message.split("\n", 1)[0]


class TruthFile(_Frozen):
    """A file as committed: its bytes and its git blob sha (the token for ``expected_sha``)."""

    path: str
    content: bytes
    sha: str = Field(description="git blob sha of the content, the same value on local git and GitHub.")

    def text(self) -> str:
        return self.content.decode("utf-8")


class IssueComment(_Frozen):
    id: int
    body: str
    author: str = ""
    created_at: datetime | None = None
    url: str | None = None


class Issue(_Frozen):
    """An issue on the truth source (GitHub issues, or JSON files in a local repository)."""

    number: int
    title: str
    body: str = ""
    state: IssueState = "open"
    labels: list[str] = Field(default_factory=list)
    author: str = ""
    comments: int = Field(0, description="How many comments it has.")
    created_at: datetime | None = None
    updated_at: datetime | None = None
    closed_at: datetime | None = None
    url: str | None = None

    def has_labels(self, *labels: str) -> bool:
        return all(label in self.labels for label in labels)


@runtime_checkable
class TruthRepository(Protocol):
    """What the satellite kit needs of the owner's truth repository: files, commits and issues.

    Every :class:`nexus_agent.truth.base.TruthSource` is one. Paths are checked with
    :func:`check_path`; a write that would carry a secret is refused before it is pushed.
    """

    async def read(self, path: str) -> bytes:
        """The committed content of ``path``; ``NotFound`` if there is no such file."""
        ...

    async def list(self, prefix: str = "") -> builtins.list[str]:
        """Every file path under the folder ``prefix``, recursively, sorted."""
        ...

    async def write_many(self, files: Mapping[str, bytes | None], message: str) -> Commit | None:
        """One commit of all changes (``None`` deletes a file), or None if nothing changed."""
        ...

    async def create_issue(self, title: str, body: str = "", labels: Iterable[str] = ()) -> Issue: ...

    async def list_issues(self, labels: Iterable[str] = (), state: IssueState | str = "open") -> builtins.list[Issue]:
        """Issues carrying every label in ``labels``; ``state``: 'open', 'closed' or 'all'. Newest first."""
        ...

    async def comment(self, number: int, body: str) -> IssueComment: ...

    async def set_labels(self, number: int, labels: Iterable[str]) -> Issue:
        """Replace the issue's labels."""
        ...
