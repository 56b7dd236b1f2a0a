"""Fake GitHub handlers: issues, issue labels, comments, repository labels and webhooks."""

from __future__ import annotations

import itertools
from typing import Any

from nexus_agent.testing.fake_github._ctx import Ctx, Reply, ok, paginate
from nexus_agent.testing.fake_github._repo import (
    ApiError,
    FakeRepo,
    comment_json,
    hook_json,
    issue_json,
    label_json,
    now_iso,
)

_ids = itertools.count(5000)


def _names(value: Any) -> list[str]:
    if isinstance(value, dict):
        value = value.get("labels")
    if not isinstance(value, list):
        raise ApiError(422, 'Invalid request.\n\n"labels" wasn\'t supplied.')
    names: list[str] = []
    for item in value:
        name = item.get("name") if isinstance(item, dict) else item
        if not isinstance(name, str) or not name.strip():
            raise ApiError(422, "Validation Failed")
        if name not in names:
            names.append(name)
    return names


def _touch(issue: dict[str, Any]) -> None:
    issue["updated_at"] = now_iso()


# -- issues -----------------------------------------------------------------------------------
def create_issue(ctx: Ctx, repo: FakeRepo) -> Reply:
    title = ctx.field("title")
    if not title.strip():
        raise ApiError(422, "Validation Failed")
    labels = _names(ctx.body.get("labels") or [])
    number = max(repo.issues, default=0) + 1
    now = now_iso()
    repo.issues[number] = {
        "id": next(_ids),
        "number": number,
        "title": title,
        "body": ctx.field("body", required=False),
        "state": "open",
        "labels": labels,
        "user": ctx.login,
        "created_at": now,
        "updated_at": now,
        "closed_at": None,
    }
    for name in labels:
        repo.label(name)
    return ok(issue_json(repo, repo.issues[number], ctx.api), 201)


def list_issues(ctx: Ctx, repo: FakeRepo) -> Reply:
    state = ctx.query.get("state", "open")
    wanted = [x for x in ctx.query.get("labels", "").split(",") if x]
    issues = [
        i
        for i in repo.issues.values()
        if (state == "all" or i["state"] == state) and all(x in i["labels"] for x in wanted)
    ]
    issues.sort(key=lambda i: i["number"], reverse=ctx.query.get("direction", "desc") == "desc")
    return paginate(ctx, [issue_json(repo, i, ctx.api) for i in issues])


def get_issue(ctx: Ctx, repo: FakeRepo, n: str) -> Reply:
    return ok(issue_json(repo, repo.issue(int(n)), ctx.api))


def edit_issue(ctx: Ctx, repo: FakeRepo, n: str) -> Reply:
    issue = repo.issue(int(n))
    for key in ("title", "body"):
        if isinstance(ctx.body, dict) and key in ctx.body:
            issue[key] = ctx.field(key, required=key == "title")
    state = ctx.field("state", required=False)
    if state is not None:
        if state not in {"open", "closed"}:
            raise ApiError(422, "Validation Failed")
        if state != issue["state"]:
            issue["state"], issue["closed_at"] = state, (now_iso() if state == "closed" else None)
            issue["state_reason"] = ctx.field("state_reason", required=False) or (
                "completed" if state == "closed" else "reopened"
            )
    if isinstance(ctx.body, dict) and "labels" in ctx.body:
        issue["labels"] = _names(ctx.body["labels"])
    _touch(issue)
    return ok(issue_json(repo, issue, ctx.api))


# -- comments ---------------------------------------------------------------------------------
def list_comments(ctx: Ctx, repo: FakeRepo, n: str) -> Reply:
    repo.issue(int(n))
    return paginate(ctx, [comment_json(repo, c, ctx.api) for c in repo.comments.get(int(n), [])])


def create_comment(ctx: Ctx, repo: FakeRepo, n: str) -> Reply:
    issue = repo.issue(int(n))
    body = ctx.field("body")
    now = now_iso()
    comment = {"id": next(_ids), "issue": int(n), "body": body, "user": ctx.login, "created_at": now, "updated_at": now}
    repo.comments.setdefault(int(n), []).append(comment)
    _touch(issue)
    return ok(comment_json(repo, comment, ctx.api), 201)


# -- labels -----------------------------------------------------------------------------------
def _issue_labels(ctx: Ctx, repo: FakeRepo, issue: dict[str, Any], status: int = 200) -> Reply:
    return ok([label_json(repo, repo.label(name), ctx.api) for name in issue["labels"]], status)


def get_issue_labels(ctx: Ctx, repo: FakeRepo, n: str) -> Reply:
    return _issue_labels(ctx, repo, repo.issue(int(n)))


def add_issue_labels(ctx: Ctx, repo: FakeRepo, n: str) -> Reply:
    issue = repo.issue(int(n))
    issue["labels"] += [x for x in _names(ctx.body) if x not in issue["labels"]]
    _touch(issue)
    return _issue_labels(ctx, repo, issue)


