"""Issues of a local truth source: JSON files under ``.nexus/issues/``, every change one commit.

``.nexus/issues/<number>.json`` holds ``{"issue": {...}, "comments": [...]}`` (the
:class:`Issue` and :class:`IssueComment` models as JSON); ``.nexus/counters.json``
holds the last issue number and comment id handed out. The host class supplies
the lock, file reads and the commit.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from nexus_agent.truth.base import check_labels
from nexus_agent.truth.models import Commit, Issue, IssueComment
from nexus_agent.wire.errors import InvalidInput, NotFound, StorageError
from nexus_agent.wire.secret_guard import KnownSecrets, ensure_no_secrets

ISSUES_DIR = ".nexus/issues"
COUNTERS = ".nexus/counters.json"


def _dump(data: Any) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def check_state(state: str) -> str:
    if state not in {"open", "closed", "all"}:
        raise InvalidInput(f"{state!r} is not an issue state", hint="Use 'open', 'closed' or 'all'.")
    return state


def check_title(title: str, known: KnownSecrets | None = None) -> str:
    text = (title or "").strip()
    if not text or len(text) > 256:
        raise InvalidInput("an issue title must be 1..256 characters", hint="Say what the issue is about.")
    ensure_no_secrets(text, "issue title", "publish", known=known)
    return text


def check_body(body: str, what: str = "body", known: KnownSecrets | None = None) -> str:
    if not isinstance(body, str) or len(body) > 65_536:
        raise InvalidInput(f"the issue {what} must be text of at most 65536 characters", hint="Shorten it.")
    if what == "comment" and not body.strip():
        raise InvalidInput("the comment is empty", hint="Say something.")
    ensure_no_secrets(body, f"issue {what}", "publish", known=known)
    return body


def issue_numbers(paths: Iterable[str]) -> list[int]:
    """Issue numbers from ``.nexus/issues/<n>.json`` paths (other files there are ignored)."""
    names = (p.rsplit("/", 1)[-1].removesuffix(".json") for p in paths if p.endswith(".json"))
    return [int(n) for n in names if n.isdigit()]


class LocalIssueStore:
    """Mixin: the issue half of :class:`~nexus_agent.truth.local_git.LocalGitTruthSource`."""

    author_name: str
    known_secrets: KnownSecrets | None
    _clock: Callable[[], datetime]

    def _locked(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _read_sync(self, path: str) -> bytes | None:
        raise NotImplementedError

    def _list_sync(self, prefix: str) -> builtins.list[str]:
        raise NotImplementedError

    def _commit_sync(self, changes: Mapping[str, bytes | None], message: str) -> Commit | None:
        raise NotImplementedError

    # -- storage -------------------------------------------------------------------
    def _load_issue(self, number: int) -> tuple[Issue, builtins.list[IssueComment]]:
        if not isinstance(number, int) or number < 1:
            raise InvalidInput(f"{number!r} is not an issue number", hint="Issue numbers start at 1.")
        raw = self._read_sync(f"{ISSUES_DIR}/{number}.json")
        if raw is None:
            raise NotFound(f"issue #{number} does not exist", hint="List the issues to find its number.")
        try:
            data = json.loads(raw)
            comments = [IssueComment.model_validate(c) for c in data.get("comments", [])]
            issue = Issue.model_validate({**data["issue"], "comments": len(comments)})
        except (ValueError, KeyError, TypeError) as exc:
            raise StorageError(
                f"the stored issue #{number} is unreadable ({type(exc).__name__})",
                hint=f"Fix or restore {ISSUES_DIR}/{number}.json with git.",
            ) from exc
        return issue, comments

    def _issue_file(self, issue: Issue, comments: builtins.list[IssueComment]) -> bytes:
        return _dump(
            {
                "issue": issue.model_dump(mode="json", exclude={"comments"}),
                "comments": [c.model_dump(mode="json") for c in comments],
            }
        )

    def _counters(self) -> dict[str, int]:
        raw = self._read_sync(COUNTERS)
        counters = {"issue": 0, "comment": 0}
        if raw is not None:
            counters.update({k: int(v) for k, v in json.loads(raw).items() if k in counters})
        return counters

    def _save(
        self,
        issue: Issue,
        comments: builtins.list[IssueComment],
        message: str,
        counters: dict[str, int] | None = None,
    ) -> Issue:
        issue = issue.model_copy(update={"comments": len(comments)})
        changes: dict[str, bytes | None] = {f"{ISSUES_DIR}/{issue.number}.json": self._issue_file(issue, comments)}
        if counters is not None:
            changes[COUNTERS] = _dump(counters)
        self._commit_sync(changes, message)
        return issue

    def _relabel(self, number: int, compute: Callable[[builtins.list[str]], builtins.list[str]]) -> Issue:
        with self._locked():
            issue, comments = self._load_issue(number)
            labels = compute(issue.labels)
            if labels == issue.labels:
                return issue
            added = [x for x in labels if x not in issue.labels]
            removed = [x for x in issue.labels if x not in labels]
            what = " ".join([*(f"+{x}" for x in added), *(f"-{x}" for x in removed)])
            updated = issue.model_copy(update={"labels": labels, "updated_at": self._clock()})
            return self._save(updated, comments, f"Label issue #{number}: {what}")

    # -- sync bodies (run in a worker thread) -----------------------------------------------
    def create_issue_sync(self, title: str, body: str, labels: Iterable[str]) -> Issue:
        title, body = check_title(title, self.known_secrets), check_body(body, known=self.known_secrets)
        names = check_labels(labels)
        with self._locked():
            counters = self._counters()
            existing = issue_numbers(self._list_sync(ISSUES_DIR))
            counters["issue"] = max([counters["issue"], *existing]) + 1
            now = self._clock()
            issue = Issue(
                number=counters["issue"],
                title=title,
                body=body,
                labels=names,
                author=self.author_name,
                created_at=now,
                updated_at=now,
            )
            return self._save(issue, [], f"Open issue #{issue.number}: {title}", counters)

    def get_issue_sync(self, number: int) -> Issue:
        return self._load_issue(number)[0]

    def list_issues_sync(self, labels: Iterable[str], state: str) -> builtins.list[Issue]:
        wanted, state = check_labels(labels), check_state(state)
        numbers = sorted(issue_numbers(self._list_sync(ISSUES_DIR)), reverse=True)
        issues = [self._load_issue(n)[0] for n in numbers]
        return [i for i in issues if (state == "all" or i.state == state) and i.has_labels(*wanted)]

    def comment_sync(self, number: int, body: str) -> IssueComment:
        body = check_body(body, "comment", self.known_secrets)
        with self._locked():
            issue, comments = self._load_issue(number)
            counters = self._counters()
            counters["comment"] += 1
            now = self._clock()
            new = IssueComment(id=counters["comment"], body=body, author=self.author_name, created_at=now)
            self._save(
                issue.model_copy(update={"updated_at": now}), [*comments, new], f"Comment on issue #{number}", counters
            )
            return new

    def list_comments_sync(self, number: int) -> builtins.list[IssueComment]:
        return self._load_issue(number)[1]

    def set_labels_sync(self, number: int, labels: Iterable[str]) -> Issue:
        names = check_labels(labels)
        return self._relabel(number, lambda _old: names)

    def add_labels_sync(self, number: int, labels: Iterable[str]) -> Issue:
        names = check_labels(labels)
        return self._relabel(number, lambda old: [*old, *(x for x in names if x not in old)])

    def remove_label_sync(self, number: int, label: str) -> Issue:
        (name,) = check_labels([label])
        return self._relabel(number, lambda old: [x for x in old if x != name])

    def close_issue_sync(self, number: int) -> Issue:
        with self._locked():
            issue, comments = self._load_issue(number)
            if issue.state == "closed":
                return issue
            now = self._clock()
            closed = issue.model_copy(update={"state": "closed", "closed_at": now, "updated_at": now})
            return self._save(closed, comments, f"Close issue #{number}: {issue.title}")
