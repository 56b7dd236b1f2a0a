"""Interop: the reference server `@modelcontextprotocol/server-everything` (npm, not ours) behind Nexus.

Nexus runs as `nexus serve` over stdio, as a desktop client launches it; server-everything is registered as
a stdio satellite. Every tool it lists reaches the client through Nexus, including the sampling,
elicitation and roots tools, which a real SDK client answers through Nexus's relay.

Needs Node.js 18+ and npm: the pinned server-everything is installed once into ~/.cache/nexus-tests
(``NEXUS_TEST_CACHE`` moves it). Without them the tests skip, except under CI=true, where they fail
(.ci/provide installs Node.js and npm).
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.satellites.interop_nexus import (
    ELICITED,
    SAMPLED_ANSWER,
    AnsweringClient,
    nexus_client,
    register_stdio_satellite,
    text_of,
    tools_of,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

EVERYTHING_VERSION = "2026.8.31"
PACKAGE = "@modelcontextprotocol/server-everything"
RELAYED_TOOLS = {"trigger-sampling-request", "trigger-elicitation-request", "trigger-url-elicitation", "get-roots-list"}


def _unavailable(reason: str) -> None:
    how = (
        "Install Node.js 18+ and npm (Debian: apt-get install nodejs npm, or run .ci/provide); the test then "
        f"installs {PACKAGE}@{EVERYTHING_VERSION} once into ~/.cache/nexus-tests."
    )
    if os.environ.get("CI"):  # CI provides node and npm (.ci/provide): missing there is a broken set-up
        pytest.fail(f"server-everything interop cannot run under CI: {reason}. {how}")
    pytest.skip(f"server-everything interop: {reason}. {how}")


def _node_major(node: str) -> int:
    out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30, check=False).stdout
    try:
        return int(out.strip().lstrip("v").split(".")[0])
    except ValueError:
        return 0


def provide_everything() -> Path:
    """The pinned server-everything's entry point, installed into the test cache on first use."""
    cache = Path(os.environ.get("NEXUS_TEST_CACHE") or Path.home() / ".cache" / "nexus-tests")
    target = cache / f"server-everything-{EVERYTHING_VERSION}"
    entry = target / "node_modules" / PACKAGE / "dist" / "index.js"
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unavailable("node or npm is not on PATH")
    assert node is not None and npm is not None
    if _node_major(node) < 18:
        _unavailable(f"{node} is older than Node.js 18")
    if entry.exists():
        return entry
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=cache, prefix=".installing-"))
    command = [npm, "install", "--prefix", str(staging), "--no-audit", "--no-fund", f"{PACKAGE}@{EVERYTHING_VERSION}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        _unavailable(f"npm install failed: {done.stderr.strip()[-500:]}")
    try:
        staging.rename(target)  # atomic: a concurrent run that won the race keeps its copy
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    return entry


@pytest.fixture(scope="module")
def everything() -> list[str]:
    return ["node", str(provide_everything()), "stdio"]


def _arguments() -> dict[str, dict[str, Any]]:
    """Arguments for each ordinary tool (all of them: a tool missing here fails the test, so none is skipped)."""
    data = "data:text/plain;base64," + base64.b64encode(b"stock levels, Leeds depot\n" * 20).decode()
    return {
        "echo": {"message": "hello through Nexus"},
        "get-annotated-message": {"messageType": "success", "includeImage": True},
        "get-env": {},
        "get-resource-links": {"count": 2},
        "get-resource-reference": {"resourceType": "Text", "resourceId": 2},
        "get-structured-content": {"location": "Chicago"},
        "get-sum": {"a": 19, "b": 23},
        "get-tiny-image": {},
        "gzip-file-as-resource": {"name": "stock.txt.gz", "data": data, "outputType": "resource"},
        "toggle-simulated-logging": {},
        "toggle-subscriber-updates": {},
        "trigger-long-running-operation": {"duration": 0.2, "steps": 2},
    }


async def _direct_tools(command: list[str], answers: AnsweringClient) -> dict[str, Any]:
    """What server-everything lists to a client that declares sampling, elicitation and roots (as Nexus does)."""
    params = StdioServerParameters(command=command[0], args=command[1:])
    async with Client(params, mode="legacy", **answers.callbacks()) as direct:
        return {t.name: t for t in (await direct.list_tools()).tools}


async def test_every_tool_of_server_everything_works_through_nexus(tmp_path: Path, everything: list[str]) -> None:
    answers = AnsweringClient()
    with anyio.fail_after(120):
        direct = await _direct_tools(everything, answers)
        task_only = {n for n, t in direct.items() if t.execution and t.execution.task_support == "required"}
        async with nexus_client(tmp_path / "nexus", answers=answers) as client:
            assert client.protocol_version == "2025-11-25"  # what desktop clients speak today
            await register_stdio_satellite(client, "everything", everything)
            tools = await tools_of(client, "everything")

            # The whole list, less the tools that run only as tasks (the MCP SDK 2.3.0 has no tasks protocol).
            assert "simulate-research-query" in task_only
            assert set(tools) == set(direct) - task_only
            assert set(tools) >= RELAYED_TOOLS
            assert all(tools[n].input_schema == direct[n].input_schema for n in tools)

            ordinary = _arguments()
            assert set(tools) - RELAYED_TOOLS == set(ordinary)
            for name, arguments in ordinary.items():
                result = await client.call_tool(f"everything__{name}", arguments)
                assert not result.is_error, (name, result.content)
            assert "42" in text_of(await client.call_tool("everything__get-sum", {"a": 19, "b": 23}))
            structured = await client.call_tool("everything__get-structured-content", {"location": "Chicago"})
            assert structured.structured_content is not None and "temperature" in structured.structured_content
            assert "hello through Nexus" in text_of(
                await client.call_tool("everything__echo", {"message": "hello through Nexus"})
            )

            sampled = await client.call_tool(
                "everything__trigger-sampling-request", {"prompt": "What is six times seven?"}
            )
            assert not sampled.is_error, sampled.content
            assert SAMPLED_ANSWER in text_of(sampled)
            assert answers.sampled == ["Resource trigger-sampling-request context: What is six times seven?"]

            elicited = await client.call_tool("everything__trigger-elicitation-request", {})
            assert not elicited.is_error, elicited.content
            assert ELICITED["name"] in text_of(elicited)
            assert answers.elicited[0].startswith("[everything] ")  # the user sees which satellite asks

            url = await client.call_tool("everything__trigger-url-elicitation", {"url": "https://sfg.example.test/ok"})
            assert not url.is_error, url.content
            assert len(answers.elicited) == 2

            roots = await client.call_tool("everything__get-roots-list", {})
            assert not roots.is_error, roots.content
            assert answers.root in text_of(roots)
            assert answers.roots_asked >= 1


async def test_a_client_on_2026_07_28_answers_by_rounds(tmp_path: Path, everything: list[str]) -> None:
    """No channel back on 2026-07-28: the questions come as `input_required`, the SDK client answers and retries."""
    answers = AnsweringClient()
    with anyio.fail_after(90):
        async with nexus_client(tmp_path / "nexus", mode="auto", answers=answers) as client:
            assert client.protocol_version == "2026-07-28"
            await register_stdio_satellite(client, "everything", everything)
            assert set(await tools_of(client, "everything")) >= RELAYED_TOOLS
            sampled = await client.call_tool("everything__trigger-sampling-request", {"prompt": "Six times seven?"})
            elicited = await client.call_tool("everything__trigger-elicitation-request", {})
            roots = await client.call_tool("everything__get-roots-list", {})
    assert SAMPLED_ANSWER in text_of(sampled) and answers.sampled == [
        "Resource trigger-sampling-request context: Six times seven?"
    ]
    assert ELICITED["name"] in text_of(elicited) and answers.elicited[0].startswith("[everything] ")
    assert answers.root in text_of(roots)


async def test_a_client_that_cannot_answer_is_refused_with_a_reason(tmp_path: Path, everything: list[str]) -> None:
    """Fail closed: the satellite hears why, the client gets the satellite's error, nobody is asked anything."""
    with anyio.fail_after(90):
        async with nexus_client(tmp_path / "nexus") as client:  # declares no sampling, elicitation or roots
            await register_stdio_satellite(client, "everything", everything)
            echoed = await client.call_tool("everything__echo", {"message": "still fine"})
            refused = await client.call_tool("everything__trigger-sampling-request", {"prompt": "anyone there?"})
    assert "still fine" in text_of(echoed)
    assert refused.is_error
    assert "the calling client does not support sampling" in text_of(refused)


async def test_a_request_that_could_belong_to_two_calls_is_refused_not_guessed(
    tmp_path: Path, everything: list[str]
) -> None:
    answers = AnsweringClient()
    started = anyio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        started.set()

    with anyio.fail_after(90):
        async with nexus_client(tmp_path / "nexus", answers=answers) as client:
            await register_stdio_satellite(client, "everything", everything)
            async with anyio.create_task_group() as tg:
                long_op = {"duration": 3, "steps": 30}
                tg.start_soon(
                    lambda: client.call_tool(
                        "everything__trigger-long-running-operation", long_op, progress_callback=on_progress
                    )
                )
                await started.wait()  # the long call is in progress on the same stdio connection
                refused = await client.call_tool("everything__trigger-sampling-request", {"prompt": "whose?"})
            assert refused.is_error
            assert "2 tool calls are in progress" in text_of(refused)
            assert answers.sampled == []
            alone = await client.call_tool("everything__trigger-sampling-request", {"prompt": "and now?"})
            assert not alone.is_error and SAMPLED_ANSWER in text_of(alone)