def set_issue_labels(ctx: Ctx, repo: FakeRepo, n: str) -> Reply:
    issue = repo.issue(int(n))
    issue["labels"] = _names(ctx.body)
    _touch(issue)
    return _issue_labels(ctx, repo, issue)


def clear_issue_labels(ctx: Ctx, repo: FakeRepo, n: str) -> Reply:
    issue = repo.issue(int(n))
    issue["labels"] = []
    _touch(issue)
    return 204, None, {}


def remove_issue_label(ctx: Ctx, repo: FakeRepo, n: str, name: str) -> Reply:
    issue = repo.issue(int(n))
    if name not in issue["labels"]:
        raise ApiError(404, "Label does not exist")
    issue["labels"].remove(name)
    _touch(issue)
    return _issue_labels(ctx, repo, issue)


def list_labels(ctx: Ctx, repo: FakeRepo) -> Reply:
    return paginate(ctx, [label_json(repo, label, ctx.api) for label in repo.labels.values()])


def create_label(ctx: Ctx, repo: FakeRepo) -> Reply:
    name = ctx.field("name")
    if name in repo.labels:
        raise ApiError(422, "Validation Failed")
    label = repo.label(name)
    label.update(color=ctx.field("color", required=False) or "ededed", description=ctx.body.get("description"))
    return ok(label_json(repo, label, ctx.api), 201)


def get_label(ctx: Ctx, repo: FakeRepo, name: str) -> Reply:
    if name not in repo.labels:
        raise ApiError(404, "Not Found")
    return ok(label_json(repo, repo.labels[name], ctx.api))


def delete_label(ctx: Ctx, repo: FakeRepo, name: str) -> Reply:
    if repo.labels.pop(name, None) is None:
        raise ApiError(404, "Not Found")
    for issue in repo.issues.values():
        issue["labels"] = [x for x in issue["labels"] if x != name]
    return 204, None, {}


# -- webhooks ---------------------------------------------------------------------------------
def list_hooks(ctx: Ctx, repo: FakeRepo) -> Reply:
    return paginate(ctx, [hook_json(repo, h, ctx.api) for h in repo.hooks.values()])


def create_hook(ctx: Ctx, repo: FakeRepo) -> Reply:
    config = ctx.field("config", dict)
    if not isinstance(config.get("url"), str):
        raise ApiError(422, "Validation Failed")
    hook_id, now = next(_ids), now_iso()
    repo.hooks[hook_id] = {
        "id": hook_id,
        "name": ctx.field("name", required=False) or "web",
        "active": bool(ctx.body.get("active", True)),
        "events": ctx.field("events", list, required=False) or ["push"],
        "config": dict(config),
        "created_at": now,
        "updated_at": now,
    }
    return ok(hook_json(repo, repo.hooks[hook_id], ctx.api), 201)


def get_hook(ctx: Ctx, repo: FakeRepo, hook_id: str) -> Reply:
    if int(hook_id) not in repo.hooks:
        raise ApiError(404, "Not Found")
    return ok(hook_json(repo, repo.hooks[int(hook_id)], ctx.api))


def delete_hook(ctx: Ctx, repo: FakeRepo, hook_id: str) -> Reply:
    if repo.hooks.pop(int(hook_id), None) is None:
        raise ApiError(404, "Not Found")
    return 204, None, {}


ROUTES: list[tuple[str, str, Any]] = [
    ("POST", r"/issues", create_issue),
    ("GET", r"/issues", list_issues),
    ("GET", r"/issues/(?P<n>\d+)", get_issue),
    ("PATCH", r"/issues/(?P<n>\d+)", edit_issue),
    ("GET", r"/issues/(?P<n>\d+)/comments", list_comments),
    ("POST", r"/issues/(?P<n>\d+)/comments", create_comment),
    ("GET", r"/issues/(?P<n>\d+)/labels", get_issue_labels),
    ("POST", r"/issues/(?P<n>\d+)/labels", add_issue_labels),
    ("PUT", r"/issues/(?P<n>\d+)/labels", set_issue_labels),
    ("DELETE", r"/issues/(?P<n>\d+)/labels", clear_issue_labels),
    ("DELETE", r"/issues/(?P<n>\d+)/labels/(?P<name>.+)", remove_issue_label),
    ("GET", r"/labels", list_labels),
    ("POST", r"/labels", create_label),
    ("GET", r"/labels/(?P<name>.+)", get_label),
    ("DELETE", r"/labels/(?P<name>.+)", delete_label),
    ("GET", r"/hooks", list_hooks),
    ("POST", r"/hooks", create_hook),
    ("GET", r"/hooks/(?P<hook_id>\d+)", get_hook),
    ("DELETE", r"/hooks/(?P<hook_id>\d+)", delete_hook),
]
