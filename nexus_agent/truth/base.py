"""The truth source interface and the rules every implementation shares.

A truth source is a git repository (local, or on GitHub) holding the owner's
source of truth: the app registry as JSON files, instructions, reports, backups
and analysis (see :class:`~nexus_agent.truth.layout.TruthLayout`), plus issues
with labels and comments. Every change is one commit on one branch.

Paths are repository-relative, ``/``-separated and checked by :func:`check_path`
before anything touches the store. ``expected_sha`` is the git *blob* sha of a
file (:attr:`TruthFile.sha`, identical on local git and GitHub); pass
:data:`NULL_SHA` to say "this file must not exist yet".
"""

from __future__ import annotations

import builtins
import hashlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from nexus_agent.wire.errors import InvalidInput
from nexus_agent.wire.secret_guard import KnownSecrets, ensure_no_secrets
from nexus_agent.wire.truth import (
    RESERVED_PREFIX,
    Commit,
    Issue,
    IssueComment,
    IssueState,
    TruthFile,
    TruthRepository,
    check_path,
)

__all__ = [
    "NULL_SHA",
    "RESERVED_PREFIX",
    "TruthSource",
    "blob_sha",
    "check_content",
    "check_labels",
    "check_message",
    "check_path",
    "check_prefix",
]

#: ``expected_sha`` meaning "the file must not exist yet" (git's null object id).
NULL_SHA = "0" * 40


def blob_sha(content: bytes) -> str:
    """The git blob id of ``content`` (what ``git hash-object`` prints)."""
    return hashlib.sha1(b"blob %d\x00" % len(content) + content, usedforsecurity=False).hexdigest()


def check_prefix(prefix: str) -> str:
    """A folder to list: '' (everything) or a path; a trailing '/' is allowed. Returned without it."""
    if prefix in ("", "/"):
        return ""
    return check_path(prefix.removesuffix("/"), what="prefix", allow_reserved=True)


def check_message(message: str, known: KnownSecrets | None = None) -> str:
    text = (message or "").strip()
    if not text:
        raise InvalidInput("the commit message is empty", hint="Say what the change is, e.g. 'Register quote-engine'.")
    if len(text) > 10_000:
        raise InvalidInput("the commit message is longer than 10000 characters", hint="Keep it short.")
    ensure_no_secrets(text, "commit message", "commit", known=known)
    return text


def check_content(content: object, path: str, known: KnownSecrets | None = None) -> bytes:
    if not isinstance(content, bytes | bytearray | memoryview):
        raise InvalidInput(
            f"the content for {path!r} must be bytes, not {type(content).__name__}",
            hint="Encode text first, e.g. text.encode('utf-8').",
        )
    ensure_no_secrets(bytes(content), path, "commit", known=known)
    return bytes(content)


def check_labels(labels: Iterable[str]) -> list[str]:
    """Strip, drop duplicates (keeping order) and refuse blank or over-long labels."""
    out: list[str] = []
    for label in labels:
        name = label.strip() if isinstance(label, str) else ""
        if not name or len(name) > 50 or "," in name:
            raise InvalidInput(
                f"{label!r} is not a valid label", hint="Labels are 1..50 characters without commas, e.g. 'approved'."
            )
        if name not in out:
            out.append(name)
    return out


@runtime_checkable
class TruthSource(Protocol):
    """Where the owner's source of truth lives. Every method is async; writes are commits.

    Implementations: :class:`~nexus_agent.truth.local_git.LocalGitTruthSource` (the embedded
    default) and :class:`~nexus_agent.truth.github.GitHubTruthSource`. Both pass
    ``tests/truth/test_contract.py``.
    """

    #: A short human description, e.g. "local git at /home/o/.nexus/truth" (never a secret).
    description: str

    # -- files -------------------------------------------------------------------
    async def read(self, path: str) -> bytes:
        """The committed content of ``path``; :class:`NotFound` if there is no such file."""
        ...

    async def get(self, path: str) -> TruthFile | None:
        """The committed file with its blob sha, or None if there is no such file."""
        ...

    async def list(self, prefix: str = "") -> builtins.list[str]:
        """Every file path under the folder ``prefix`` ('' for all), recursively, sorted."""
        ...

    async def write(self, path: str, content: bytes, message: str, *, expected_sha: str | None = None) -> Commit | None:
        """Commit ``content`` at ``path``. Returns the commit, or None if the file already had that content.

        ``expected_sha`` (optional) is the blob sha the file must still have (:data:`NULL_SHA`: must
        not exist); otherwise :class:`Conflict` and nothing is written.
        """
        ...

    async def write_many(self, files: Mapping[str, bytes | None], message: str) -> Commit | None:
        """Commit all changes at once (``None`` deletes a file; a missing one is ignored).

        One commit, or None if nothing changed.
        """
        ...

    async def delete(self, path: str, message: str, *, expected_sha: str | None = None) -> Commit:
        """Commit the removal of ``path``; :class:`NotFound` if it does not exist."""
        ...

    async def history(self, path: str | None = None, limit: int = 20) -> builtins.list[Commit]:
        """The newest ``limit`` commits that changed ``path`` (or the branch, when None), newest first."""
        ...

    # -- issues ------------------------------------------------------------------
    async def create_issue(self, title: str, body: str = "", labels: Iterable[str] = ()) -> Issue: ...

    async def get_issue(self, number: int) -> Issue:
        """:class:`NotFound` if there is no issue ``number``."""
        ...

    async def list_issues(self, labels: Iterable[str] = (), state: IssueState | str = "open") -> builtins.list[Issue]:
        """Issues carrying every label in ``labels``; ``state``: 'open', 'closed' or 'all'. Newest first."""
        ...

    async def comment(self, number: int, body: str) -> IssueComment: ...

    async def list_comments(self, number: int) -> builtins.list[IssueComment]:
        """Oldest first."""
        ...

    async def set_labels(self, number: int, labels: Iterable[str]) -> Issue:
        """Replace the issue's labels."""
        ...

    async def add_labels(self, number: int, labels: Iterable[str]) -> Issue: ...

    async def remove_label(self, number: int, label: str) -> Issue:
        """Remove one label; a label the issue does not carry is ignored."""
        ...

    async def close_issue(self, number: int) -> Issue: ...

    async def aclose(self) -> None:
        """Release connections (a no-op for local git)."""
        ...


if TYPE_CHECKING:  # the type checker proves every truth source is a repository the satellite kit accepts

    def _is_a_truth_repository(source: TruthSource) -> TruthRepository:
        return source
