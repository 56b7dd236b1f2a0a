"""The truth source as a GitHub repository, through PyGithub.

PyGithub is synchronous: every call runs in a worker thread (``anyio.to_thread``),
and writes are serialised per instance. Single-file writes and deletes use the
contents API (GitHub checks the blob sha); :meth:`GitHubTruthSource.write_many`
uses the git data API (trees, commits, a non-forced ref update) so several files
change in one commit. Issues, labels and comments are GitHub's own.

Failures become NexusErrors (:mod:`nexus_agent.truth._github_errors`) whose
messages never contain the token or the private key.
"""

from __future__ import annotations

import base64
import builtins
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ParamSpec, TypeVar

import anyio.to_thread
import github
from github.GithubException import GithubException
from github.InputGitTreeElement import InputGitTreeElement
from urllib3.util.retry import Retry

from nexus_agent.truth._github_errors import translate
from nexus_agent.truth._github_json import (
    comment_from,
    commit_from,
    install_log_redaction,
    issue_from,
    pygithub_auth,
    raw,
)
from nexus_agent.truth._local_issues import check_body, check_state, check_title
from nexus_agent.truth.auth import DEFAULT_API_URL, GitHubAppAuth, GitHubTokenAuth
from nexus_agent.truth.base import (
    NULL_SHA,
    blob_sha,
    check_content,
    check_labels,
    check_message,
    check_path,
    check_prefix,
)
from nexus_agent.truth.layout import truth_readme
from nexus_agent.truth.models import Commit, Issue, IssueComment, IssueState, TruthFile
from nexus_agent.wire.errors import ConfigError, Conflict, NexusError, NotFound, UpstreamError
from nexus_agent.wire.secret_guard import KnownSecrets

__all__ = ["DEFAULT_API_URL", "GitHubTruthSource"]

P = ParamSpec("P")
T = TypeVar("T")
_REPO_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


