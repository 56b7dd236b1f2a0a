"""Fake GitHub handlers: repository, contents, git data (refs, commits, trees, blobs) and commit history."""

from __future__ import annotations

import base64
from typing import Any

from nexus_agent.testing.fake_github._ctx import Ctx, Reply, ok, paginate
from nexus_agent.testing.fake_github._repo import (
    ApiError,
    FakeRepo,
    commit_json,
    content_json,
    file_json,
    git_commit_json,
    person,
    repo_json,
    tree_json,
)


def get_repo(ctx: Ctx, repo: FakeRepo) -> Reply:
    return ok(repo_json(repo, ctx.api))


# -- contents ---------------------------------------------------------------------------------
def get_contents(ctx: Ctx, repo: FakeRepo, path: str = "") -> Reply:
    ref = ctx.query.get("ref") or repo.default_branch
    head = repo.resolve(ref)
    if head is None:
        raise ApiError(404, "This repository is empty.")
    snap, path = repo.git.snapshot(head), path.strip("/")
    if path in snap:
        return ok(file_json(repo, path, snap[path], ctx.api, ref=ref))
    prefix = f"{path}/" if path else ""
    names = {p[len(prefix) :].split("/", 1)[0] for p in snap if p.startswith(prefix)}
    if not names:
        raise ApiError(404, "Not Found")
    folders = repo.git.folders(snap)
    entries = []
    for name in sorted(names):
        full = prefix + name
        if full in snap:
            entries.append(content_json(repo, full, snap[full], ctx.api, ref=ref))
        else:
            entries.append(content_json(repo, full, folders[full], ctx.api, ref=ref, kind="dir"))
    return ok(entries)


def _author(ctx: Ctx) -> dict[str, str]:
    given = ctx.field("author", dict, required=False) or ctx.field("committer", dict, required=False)
    return {**person(ctx.login), **({"name": given["name"], "email": given["email"]} if given else {})}


