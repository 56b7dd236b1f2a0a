"""What a truth source hands back: commits, files, issues and their comments (no I/O here)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Commit", "Issue", "IssueComment", "IssueState", "TruthFile"]

IssueState = Literal["open", "closed"]


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
