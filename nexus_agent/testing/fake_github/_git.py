"""An in-memory git object store with real git ids, for the fake GitHub.

Blobs, trees and commits hash exactly as git hashes them, so a blob sha from the
fake equals ``git hash-object`` and the truth sources can compare shas across
implementations. A tree is kept as a flat snapshot ``{path: blob sha}``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["GitCommit", "GitStore", "object_sha"]


def object_sha(kind: str, body: bytes) -> str:
    return hashlib.sha1(f"{kind} {len(body)}\x00".encode() + body, usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class GitCommit:
    sha: str
    tree: str
    parents: tuple[str, ...]
    message: str
    author: dict[str, str]
    committer: dict[str, str]


def _stamp(person: dict[str, str]) -> bytes:
    when = datetime.fromisoformat(person["date"].replace("Z", "+00:00"))
    return f"{person['name']} <{person['email']}> {int(when.timestamp())} +0000".encode()


@dataclass
class GitStore:
    blobs: dict[str, bytes] = field(default_factory=dict)
    trees: dict[str, dict[str, str]] = field(default_factory=dict)
    commits: dict[str, GitCommit] = field(default_factory=dict)

    def put_blob(self, content: bytes) -> str:
        sha = object_sha("blob", content)
        self.blobs[sha] = content
        return sha

    def put_tree(self, snapshot: dict[str, str]) -> str:
        """Store a flat snapshot (and every sub-folder of it); return its git tree id."""
        files: dict[str, str] = {}
        folders: dict[str, dict[str, str]] = {}
        for path, sha in snapshot.items():
            head, sep, rest = path.partition("/")
            if sep:
                folders.setdefault(head, {})[rest] = sha
            else:
                files[head] = sha
        entries = [(name, b"100644", sha) for name, sha in files.items()]
        entries += [(name, b"40000", self.put_tree(sub)) for name, sub in folders.items()]
        # git orders entries by name, comparing a folder's name as if it ended in '/'
        entries.sort(key=lambda e: e[0].encode() + (b"/" if e[1] == b"40000" else b""))
        body = b"".join(mode + b" " + name.encode() + b"\x00" + bytes.fromhex(sha) for name, mode, sha in entries)
        sha = object_sha("tree", body)
        self.trees[sha] = dict(snapshot)
        return sha

    def put_commit(
        self, tree: str, parents: list[str], message: str, author: dict[str, str], committer: dict[str, str]
    ) -> GitCommit:
        lines = [f"tree {tree}".encode(), *(f"parent {p}".encode() for p in parents)]
        lines += [b"author " + _stamp(author), b"committer " + _stamp(committer), b"", message.encode()]
        sha = object_sha("commit", b"\n".join(lines))
        commit = GitCommit(sha, tree, tuple(parents), message, dict(author), dict(committer))
        self.commits[sha] = commit
        return commit

    def snapshot(self, commit_sha: str | None) -> dict[str, str]:
        return {} if commit_sha is None else dict(self.trees[self.commits[commit_sha].tree])

    def folders(self, snapshot: dict[str, str]) -> dict[str, str]:
        """Every folder of ``snapshot`` with its tree id."""
        out: dict[str, str] = {}
        for path in snapshot:
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                folder = "/".join(parts[:i])
                if folder not in out:
                    prefix = folder + "/"
                    out[folder] = self.put_tree(
                        {p[len(prefix) :]: s for p, s in snapshot.items() if p.startswith(prefix)}
                    )
        return out

    def first_parent_log(self, sha: str | None) -> list[GitCommit]:
        out = []
        while sha is not None:
            commit = self.commits[sha]
            out.append(commit)
            sha = commit.parents[0] if commit.parents else None
        return out

    def is_ancestor(self, ancestor: str, sha: str) -> bool:
        todo, seen = [sha], set()
        while todo:
            current = todo.pop()
            if current == ancestor:
                return True
            if current not in seen and current in self.commits:
                seen.add(current)
                todo.extend(self.commits[current].parents)
        return False

    @staticmethod
    def touches(before: dict[str, str], after: dict[str, str], path: str) -> bool:
        """Whether ``path`` (a file or a folder) differs between two snapshots."""
        prefix = path + "/"

        def pick(snap: dict[str, str]) -> dict[str, str]:
            return {p: s for p, s in snap.items() if p == path or p.startswith(prefix)}

        return pick(before) != pick(after)
