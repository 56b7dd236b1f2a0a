"""One fake repository: branches over a git store, issues, labels, comments and webhooks.

Operations raise :class:`ApiError` with the status and message GitHub answers;
the ``*_json`` functions render GitHub's JSON shapes (the fields PyGithub reads).
"""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nexus_agent.testing.fake_github._git import GitCommit, GitStore

__all__ = ["ApiError", "FakeRepo", "now_iso"]

EMPTY = "Git Repository is empty."
_ids = itertools.count(1000)


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def user_json(login: str, api: str) -> dict[str, Any]:
    kind = "Bot" if login.endswith("[bot]") else "User"
    return {"login": login, "id": abs(hash(login)) % 10**8, "type": kind, "url": f"{api}/users/{login}"}


@dataclass
class FakeRepo:
    owner: str
    name: str
    default_branch: str = "main"
    private: bool = True
    git: GitStore = field(default_factory=GitStore)
    refs: dict[str, str] = field(default_factory=dict)  # "heads/main" -> commit sha
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    hooks: dict[int, dict[str, Any]] = field(default_factory=dict)
    id: int = field(default_factory=lambda: next(_ids))

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    # -- files and commits -----------------------------------------------------------------
    def resolve(self, ref: str | None) -> str | None:
        """A branch name or commit sha -> commit sha; None for an empty repository."""
        ref = ref or self.default_branch
        if not self.refs:
            return None
        if f"heads/{ref}" in self.refs:
            return self.refs[f"heads/{ref}"]
        if ref in self.git.commits:
            return ref
        raise ApiError(404, f"No commit found for the ref {ref}")

    def files(self, ref: str | None = None) -> dict[str, bytes]:
        """Every file on ``ref`` with its content (for test assertions)."""
        snap = self.git.snapshot(self.resolve(ref))
        return {path: self.git.blobs[sha] for path, sha in snap.items()}

    def log(self, ref: str | None = None) -> list[GitCommit]:
        """The first-parent history of ``ref``, newest first (for test assertions)."""
        return self.git.first_parent_log(self.resolve(ref))

    def commit_files(
        self, branch: str | None, changes: dict[str, bytes | None], message: str, author: dict[str, str]
    ) -> GitCommit:
        """One commit on ``branch`` applying ``changes``; creates the branch in an empty repository."""
        branch = branch or self.default_branch
        if self.refs and f"heads/{branch}" not in self.refs:
            raise ApiError(404, f"Branch {branch} not found")
        head = self.refs.get(f"heads/{branch}")
        snap = self.git.snapshot(head)
        for path, content in changes.items():
            if content is None:
                snap.pop(path, None)
            else:
                snap[path] = self.git.put_blob(content)
        commit = self.git.put_commit(self.git.put_tree(snap), [head] if head else [], message, author, author)
        self.refs[f"heads/{branch}"] = commit.sha
        return commit

    def need_commits(self) -> None:
        if not self.refs:
            raise ApiError(409, EMPTY)

    # -- issues ------------------------------------------------------------------------------
    def label(self, name: str) -> dict[str, Any]:
        if name not in self.labels:
            self.labels[name] = {"id": next(_ids), "name": name, "color": "ededed", "description": None}
        return self.labels[name]

    def issue(self, number: int) -> dict[str, Any]:
        if number not in self.issues:
            raise ApiError(404, "Not Found")
        return self.issues[number]


# -- JSON shapes ------------------------------------------------------------------------------
WEB = "https://github.test"


def repo_json(repo: FakeRepo, api: str) -> dict[str, Any]:
    url = f"{api}/repos/{repo.full_name}"
    return {
        "id": repo.id,
        "node_id": f"R_{repo.id}",
        "name": repo.name,
        "full_name": repo.full_name,
        "owner": user_json(repo.owner, api),
        "private": repo.private,
        "default_branch": repo.default_branch,
        "url": url,
        "html_url": f"{WEB}/{repo.full_name}",
        "contents_url": f"{url}/contents/{{+path}}",
        "issues_url": f"{url}/issues{{/number}}",
        "permissions": {"admin": True, "push": True, "pull": True},
    }


def person(login: str) -> dict[str, str]:
    return {"name": login, "email": f"{login}@users.noreply.github.test", "date": now_iso()}


def git_commit_json(repo: FakeRepo, commit: GitCommit, api: str) -> dict[str, Any]:
    url = f"{api}/repos/{repo.full_name}/git/commits/{commit.sha}"
    return {
        "sha": commit.sha,
        "node_id": f"C_{commit.sha[:12]}",
        "url": url,
        "html_url": f"{WEB}/{repo.full_name}/commit/{commit.sha}",
        "author": commit.author,
        "committer": commit.committer,
        "message": commit.message,
        "tree": {"sha": commit.tree, "url": f"{api}/repos/{repo.full_name}/git/trees/{commit.tree}"},
        "parents": [{"sha": p, "url": f"{api}/repos/{repo.full_name}/git/commits/{p}"} for p in commit.parents],
        "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None},
    }


