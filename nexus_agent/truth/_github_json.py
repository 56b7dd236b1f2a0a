"""GitHub JSON to truth models, PyGithub authentication, and a log filter that keeps tokens out of logs."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import github

from nexus_agent.truth.auth import GitHubAppAuth, GitHubTokenAuth
from nexus_agent.truth.models import Commit, Issue, IssueComment


def raw(obj: Any) -> dict[str, Any]:
    # The JSON GitHub sent. `raw_data` would fetch the object again to "complete" it; the stored dict is enough.
    return dict(obj._rawData)


def when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def commit_from(data: Mapping[str, Any], sha: str | None = None, url: str | None = None) -> Commit:
    """A Commit from GitHub's git-commit JSON (contents and git data APIs, or a commits item's 'commit')."""
    author = data.get("author") or {}
    committer = data.get("committer") or author
    return Commit(
        sha=sha or data["sha"],
        message=str(data.get("message") or "").strip(),
        author_name=author.get("name") or "",
        author_email=author.get("email") or "",
        committed_at=when(committer.get("date")),
        url=url or data.get("html_url"),
    )


def issue_from(data: Mapping[str, Any]) -> Issue:
    return Issue(
        number=data["number"],
        title=data.get("title") or "",
        body=data.get("body") or "",
        state="closed" if data.get("state") == "closed" else "open",
        labels=[label["name"] if isinstance(label, dict) else str(label) for label in data.get("labels") or []],
        author=(data.get("user") or {}).get("login") or "",
        comments=int(data.get("comments") or 0),
        created_at=when(data.get("created_at")),
        updated_at=when(data.get("updated_at")),
        closed_at=when(data.get("closed_at")),
        url=data.get("html_url"),
    )


def comment_from(data: Mapping[str, Any]) -> IssueComment:
    return IssueComment(
        id=data["id"],
        body=data.get("body") or "",
        author=(data.get("user") or {}).get("login") or "",
        created_at=when(data.get("created_at")),
        url=data.get("html_url"),
    )


def pygithub_auth(auth: GitHubTokenAuth | GitHubAppAuth) -> github.Auth.Auth:
    if isinstance(auth, GitHubTokenAuth):
        return github.Auth.Token(auth.token.get_secret_value())
    key = auth.private_key
    app = github.Auth.AppAuth(auth.app_id, private_key=key.get_secret_value)  # a callable: the key is read when signing
    return app.get_installation_auth(auth.installation_id)


_TOKEN_PATTERNS = [
    re.compile(r'("token"\s*:\s*")[^"]+(")'),
    re.compile(r"\b(gh[pousr]_|github_pat_)[A-Za-z0-9_]+()"),
]


class RedactTokens(logging.Filter):
    """PyGithub's DEBUG log prints response bodies, including minted installation tokens: blank them."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        for pattern in _TOKEN_PATTERNS:
            text = pattern.sub(r"\1***\2", text)
        record.msg, record.args = text, None
        return True


def install_log_redaction() -> None:
    logger = logging.getLogger("github.Requester")
    if not any(isinstance(f, RedactTokens) for f in logger.filters):
        logger.addFilter(RedactTokens())
