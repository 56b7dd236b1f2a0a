"""Tool calls made over stdio (a desktop client's `nexus serve`) count in `nexus metrics` too."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from nexus_agent.cli import main

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_calls_over_stdio_are_in_the_figures_after_the_server_exits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"NEXUS_HOME": str(tmp_path / "home"), "NEXUS_DB_SYNC": "normal"}
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "nexus_agent", "serve"], env={**os.environ, **env}
    )
    with anyio.fail_after(60):
        async with Client(params) as client:
            assert not (await client.call_tool("nexus_health", {})).is_error
            assert not (await client.call_tool("memory_remember", {"text": "Leeds depot survey booked"})).is_error
            assert (await client.call_tool("registry_get", {"slug": "no-such-app"})).is_error
    assert main(["metrics", "--json"], env=env) == 0
    figures = json.loads(capsys.readouterr().out)
    assert (figures["tool_calls"], figures["tool_errors"]) == (3, 1)
