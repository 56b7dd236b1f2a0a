"""The embedded truth source: a git repository on this machine (the default, under NEXUS_HOME).

Created on first use (``git init``, branch ``main``, a README commit). Every write
is one commit with the caller's message; reads see committed content only. The
``git`` command runs in a worker thread, serialised by a thread lock plus a file
lock (``.git/nexus.lock``) so two Nexus processes sharing a folder take turns.

Git runs isolated from the machine's configuration: no global or system config,
no hooks, no signing, identity given per command, and none of Nexus's environment
(only a ``PATH`` of git's own folder and the system default), so no secret of Nexus
reaches it. So it behaves the same on a fresh CI machine and on a developer laptop.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import ParamSpec, TypeVar

import anyio.to_thread

from nexus_agent.truth._local_issues import LocalIssueStore
from nexus_agent.truth.base import NULL_SHA, blob_sha, check_content, check_message, check_path, check_prefix
from nexus_agent.truth.layout import truth_readme
from nexus_agent.truth.models import Commit, Issue, IssueComment, IssueState, TruthFile
from nexus_agent.wire.errors import ConfigError, Conflict, InvalidInput, NotFound, StorageError
from nexus_agent.wire.models import utcnow
from nexus_agent.wire.secret_guard import KnownSecrets

__all__ = ["LocalGitTruthSource", "git_search_path"]

P = ParamSpec("P")
T = TypeVar("T")
_FORMAT = "--format=%H%x1f%an%x1f%ae%x1f%cI%x1f%B%x1e"


def git_search_path(git: str = "git") -> str:
    """``PATH`` for a git child process: git's own folder, then the system default; nothing else of ours."""
    found = shutil.which(git)
    return os.pathsep.join(p for p in (os.path.dirname(found or ""), os.defpath) if p)


def _parse_log(out: bytes) -> list[Commit]:
    commits = []
    for record in out.decode("utf-8", "replace").split("\x1e"):
        record = record.lstrip("\n")
        if not record:
            continue
        sha, name, email, date, message = record.split("\x1f", 4)
        commits.append(
            Commit(
                sha=sha,
                message=message.strip(),
                author_name=name,
                author_email=email,
                committed_at=datetime.fromisoformat(date),
            )
        )
    return commits