def _current(ctx: Ctx, repo: FakeRepo, path: str, branch: str) -> str | None:
    snap = repo.git.snapshot(repo.resolve(branch)) if repo.refs else {}
    if any(p.startswith(path + "/") for p in snap):
        raise ApiError(422, f"Invalid request.\n\n{path} is a directory.")
    current, given = snap.get(path), ctx.field("sha", str, required=False)
    if current is not None and given is None:
        raise ApiError(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
    if given is not None and given != current:
        raise ApiError(409, f"{path} does not match {given}")
    return current


def put_contents(ctx: Ctx, repo: FakeRepo, path: str) -> Reply:
    message, content = ctx.field("message"), ctx.b64("content")
    branch = ctx.field("branch", required=False) or repo.default_branch
    current = _current(ctx, repo, path, branch)
    commit = repo.commit_files(branch, {path: content}, message, _author(ctx))
    sha = repo.git.trees[commit.tree][path]
    body = {
        "content": content_json(repo, path, sha, ctx.api, ref=branch),
        "commit": git_commit_json(repo, commit, ctx.api),
    }
    return ok(body, 201 if current is None else 200)


def delete_contents(ctx: Ctx, repo: FakeRepo, path: str) -> Reply:
    message, branch = ctx.field("message"), ctx.field("branch", required=False) or repo.default_branch
    ctx.field("sha")
    if _current(ctx, repo, path, branch) is None:
        raise ApiError(404, "Not Found")
    commit = repo.commit_files(branch, {path: None}, message, _author(ctx))
    return ok({"content": None, "commit": git_commit_json(repo, commit, ctx.api)})


# -- refs -------------------------------------------------------------------------------------
def _ref_json(repo: FakeRepo, key: str, api: str) -> dict[str, Any]:
    sha, base = repo.refs[key], f"{api}/repos/{repo.full_name}/git"
    return {
        "ref": f"refs/{key}",
        "node_id": f"REF_{key}",
        "url": f"{base}/refs/{key}",
        "object": {"sha": sha, "type": "commit", "url": f"{base}/commits/{sha}"},
    }


def get_ref(ctx: Ctx, repo: FakeRepo, ref: str) -> Reply:
    repo.need_commits()
    key = ref.removeprefix("refs/")
    if key not in repo.refs:
        raise ApiError(404, "Not Found")
    return ok(_ref_json(repo, key, ctx.api))


def _commit_sha(repo: FakeRepo, sha: str) -> str:
    if sha not in repo.git.commits:
        raise ApiError(422, "Object does not exist")
    return sha


def update_ref(ctx: Ctx, repo: FakeRepo, ref: str) -> Reply:
    key = ref.removeprefix("refs/")
    if key not in repo.refs:
        raise ApiError(422, "Reference does not exist")
    sha = _commit_sha(repo, ctx.field("sha"))
    if not ctx.field("force", bool, required=False) and not repo.git.is_ancestor(repo.refs[key], sha):
        raise ApiError(422, "Update is not a fast forward")
    repo.refs[key] = sha
    return ok(_ref_json(repo, key, ctx.api))


def create_ref(ctx: Ctx, repo: FakeRepo) -> Reply:
    ref, sha = ctx.field("ref"), _commit_sha(repo, ctx.field("sha"))
    if not ref.startswith("refs/") or ref.count("/") < 2:
        raise ApiError(422, "Reference name must start with 'refs/' and have at least two slashes.")
    key = ref.removeprefix("refs/")
    if key in repo.refs:
        raise ApiError(422, "Reference already exists")
    repo.refs[key] = sha
    return ok(_ref_json(repo, key, ctx.api), 201)


# -- git objects ------------------------------------------------------------------------------
def get_git_commit(ctx: Ctx, repo: FakeRepo, sha: str) -> Reply:
    if sha not in repo.git.commits:
        raise ApiError(404, "Not Found")
    return ok(git_commit_json(repo, repo.git.commits[sha], ctx.api))


def create_git_commit(ctx: Ctx, repo: FakeRepo) -> Reply:
    repo.need_commits()
    message, tree = ctx.field("message"), ctx.field("tree")
    parents = ctx.field("parents", list, required=False) or []
    if tree not in repo.git.trees:
        raise ApiError(422, "Tree SHA does not exist")
    if any(p not in repo.git.commits for p in parents):
        raise ApiError(422, "Parent SHA does not exist or is not a commit object")
    commit = repo.git.put_commit(tree, parents, message, _author(ctx), _author(ctx))
    return ok(git_commit_json(repo, commit, ctx.api), 201)


def get_tree(ctx: Ctx, repo: FakeRepo, sha: str) -> Reply:
    if sha not in repo.git.trees:
        try:
            resolved = repo.resolve(sha)
        except ApiError:
            resolved = None
        if resolved is None:
            raise ApiError(404, "Not Found")
        sha = repo.git.commits[resolved].tree
    recursive = ctx.query.get("recursive", "") not in {"", "0", "false"}
    return ok(tree_json(repo, sha, ctx.api, recursive=recursive))


def create_tree(ctx: Ctx, repo: FakeRepo) -> Reply:
    repo.need_commits()
    base = ctx.field("base_tree", required=False)
    if base is not None and base not in repo.git.trees:
        raise ApiError(422, "base_tree is not a valid tree oid")
    snap = dict(repo.git.trees[base]) if base else {}
    for entry in ctx.field("tree", list):
        path = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(path, str) or not path or path.startswith("/") or "//" in path:
            raise ApiError(422, "Invalid tree info: tree.path")
        for existing in [p for p in snap if p == path or p.startswith(path + "/")]:
            del snap[existing]
        if "content" in entry:
            snap[path] = repo.git.put_blob(str(entry["content"]).encode("utf-8"))
        elif entry.get("sha") is None:
            continue  # deletion
        elif entry.get("type") == "tree" and entry["sha"] in repo.git.trees:
            snap.update({f"{path}/{p}": s for p, s in repo.git.trees[entry["sha"]].items()})
        elif entry["sha"] in repo.git.blobs:
            snap[path] = entry["sha"]
        else:
            raise ApiError(422, f"tree.sha {entry['sha']} is not a valid {entry.get('type', 'blob')}")
    return ok(tree_json(repo, repo.git.put_tree(snap), ctx.api, recursive=False), 201)


def get_blob(ctx: Ctx, repo: FakeRepo, sha: str) -> Reply:
    if sha not in repo.git.blobs:
        raise ApiError(404, "Not Found")
    content = repo.git.blobs[sha]
    return ok(
        {
            "sha": sha,
            "node_id": f"B_{sha[:12]}",
            "size": len(content),
            "url": f"{ctx.api}/repos/{repo.full_name}/git/blobs/{sha}",
            "content": base64.encodebytes(content).decode("ascii"),
            "encoding": "base64",
        }
    )


def create_blob(ctx: Ctx, repo: FakeRepo) -> Reply:
    repo.need_commits()
    encoding = ctx.field("encoding", required=False) or "utf-8"
    content = ctx.b64("content") if encoding == "base64" else ctx.field("content").encode("utf-8")
    sha = repo.git.put_blob(content)
    return ok({"sha": sha, "url": f"{ctx.api}/repos/{repo.full_name}/git/blobs/{sha}"}, 201)


# -- history ----------------------------------------------------------------------------------
def list_commits(ctx: Ctx, repo: FakeRepo) -> Reply:
    repo.need_commits()
    path = (ctx.query.get("path") or "").strip("/")
    items = []
    for commit in repo.git.first_parent_log(repo.resolve(ctx.query.get("sha"))):
        after = repo.git.trees[commit.tree]
        before = repo.git.snapshot(commit.parents[0]) if commit.parents else {}
        if not path or repo.git.touches(before, after, path):
            items.append(commit_json(repo, commit, ctx.api))
    return paginate(ctx, items)


ROUTES: list[tuple[str, str, Any]] = [
    ("GET", r"", get_repo),
    ("GET", r"/contents(?:/(?P<path>.*))?", get_contents),
    ("PUT", r"/contents/(?P<path>.+)", put_contents),
    ("DELETE", r"/contents/(?P<path>.+)", delete_contents),
    ("GET", r"/git/refs?/(?P<ref>.+)", get_ref),
    ("PATCH", r"/git/refs?/(?P<ref>.+)", update_ref),
    ("POST", r"/git/refs", create_ref),
    ("GET", r"/git/commits/(?P<sha>[0-9a-f]+)", get_git_commit),
    ("POST", r"/git/commits", create_git_commit),
    ("GET", r"/git/trees/(?P<sha>.+)", get_tree),
    ("POST", r"/git/trees", create_tree),
    ("GET", r"/git/blobs/(?P<sha>[0-9a-f]+)", get_blob),
    ("POST", r"/git/blobs", create_blob),
    ("GET", r"/commits", list_commits),
]
