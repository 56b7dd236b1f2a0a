"""Interop: the PyPI server `mcp-server-git` (not ours; in the [test] extras) behind Nexus, over a throwaway repo.

Nexus runs as `nexus serve` over stdio; mcp-server-git is registered as a stdio satellite and speaks
2026-07-28 to Nexus. Its whole tool list reaches the client, and every tool works on a real repository
(checked with the git command line, not only by the tools' own answers).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.satellites.interop_nexus import nexus_client, register_stdio_satellite, text_of, tools_of

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("the git command line is not installed")
    path = tmp_path / "quotes-repo"
    path.mkdir()
    _git(path, "init", "-q", "-b", "main")
    _git(path, "config", "user.email", "nexus-tests@example.test")
    _git(path, "config", "user.name", "Nexus Tests")
    (path / "quotes.csv").write_text("id,value\nQ1,30000\n")
    _git(path, "add", "quotes.csv")
    _git(path, "commit", "-q", "-m", "First quotes")
    return path


def git_server(repo: Path) -> list[str]:
    return [sys.executable, "-m", "mcp_server_git", "--repository", str(repo)]


async def _direct_tool_names(repo: Path) -> set[str]:
    command = git_server(repo)
    async with Client(StdioServerParameters(command=command[0], args=command[1:])) as direct:
        return {t.name for t in (await direct.list_tools()).tools}


async def test_every_tool_of_mcp_server_git_works_through_nexus(tmp_path: Path, repo: Path) -> None:
    at = {"repo_path": str(repo)}
    with anyio.fail_after(120):
        direct = await _direct_tool_names(repo)
        async with nexus_client(tmp_path / "nexus") as client:
            await register_stdio_satellite(client, "git", git_server(repo))
            tools = await tools_of(client, "git")
            assert set(tools) == direct
            assert tools["git_status"].annotations and tools["git_status"].annotations.read_only_hint

            async def call(name: str, **arguments: object) -> str:
                result = await client.call_tool(f"git__{name}", {**at, **arguments})
                assert not result.is_error, (name, result.content)
                return text_of(result)

            assert "nothing to commit" in await call("git_status")
            (repo / "quotes.csv").write_text("id,value\nQ1,30000\nQ2,12000\n")
            assert "+Q2,12000" in await call("git_diff_unstaged")
            await call("git_add", files=["quotes.csv"])
            assert "+Q2,12000" in await call("git_diff_staged", context_lines=1)
            await call("git_commit", message="Add quote Q2")
            assert _git(repo, "log", "-1", "--format=%s").strip() == "Add quote Q2"
            assert "Add quote Q2" in await call("git_log", max_count=5)
            assert "+Q2,12000" in await call("git_show", revision="HEAD")
            assert "+Q2,12000" in await call("git_diff", target="HEAD~1")
            await call("git_create_branch", branch_name="survey-fixes")
            await call("git_checkout", branch_name="survey-fixes")
            assert _git(repo, "branch", "--show-current").strip() == "survey-fixes"
            assert "survey-fixes" in await call("git_branch", branch_type="local")
            (repo / "notes.txt").write_text("site survey\n")
            await call("git_add", files=["notes.txt"])
            await call("git_reset")
            assert _git(repo, "diff", "--cached", "--name-only").strip() == ""
            covered = {
                "git_status", "git_diff_unstaged", "git_add", "git_diff_staged", "git_commit", "git_log", "git_show",
                "git_diff", "git_create_branch", "git_checkout", "git_branch", "git_reset",
            }  # fmt: skip
            assert covered == set(tools)  # a tool added in a later release fails here until it is exercised


async def test_a_2026_client_lists_and_calls_mcp_server_git_through_nexus(tmp_path: Path, repo: Path) -> None:
    with anyio.fail_after(90):
        direct = await _direct_tool_names(repo)
        async with nexus_client(tmp_path / "nexus", mode="auto") as client:
            assert client.protocol_version == "2026-07-28"
            await register_stdio_satellite(client, "git", git_server(repo))
            assert set(await tools_of(client, "git")) == direct
            log = await client.call_tool("git__git_log", {"repo_path": str(repo)})
    assert not log.is_error and "First quotes" in text_of(log)