class LocalGitTruthSource(LocalIssueStore):
    """A git repository at ``path`` (created on first use) as the truth source."""

    def __init__(
        self,
        path: Path | str,
        *,
        author_name: str = "Nexus",
        author_email: str = "nexus@localhost",
        branch: str = "main",
        git: str = "git",
        timeout: float = 60.0,
        clock: Callable[[], datetime] = utcnow,
        known_secrets: KnownSecrets | None = None,
    ) -> None:
        self.root = Path(path).expanduser()
        self.known_secrets = known_secrets  # configured secret values no commit may carry
        self.author_name = author_name
        self.author_email = author_email
        self.branch = branch
        self.description = f"local git at {self.root}"
        self._git_binary = git
        self._timeout = timeout
        self._clock = clock
        self._lock = threading.RLock()
        self._depth = 0
        self._ready = False

    def __repr__(self) -> str:
        return f"LocalGitTruthSource({str(self.root)!r}, branch={self.branch!r})"

    # -- running git -------------------------------------------------------------------
    def _git(self, *args: str, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        env = {
            "PATH": git_search_path(self._git_binary),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_LITERAL_PATHSPECS": "1",
            "LC_ALL": "C",
        }
        command = [
            self._git_binary,
            "-c", f"user.name={self.author_name}",
            "-c", f"user.email={self.author_email}",
            "-c", f"core.hooksPath={os.devnull}",
            "-c", "commit.gpgsign=false",
            "-c", "core.autocrlf=false",
            "-c", "core.quotePath=false",
            *args,
        ]  # fmt: skip
        try:
            done = subprocess.run(
                command, cwd=self.root, env=env, input=input, capture_output=True, timeout=self._timeout, check=False
            )
        except FileNotFoundError:
            raise ConfigError(
                f"the git program {self._git_binary!r} was not found",
                hint="Install git (e.g. `apt install git`) or use the GitHub truth source (NEXUS_TRUTH=github).",
            ) from None
        except subprocess.TimeoutExpired:
            raise StorageError(
                f"git {args[0]} did not finish within {self._timeout:.0f}s in {self.root}",
                hint="Check the disk and that no other program holds the repository.",
            ) from None
        if check and done.returncode != 0:
            detail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise StorageError(
                f"git {args[0]} failed in {self.root}: {' / '.join(detail) or f'exit code {done.returncode}'}",
                hint="Run `git status` in the truth folder, resolve what it reports, and retry.",
            )
        return done

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            with open(self.root / ".git" / "nexus.lock", "a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                self._depth = 1
                try:
                    yield
                finally:
                    self._depth = 0
                    fcntl.flock(handle, fcntl.LOCK_UN)

    def _ensure(self) -> None:
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            if not (self.root / ".git").exists():
                if self.root.exists() and (not self.root.is_dir() or any(self.root.iterdir())):
                    raise ConfigError(
                        f"the truth folder {self.root} exists and is not a git repository",
                        hint="Point NEXUS_TRUTH_PATH at an empty or new folder, or at a git repository.",
                    )
                try:
                    self.root.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise ConfigError(
                        f"cannot create the truth folder {self.root}: {exc.strerror or exc}",
                        hint="Point NEXUS_HOME or NEXUS_TRUTH_PATH at a writable place.",
                    ) from None
                self._git("init", "-q", "--template=")
                self._git("symbolic-ref", "HEAD", f"refs/heads/{self.branch}")
            head = self._git("symbolic-ref", "-q", "--short", "HEAD", check=False).stdout.decode().strip()
            if head != self.branch:
                raise ConfigError(
                    f"the truth repository {self.root} has {head or 'a detached HEAD'} checked out, not {self.branch}",
                    hint=self._branch_hint(head),
                )
            with self._locked():
                if self._git("rev-parse", "-q", "--verify", f"refs/heads/{self.branch}", check=False).returncode:
                    self._commit_sync({"README.md": truth_readme()}, "Create the Nexus truth source")
            self._ready = True

    def _branch_hint(self, head: str) -> str:
        """A fix that works for a repository on ``head`` instead of the configured branch."""
        if not self._git("rev-parse", "-q", "--verify", f"refs/heads/{self.branch}", check=False).returncode:
            return f"Run `git -C {self.root} checkout {self.branch}`."
        if not head:
            return f"Run `git -C {self.root} checkout -b {self.branch}`."
        return (
            f"The repository has no branch {self.branch}: set NEXUS_TRUTH_BRANCH={head} to use the branch it has, "
            f"or rename that branch with `git -C {self.root} branch -m {head} {self.branch}`."
        )

    async def _run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        def body() -> T:
            self._ensure()
            return fn(*args, **kwargs)

        return await anyio.to_thread.run_sync(body)

    # -- plumbing helpers (call with the repository ready) ------------------------------
    def _entries(self, paths: Iterable[str]) -> dict[str, tuple[str, str]]:
        """path -> (type, sha) for those of ``paths`` present on the branch."""
        paths = list(paths)
        if not paths or not self._has_commits():
            return {}
        out = self._git("ls-tree", "-z", self.branch, "--", *paths).stdout.decode("utf-8")
        entries = {}
        for line in filter(None, out.split("\x00")):
            meta, path = line.split("\t", 1)
            _mode, kind, sha = meta.split()
            entries[path] = (kind, sha)
        return entries

    def _has_commits(self) -> bool:
        return not self._git("rev-parse", "-q", "--verify", f"refs/heads/{self.branch}", check=False).returncode

    def _blob(self, path: str) -> tuple[str, bytes] | None:
        kind, sha = self._entries([path]).get(path, ("", ""))
        if kind != "blob":
            return None
        return sha, self._git("cat-file", "blob", sha).stdout

    def _head_commit(self) -> Commit:
        return _parse_log(self._git("log", "-1", _FORMAT, self.branch).stdout)[0]

    def _target(self, path: str) -> Path:
        """The working-tree file for ``path``, refusing symlinked folders that lead outside the repository."""
        full = self.root / path
        root = self.root.resolve()
        if not full.parent.resolve().is_relative_to(root):
            raise InvalidInput(f"{path!r} leads outside the truth repository through a symlink", hint="Remove it.")
        return full

    def _restore(self, written: list[str], existing: Mapping[str, tuple[str, str]]) -> None:
        """Undo a failed commit: unstage ``written`` and put back their committed content."""
        if not written:
            return
        self._git("reset", "-q", "--", *written, check=False)
        tracked = [p for p in written if p in existing]
        if tracked:
            self._git("checkout", "-q", self.branch, "--", *tracked, check=False)
        for path in written:
            if path not in existing:
                with contextlib.suppress(OSError):
                    (self.root / path).unlink()

    # -- sync bodies --------------------------------------------------------------------
    def _read_sync(self, path: str) -> bytes | None:
        found = self._blob(path)
        return None if found is None else found[1]

    def _list_sync(self, prefix: str) -> builtins.list[str]:
        if not self._has_commits():
            return []
        args = ["ls-tree", "-r", "-z", "--name-only", self.branch]
        out = self._git(*args, *(["--", prefix] if prefix else [])).stdout.decode("utf-8")
        return sorted(p for p in out.split("\x00") if p and (not prefix or p.startswith(prefix + "/")))

    def _commit_sync(self, changes: Mapping[str, bytes | None], message: str) -> Commit | None:
        """Commit ``changes`` (None deletes) as one commit; None if nothing differs. Call with the lock held."""
        existing = self._entries(changes)
        for path, (kind, _sha) in existing.items():
            if kind != "blob":
                raise InvalidInput(f"{path!r} is a folder in the truth repository", hint="Write files, not folders.")
        touched = [
            p
            for p, content in changes.items()
            if (p in existing if content is None else existing.get(p, ("", ""))[1] != blob_sha(content))
        ]
        if not touched:
            return None
        written: list[str] = []
        try:
            for path in touched:
                content, target = changes[path], self._target(path)
                written.append(path)
                if content is None:
                    target.unlink(missing_ok=True)
                    continue
                if target.is_symlink():
                    target.unlink()
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(content)
                except (NotADirectoryError, FileExistsError, IsADirectoryError):
                    raise InvalidInput(
                        f"cannot write {path!r}: a file and a folder share that name", hint="Choose another path."
                    ) from None
                except OSError as exc:
                    raise StorageError(
                        f"cannot write {path!r} in {self.root}: {exc.strerror or exc}",
                        hint="Check the disk space and the folder's permissions.",
                    ) from None
            self._git("add", "-A", "--", *touched)
            self._git("commit", "-q", "--no-verify", "--cleanup=whitespace", "-m", message, "--", *touched)
        except BaseException:
            self._restore(written, existing)
            raise
        return self._head_commit()

    def _get_sync(self, path: str) -> TruthFile | None:
        found = self._blob(check_path(path, allow_reserved=True))
        return None if found is None else TruthFile(path=path, content=found[1], sha=found[0])

    def _read_or_raise(self, path: str) -> bytes:
        found = self._get_sync(path)
        if found is None:
            raise NotFound(f"{path!r} does not exist in {self.description}", hint="List the folder to see its files.")
        return found.content

    def _check_expected(self, path: str, expected_sha: str | None) -> tuple[str, str] | None:
        entry = self._entries([path]).get(path)
        current = entry[1] if entry else None
        if expected_sha is not None and (current or NULL_SHA) != expected_sha:
            now = "does not exist" if current is None else f"is now at {current[:12]}"
            raise Conflict(
                f"{path!r} changed since it was read: expected {expected_sha[:12]}, but it {now}",
                hint="Read the file again, reapply your change and write it with the new sha.",
            )
        return entry

    def _write_sync(self, path: str, content: bytes, message: str, expected_sha: str | None) -> Commit | None:
        path, message = check_path(path), check_message(message, self.known_secrets)
        content = check_content(content, path, self.known_secrets)
        with self._locked():
            self._check_expected(path, expected_sha)
            return self._commit_sync({path: content}, message)

    def _write_many_sync(self, files: Mapping[str, bytes | None], message: str) -> Commit | None:
        message = check_message(message, self.known_secrets)
        changes = {
            check_path(p): (None if c is None else check_content(c, p, self.known_secrets)) for p, c in files.items()
        }
        with self._locked():
            return self._commit_sync(changes, message)

    def _delete_sync(self, path: str, message: str, expected_sha: str | None) -> Commit:
        path, message = check_path(path), check_message(message, self.known_secrets)
        with self._locked():
            if self._check_expected(path, expected_sha) is None:
                raise NotFound(f"{path!r} does not exist in {self.description}", hint="Nothing to delete.")
            commit = self._commit_sync({path: None}, message)
            assert commit is not None
            return commit

    def _history_sync(self, path: str | None, limit: int) -> builtins.list[Commit]:
        if path is not None:
            check_path(path, allow_reserved=True)
        if limit < 1 or not self._has_commits():
            return []
        paths = [path] if path else []
        return _parse_log(self._git("log", f"-n{int(limit)}", _FORMAT, self.branch, "--", *paths).stdout)

    # -- the TruthSource API ------------------------------------------------------------
    async def read(self, path: str) -> bytes:
        return await self._run(self._read_or_raise, path)

    async def get(self, path: str) -> TruthFile | None:
        return await self._run(self._get_sync, path)

    async def list(self, prefix: str = "") -> builtins.list[str]:
        return await self._run(self._list_sync, check_prefix(prefix))

    async def write(self, path: str, content: bytes, message: str, *, expected_sha: str | None = None) -> Commit | None:
        return await self._run(self._write_sync, path, content, message, expected_sha)

    async def write_many(self, files: Mapping[str, bytes | None], message: str) -> Commit | None:
        return await self._run(self._write_many_sync, files, message)

    async def delete(self, path: str, message: str, *, expected_sha: str | None = None) -> Commit:
        return await self._run(self._delete_sync, path, message, expected_sha)

    async def history(self, path: str | None = None, limit: int = 20) -> builtins.list[Commit]:
        return await self._run(self._history_sync, path, limit)

    async def create_issue(self, title: str, body: str = "", labels: Iterable[str] = ()) -> Issue:
        return await self._run(self.create_issue_sync, title, body, list(labels))

    async def get_issue(self, number: int) -> Issue:
        return await self._run(self.get_issue_sync, number)

    async def list_issues(self, labels: Iterable[str] = (), state: IssueState | str = "open") -> builtins.list[Issue]:
        return await self._run(self.list_issues_sync, list(labels), state)

    async def comment(self, number: int, body: str) -> IssueComment:
        return await self._run(self.comment_sync, number, body)

    async def list_comments(self, number: int) -> builtins.list[IssueComment]:
        return await self._run(self.list_comments_sync, number)

    async def set_labels(self, number: int, labels: Iterable[str]) -> Issue:
        return await self._run(self.set_labels_sync, number, list(labels))

    async def add_labels(self, number: int, labels: Iterable[str]) -> Issue:
        return await self._run(self.add_labels_sync, number, list(labels))

    async def remove_label(self, number: int, label: str) -> Issue:
        return await self._run(self.remove_label_sync, number, label)

    async def close_issue(self, number: int) -> Issue:
        return await self._run(self.close_issue_sync, number)

    async def aclose(self) -> None:
        return None
