"""Behaviour only the local git truth source has: the repository on disk, git's isolation, locking."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import anyio
import pytest

from nexus_agent.truth import LocalGitTruthSource
from nexus_agent.wire.errors import ConfigError, InvalidInput

pytestmark = pytest.mark.anyio


def git(repo: Path, *args: str) -> str:
    env = {"PATH": os.environ["PATH"], "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, env=env).stdout


async def test_the_repository_is_created_on_first_use_on_branch_main(tmp_path: Path) -> None:
    folder = tmp_path / "home" / "truth"
    source = LocalGitTruthSource(folder)
    assert not folder.exists()
    assert await source.list() == ["README.md"]
    assert (folder / ".git").is_dir()
    assert git(folder, "symbolic-ref", "--short", "HEAD").strip() == "main"
    assert git(folder, "log", "--format=%s").splitlines() == ["Create the Nexus truth source"]
    assert "registry/apps/<slug>.json" in (await source.read("README.md")).decode()


async def test_every_change_is_one_commit_with_the_callers_message(local_truth: LocalGitTruthSource) -> None:
    await local_truth.write("registry/apps/quote-engine.json", b"{}\n", "Register quote-engine")
    await local_truth.write_many({"a.txt": b"a", "b.txt": b"b"}, "Add a and b\n\nRequested by owner.")
    await local_truth.delete("a.txt", "Remove a")
    issue = await local_truth.create_issue("[Registration] Quote Engine", "", ["registration"])
    await local_truth.comment(issue.number, "ok")
    await local_truth.add_labels(issue.number, ["approved"])
    await local_truth.close_issue(issue.number)
    subjects = git(local_truth.root, "log", "--format=%s").splitlines()
    assert subjects == [
        "Close issue #1: [Registration] Quote Engine",
        "Label issue #1: +approved",
        "Comment on issue #1",
        "Open issue #1: [Registration] Quote Engine",
        "Remove a",
        "Add a and b",
        "Register quote-engine",
        "Create the Nexus truth source",
    ]
    assert git(local_truth.root, "log", "-1", "--skip=5", "--format=%B").strip().endswith("Requested by owner.")
    assert git(local_truth.root, "log", "-1", "--format=%an <%ae>").strip() == "Nexus Test <nexus@test.invalid>"
    assert git(local_truth.root, "status", "--porcelain") == ""


async def test_a_message_starting_with_a_hash_is_kept(local_truth: LocalGitTruthSource) -> None:
    commit = await local_truth.write("x.txt", b"x", "#12 follow-up")
    assert commit is not None and commit.message == "#12 follow-up"


async def test_it_works_with_no_global_git_config_and_ignores_hostile_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "empty-home"
    home.mkdir()
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "somewhere-else"))  # inherited GIT_* must not redirect git
    source = LocalGitTruthSource(tmp_path / "truth")
    assert await source.write("a.txt", b"a", "Add a") is not None

    # a user config that would break commits: a failing hook and mandatory signing
    hooks = home / "hooks"
    hooks.mkdir()
    (hooks / "pre-commit").write_text("#!/bin/sh\nexit 1\n")
    (hooks / "pre-commit").chmod(0o755)
    (home / ".gitconfig").write_text(f"[core]\n\thooksPath = {hooks}\n[commit]\n\tgpgsign = true\n")
    assert await source.write("b.txt", b"b", "Add b") is not None
    assert await source.list() == ["README.md", "a.txt", "b.txt"]


async def test_a_missing_git_program_is_a_config_error(tmp_path: Path) -> None:
    source = LocalGitTruthSource(tmp_path / "truth", git=str(tmp_path / "no-such-git"))
    with pytest.raises(ConfigError) as caught:
        await source.list()
    assert "git" in caught.value.message and "NEXUS_TRUTH=github" in (caught.value.hint or "")


async def test_a_non_empty_folder_that_is_not_a_repository_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "truth"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="is not a git repository"):
        await LocalGitTruthSource(folder).list()


async def test_a_repository_on_another_branch_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "truth"
    await LocalGitTruthSource(folder).list()
    git(folder, "checkout", "-q", "-b", "experiment")
    with pytest.raises(ConfigError, match="experiment"):
        await LocalGitTruthSource(folder).list()


async def test_a_repository_on_master_gets_a_hint_that_works(tmp_path: Path) -> None:
    folder = tmp_path / "truth"
    folder.mkdir()
    git(folder, "init", "-q")
    git(folder, "symbolic-ref", "HEAD", "refs/heads/master")
    (folder / "README.md").write_text("mine\n")
    git(folder, "add", "README.md")
    git(folder, "-c", "user.name=o", "-c", "user.email=o@x.test", "commit", "-q", "-m", "first")
    with pytest.raises(ConfigError, match="has master checked out, not main") as caught:
        await LocalGitTruthSource(folder).list()
    hint = caught.value.hint or ""
    assert "checkout main" not in hint  # there is no main to check out
    assert "NEXUS_TRUTH_BRANCH=master" in hint
    assert await LocalGitTruthSource(folder, branch="master").list() == ["README.md"]  # what the setting does
    assert f"`git -C {folder} branch -m master main`" in hint
    git(folder, "branch", "-m", "master", "main")  # the other fix the hint gives works too
    assert await LocalGitTruthSource(folder).list() == ["README.md"]


async def test_an_existing_empty_repository_gets_a_first_commit(tmp_path: Path) -> None:
    folder = tmp_path / "truth"
    folder.mkdir()
    git(folder, "init", "-q")
    git(folder, "symbolic-ref", "HEAD", "refs/heads/main")
    assert await LocalGitTruthSource(folder).list() == ["README.md"]


async def test_uncommitted_edits_are_not_read(local_truth: LocalGitTruthSource) -> None:
    await local_truth.write("a.txt", b"committed", "Add a")
    (local_truth.root / "a.txt").write_bytes(b"edited by hand")
    assert await local_truth.read("a.txt") == b"committed"


async def test_a_symlinked_folder_cannot_lead_writes_outside(tmp_path: Path, local_truth: LocalGitTruthSource) -> None:
    await local_truth.list()
    outside = tmp_path / "outside"
    outside.mkdir()
    (local_truth.root / "escape").symlink_to(outside)
    with pytest.raises(InvalidInput, match="symlink"):
        await local_truth.write("escape/x.txt", b"x", "escape")
    assert list(outside.iterdir()) == []


async def test_writing_over_a_folder_is_refused(local_truth: LocalGitTruthSource) -> None:
    await local_truth.write("a/b.txt", b"b", "Add a/b")
    with pytest.raises(InvalidInput, match="folder"):
        await local_truth.write("a", b"a", "a file where a folder is")
    with pytest.raises(InvalidInput):
        await local_truth.write("a/b.txt/c", b"c", "a folder where a file is")
    assert git(local_truth.root, "status", "--porcelain") == ""


async def test_two_sources_on_one_folder_take_turns(tmp_path: Path) -> None:
    folder = tmp_path / "truth"
    first, second = LocalGitTruthSource(folder), LocalGitTruthSource(folder)
    await first.list()

    async def writes(source: LocalGitTruthSource, name: str) -> None:
        for i in range(5):
            await source.write(f"{name}/{i}.txt", f"{name}{i}".encode(), f"{name} {i}")

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(writes, first, "one")
            tg.start_soon(writes, second, "two")
    assert len(await first.list()) == 11
    assert len(git(folder, "log", "--format=%s").splitlines()) == 11


def test_repr_names_the_folder(tmp_path: Path) -> None:
    assert str(tmp_path) in repr(LocalGitTruthSource(tmp_path / "truth"))


async def test_git_runs_without_any_of_nexus_s_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "nexus-owner-token-0123456789abcdef"
    monkeypatch.setenv("NEXUS_TOKENS", f"boss:owner={secret}")
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere"))
    seen = tmp_path / "seen-env"
    wrapper = tmp_path / "bin" / "git"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nenv >> "{seen}"\nexec "{shutil.which("git")}" "$@"\n')
    wrapper.chmod(0o755)
    source = LocalGitTruthSource(tmp_path / "truth", git=str(wrapper))
    assert await source.write("a.txt", b"a", "Add a") is not None
    assert await source.list() == ["README.md", "a.txt"]
    recorded = seen.read_text()
    assert "PATH=" in recorded
    assert secret not in recorded and "NEXUS_TOKENS" not in recorded and "GIT_DIR" not in recorded