def commit_json(repo: FakeRepo, commit: GitCommit, api: str) -> dict[str, Any]:
    """An item of GET /repos/{o}/{r}/commits."""
    url = f"{api}/repos/{repo.full_name}/commits/{commit.sha}"
    inner = {
        k: v
        for k, v in git_commit_json(repo, commit, api).items()
        if k not in {"sha", "node_id", "html_url", "parents"}
    }
    return {
        "sha": commit.sha,
        "node_id": f"C_{commit.sha[:12]}",
        "url": url,
        "html_url": f"{WEB}/{repo.full_name}/commit/{commit.sha}",
        "commit": {**inner, "comment_count": 0},
        "author": None,
        "committer": None,
        "parents": [{"sha": p, "url": f"{api}/repos/{repo.full_name}/commits/{p}"} for p in commit.parents],
    }


def content_json(repo: FakeRepo, path: str, sha: str, api: str, *, ref: str, kind: str = "file") -> dict[str, Any]:
    url = f"{api}/repos/{repo.full_name}/contents/{path}?ref={ref}"
    data: dict[str, Any] = {
        "type": kind,
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "sha": sha,
        "size": len(repo.git.blobs[sha]) if kind == "file" else 0,
        "url": url,
        "html_url": f"{WEB}/{repo.full_name}/blob/{ref}/{path}",
        "git_url": f"{api}/repos/{repo.full_name}/git/{'blobs' if kind == 'file' else 'trees'}/{sha}",
        "download_url": f"{WEB}/raw/{repo.full_name}/{ref}/{path}" if kind == "file" else None,
    }
    data["_links"] = {"self": url, "git": data["git_url"], "html": data["html_url"]}
    return data


def file_json(repo: FakeRepo, path: str, sha: str, api: str, *, ref: str) -> dict[str, Any]:
    encoded = base64.encodebytes(repo.git.blobs[sha]).decode("ascii")
    return {**content_json(repo, path, sha, api, ref=ref), "encoding": "base64", "content": encoded}


def tree_json(repo: FakeRepo, sha: str, api: str, *, recursive: bool) -> dict[str, Any]:
    snap = repo.git.trees[sha]
    base = f"{api}/repos/{repo.full_name}/git"
    entries = [
        {
            "path": p,
            "mode": "100644",
            "type": "blob",
            "sha": s,
            "size": len(repo.git.blobs[s]),
            "url": f"{base}/blobs/{s}",
        }
        for p, s in snap.items()
    ]
    entries += [
        {"path": p, "mode": "040000", "type": "tree", "sha": s, "url": f"{base}/trees/{s}"}
        for p, s in repo.git.folders(snap).items()
    ]
    if not recursive:
        entries = [e for e in entries if "/" not in str(e["path"])]
    entries.sort(key=lambda e: str(e["path"]))
    return {"sha": sha, "url": f"{base}/trees/{sha}", "tree": entries, "truncated": False}


def label_json(repo: FakeRepo, label: dict[str, Any], api: str) -> dict[str, Any]:
    return {
        **label,
        "node_id": f"L_{label['id']}",
        "url": f"{api}/repos/{repo.full_name}/labels/{label['name']}",
        "default": False,
    }


def issue_json(repo: FakeRepo, issue: dict[str, Any], api: str) -> dict[str, Any]:
    n = issue["number"]
    url = f"{api}/repos/{repo.full_name}/issues/{n}"
    return {
        "id": issue["id"],
        "node_id": f"I_{issue['id']}",
        "number": n,
        "title": issue["title"],
        "body": issue["body"],
        "state": issue["state"],
        "state_reason": issue.get("state_reason"),
        "locked": False,
        "labels": [label_json(repo, repo.label(name), api) for name in issue["labels"]],
        "user": user_json(issue["user"], api),
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "comments": len(repo.comments.get(n, [])),
        "created_at": issue["created_at"],
        "updated_at": issue["updated_at"],
        "closed_at": issue.get("closed_at"),
        "author_association": "OWNER",
        "url": url,
        "html_url": f"{WEB}/{repo.full_name}/issues/{n}",
        "comments_url": f"{url}/comments",
        "labels_url": f"{url}/labels{{/name}}",
        "events_url": f"{url}/events",
        "repository_url": f"{api}/repos/{repo.full_name}",
    }


def comment_json(repo: FakeRepo, comment: dict[str, Any], api: str) -> dict[str, Any]:
    return {
        **{k: v for k, v in comment.items() if k != "user"},
        "node_id": f"IC_{comment['id']}",
        "user": user_json(comment["user"], api),
        "url": f"{api}/repos/{repo.full_name}/issues/comments/{comment['id']}",
        "html_url": f"{WEB}/{repo.full_name}/issues/{comment['issue']}#issuecomment-{comment['id']}",
        "issue_url": f"{api}/repos/{repo.full_name}/issues/{comment['issue']}",
        "author_association": "OWNER",
    }


def hook_json(repo: FakeRepo, hook: dict[str, Any], api: str) -> dict[str, Any]:
    config = {k: ("********" if k == "secret" else v) for k, v in hook["config"].items()}
    url = f"{api}/repos/{repo.full_name}/hooks/{hook['id']}"
    return {**hook, "config": config, "type": "Repository", "url": url, "ping_url": f"{url}/pings"}