class GitHubTruthSource:
    """A GitHub repository (``owner/name``) as the truth source."""

    def __init__(
        self,
        repo_full_name: str,
        auth: GitHubTokenAuth | GitHubAppAuth,
        *,
        base_url: str = DEFAULT_API_URL,
        branch: str = "main",
        timeout: int = 15,
        retries: int = 2,
        seconds_between_requests: float | None = 0.25,
        seconds_between_writes: float | None = 1.0,
        user_agent: str = "nexus-agent",
        known_secrets: KnownSecrets | None = None,
    ) -> None:
        self.known_secrets = known_secrets  # configured secret values no commit or issue may carry
        if not _REPO_NAME.match(repo_full_name or ""):
            raise ConfigError(
                f"{repo_full_name!r} is not a GitHub repository name",
                hint="Set NEXUS_GITHUB_REPO to owner/name, e.g. 'sfg-aluminium/nexus-truth'.",
            )
        self.repo_full_name = repo_full_name
        self.branch = branch
        self.base_url = base_url.rstrip("/")
        self.description = f"GitHub repository {repo_full_name} ({branch})"
        self._auth_kind = auth.kind
        self._secrets = auth.secrets()
        # Retry reads only (a retried write may have landed the first time), and never sleep on rate limits.
        retry = Retry(
            total=retries,
            backoff_factor=0.5,
            status_forcelist=(502, 503, 504),
            allowed_methods=frozenset({"GET"}),
            raise_on_status=False,
        )
        self._gh = github.Github(
            auth=pygithub_auth(auth),
            base_url=self.base_url,
            timeout=timeout,
            retry=retry if retries > 0 else None,
            seconds_between_requests=seconds_between_requests,
            seconds_between_writes=seconds_between_writes,
            user_agent=user_agent,
            per_page=100,
        )
        install_log_redaction()
        self._repo_obj: Any = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"GitHubTruthSource({self.repo_full_name!r}, branch={self.branch!r}, auth={self._auth_kind!r})"

    # -- plumbing ----------------------------------------------------------------------
    async def _run(self, what: str, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        def body() -> T:
            try:
                with self._lock:  # one PyGithub call sequence at a time per instance
                    return fn(*args, **kwargs)
            except NexusError:
                raise
            except Exception as exc:
                error = translate(
                    exc,
                    what=what,
                    repo=self.repo_full_name,
                    base_url=self.base_url,
                    auth_kind=self._auth_kind,
                    secrets=self._secrets,
                )
                if error is None:
                    raise
                raise error from None  # the cause may carry request details; the message says enough

        return await anyio.to_thread.run_sync(body)

    @property
    def _repo(self) -> Any:
        if self._repo_obj is None:
            try:
                self._repo_obj = self._gh.get_repo(self.repo_full_name)
            except GithubException as exc:
                if exc.status == 404:
                    raise ConfigError(
                        f"the GitHub repository {self.repo_full_name} was not found, or the credentials cannot see it",
                        hint="Check NEXUS_GITHUB_REPO, and that the token or App is granted access to it.",
                    ) from None
                raise
        return self._repo_obj

    def _head(self) -> tuple[Any, Any] | None:
        """(ref, git commit) of the branch, or None while the repository is empty."""
        try:
            ref = self._repo.get_git_ref(f"heads/{self.branch}")
            sha = ref.object.sha
        except GithubException as exc:
            if exc.status == 409:  # "Git Repository is empty."
                return None
            if exc.status == 404:
                raise ConfigError(
                    f"the branch {self.branch!r} does not exist in {self.repo_full_name}",
                    hint="Create it on GitHub, or set NEXUS_TRUTH_BRANCH to an existing branch.",
                ) from None
            raise
        return ref, self._repo.get_git_commit(sha)

    def _tree(self, commit: Any) -> tuple[Any, dict[str, str]]:
        tree = self._repo.get_git_tree(commit.tree.sha, recursive=True)
        if raw(tree).get("truncated"):
            raise UpstreamError(
                f"GitHub truncated the file listing of {self.repo_full_name}: the repository is too large",
                hint="Keep the truth repository under GitHub's tree limit (100,000 entries); move bulk data out.",
            )
        return tree, {e.path: e.sha for e in tree.tree if e.type == "blob"}

    def _file(self, path: str) -> Any | None:
        try:
            found = self._repo.get_contents(path, ref=self.branch)
        except GithubException as exc:
            if exc.status == 404:
                return None
            raise
        return None if isinstance(found, list) else found

    def _check_expected(self, path: str, current: str | None, expected_sha: str | None) -> None:
        if expected_sha is not None and (current or NULL_SHA) != expected_sha:
            now = "does not exist" if current is None else f"is now at {current[:12]}"
            raise Conflict(
                f"{path!r} changed since it was read: expected {expected_sha[:12]}, but it {now}",
                hint="Read the file again, reapply your change and write it with the new sha.",
            )

    def _initialise(self) -> None:
        """Give an empty repository its first commit (GitHub's git data API needs one)."""
        self._repo.create_file("README.md", "Create the Nexus truth source", truth_readme(), branch=self.branch)

    # -- sync bodies -------------------------------------------------------------------
    def _get_sync(self, path: str) -> TruthFile | None:
        found = self._file(path)
        if found is None:
            return None
        if found.encoding == "base64":
            content = found.decoded_content
        else:  # files over 1 MB come without content: fetch the blob
            content = base64.b64decode(self._repo.get_git_blob(found.sha).content)
        return TruthFile(path=path, content=content, sha=found.sha)

    def _read_sync(self, path: str) -> bytes:
        found = self._get_sync(path)
        if found is None:
            raise NotFound(f"{path!r} does not exist in {self.description}", hint="List the folder to see its files.")
        return found.content

    def _list_sync(self, prefix: str) -> builtins.list[str]:
        head = self._head()
        if head is None:
            return []
        paths = self._tree(head[1])[1]
        return sorted(p for p in paths if not prefix or p.startswith(prefix + "/"))

    def _write_sync(self, path: str, content: bytes, message: str, expected_sha: str | None) -> Commit | None:
        found = self._file(path)
        current = found.sha if found is not None else None
        self._check_expected(path, current, expected_sha)
        if current == blob_sha(content):
            return None
        try:
            if current is None:
                done = self._repo.create_file(path, message, content, branch=self.branch)
            else:
                done = self._repo.update_file(path, message, content, current, branch=self.branch)
        except GithubException as exc:
            said = str(exc.data.get("message", "")) if isinstance(exc.data, dict) else ""
            if exc.status == 409 or (exc.status == 422 and "sha" in said):  # written between our read and write
                raise Conflict(
                    f"{path!r} changed on GitHub while Nexus was writing it",
                    hint="Read the file again, reapply your change and retry.",
                ) from None
            raise
        return commit_from(raw(done["commit"]))

    def _delete_sync(self, path: str, message: str, expected_sha: str | None) -> Commit:
        found = self._file(path)
        if found is None:
            raise NotFound(f"{path!r} does not exist in {self.description}", hint="Nothing to delete.")
        self._check_expected(path, found.sha, expected_sha)
        done = self._repo.delete_file(path, message, found.sha, branch=self.branch)
        return commit_from(raw(done["commit"]))

    def _write_many_sync(self, changes: Mapping[str, bytes | None], message: str) -> Commit | None:
        head = self._head()
        if head is None:
            if all(content is None for content in changes.values()):
                return None
            self._initialise()
            head = self._head()
            assert head is not None
        ref, parent = head
        base_tree, current = self._tree(parent)
        elements = []
        for path, content in changes.items():
            if content is None:
                if path in current:
                    elements.append(InputGitTreeElement(path, "100644", "blob", sha=None))
            elif current.get(path) != blob_sha(content):
                try:
                    elements.append(InputGitTreeElement(path, "100644", "blob", content=content.decode("utf-8")))
                except UnicodeDecodeError:
                    blob = self._repo.create_git_blob(base64.b64encode(content).decode("ascii"), "base64")
                    elements.append(InputGitTreeElement(path, "100644", "blob", sha=blob.sha))
        if not elements:
            return None
        tree = self._repo.create_git_tree(elements, base_tree=base_tree)
        commit = self._repo.create_git_commit(message, tree, [parent])
        try:
            ref.edit(commit.sha, force=False)
        except GithubException as exc:
            if exc.status == 422:
                raise Conflict(
                    f"the branch {self.branch} of {self.repo_full_name} moved while Nexus was committing",
                    hint="Someone else committed at the same time; retry.",
                ) from None
            raise
        return commit_from(raw(commit))

    def _history_sync(self, path: str | None, limit: int) -> builtins.list[Commit]:
        if limit < 1:
            return []
        kwargs: dict[str, str] = {"sha": self.branch}
        if path:
            kwargs["path"] = path
        out: builtins.list[Commit] = []
        try:
            for item in self._repo.get_commits(**kwargs):
                data = raw(item)
                out.append(commit_from(data["commit"], sha=data["sha"], url=data.get("html_url")))
                if len(out) >= limit:
                    break
        except GithubException as exc:
            if exc.status == 409:  # empty repository
                return []
            raise
        return out

    def _issue_obj(self, number: int) -> Any:
        issue = self._repo.get_issue(number)
        if raw(issue).get("pull_request"):
            raise NotFound(f"#{number} in {self.repo_full_name} is a pull request, not an issue", hint="")
        return issue

    def _list_issues_sync(self, labels: builtins.list[str], state: str) -> builtins.list[Issue]:
        kwargs: dict[str, Any] = {"state": state}
        if labels:
            kwargs["labels"] = labels
        items = [raw(i) for i in self._repo.get_issues(**kwargs)]
        return [issue_from(i) for i in items if not i.get("pull_request")]

    def _relabel(self, number: int, op: str, labels: builtins.list[str]) -> Issue:
        issue = self._issue_obj(number)
        have = [label["name"] for label in raw(issue).get("labels") or []]
        if op == "set" and have != labels:
            issue.set_labels(*labels)
        elif op == "add" and [x for x in labels if x not in have]:
            issue.add_to_labels(*[x for x in labels if x not in have])
        elif op == "remove" and labels[0] in have:
            issue.remove_from_labels(labels[0])
        return issue_from(raw(self._repo.get_issue(number)))

    def _close_sync(self, number: int) -> Issue:
        issue = self._issue_obj(number)
        if issue.state == "closed":
            return issue_from(raw(issue))
        issue.edit(state="closed")
        return issue_from(raw(self._repo.get_issue(number)))

    # -- the TruthSource API -----------------------------------------------------------
    async def read(self, path: str) -> bytes:
        return await self._run(repr(path), self._read_sync, check_path(path, allow_reserved=True))

    async def get(self, path: str) -> TruthFile | None:
        return await self._run(repr(path), self._get_sync, check_path(path, allow_reserved=True))

    async def list(self, prefix: str = "") -> builtins.list[str]:
        prefix = check_prefix(prefix)
        return await self._run(f"the folder {prefix or '/'!r}", self._list_sync, prefix)

    async def write(self, path: str, content: bytes, message: str, *, expected_sha: str | None = None) -> Commit | None:
        path, message = check_path(path), check_message(message, self.known_secrets)
        return await self._run(
            repr(path), self._write_sync, path, check_content(content, path, self.known_secrets), message, expected_sha
        )

    async def write_many(self, files: Mapping[str, bytes | None], message: str) -> Commit | None:
        message = check_message(message, self.known_secrets)
        changes = {
            check_path(p): (None if c is None else check_content(c, p, self.known_secrets)) for p, c in files.items()
        }
        return await self._run(f"{len(changes)} files", self._write_many_sync, changes, message)

    async def delete(self, path: str, message: str, *, expected_sha: str | None = None) -> Commit:
        path, message = check_path(path), check_message(message, self.known_secrets)
        return await self._run(repr(path), self._delete_sync, path, message, expected_sha)

    async def history(self, path: str | None = None, limit: int = 20) -> builtins.list[Commit]:
        if path is not None:
            check_path(path, allow_reserved=True)
        return await self._run(f"the history of {path or self.branch!r}", self._history_sync, path, limit)

    async def create_issue(self, title: str, body: str = "", labels: Iterable[str] = ()) -> Issue:
        title, body, names = (
            check_title(title, self.known_secrets),
            check_body(body, known=self.known_secrets),
            check_labels(labels),
        )

        def create() -> Issue:
            return issue_from(raw(self._repo.create_issue(title, body=body, labels=names)))

        return await self._run("a new issue", create)

    async def get_issue(self, number: int) -> Issue:
        return await self._run(f"issue #{number}", lambda: issue_from(raw(self._issue_obj(number))))

    async def list_issues(self, labels: Iterable[str] = (), state: IssueState | str = "open") -> builtins.list[Issue]:
        names, state = check_labels(labels), check_state(state)
        return await self._run("the issues", self._list_issues_sync, names, state)

    async def comment(self, number: int, body: str) -> IssueComment:
        body = check_body(body, "comment", self.known_secrets)
        return await self._run(
            f"issue #{number}", lambda: comment_from(raw(self._issue_obj(number).create_comment(body)))
        )

    async def list_comments(self, number: int) -> builtins.list[IssueComment]:
        return await self._run(
            f"issue #{number}", lambda: [comment_from(raw(c)) for c in self._issue_obj(number).get_comments()]
        )

    async def set_labels(self, number: int, labels: Iterable[str]) -> Issue:
        return await self._run(f"issue #{number}", self._relabel, number, "set", check_labels(labels))

    async def add_labels(self, number: int, labels: Iterable[str]) -> Issue:
        return await self._run(f"issue #{number}", self._relabel, number, "add", check_labels(labels))

    async def remove_label(self, number: int, label: str) -> Issue:
        return await self._run(f"issue #{number}", self._relabel, number, "remove", check_labels([label]))

    async def close_issue(self, number: int) -> Issue:
        return await self._run(f"issue #{number}", self._close_sync, number)

    def close(self) -> None:
        """Close PyGithub's connections (blocking; prefer :meth:`aclose` on the event loop)."""
        self._gh.close()

    async def aclose(self) -> None:
        await anyio.to_thread.run_sync(self.close)
