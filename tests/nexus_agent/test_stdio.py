"""A real `nexus serve` subprocess over stdio, as a desktop client launches it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def _params(home: Path) -> StdioServerParameters:
    env = {**os.environ, "NEXUS_HOME": str(home), "NEXUS_DB_SYNC": "normal"}
    return StdioServerParameters(command=sys.executable, args=["-m", "nexus_agent", "serve"], env=env)


async def test_stdio_server_lists_tools_and_persists_across_restarts(tmp_path: Path) -> None:
    with anyio.fail_after(30):
        async with Client(_params(tmp_path)) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert {"registry_register", "memory_remember", "gaps_analyse"} <= names
            decision = await client.call_tool(
                "memory_log_decision",
                {"decision": "Pause the glazing scheduler rollout", "rationale": "fitters on holiday in August"},
            )
            assert not decision.is_error
        async with Client(_params(tmp_path)) as client:
            found = await client.call_tool("memory_search", {"query": "glazing scheduler", "kinds": ["decision"]})
    assert found.structured_content["hits"][0]["id"] == decision.structured_content["id"]


async def test_stdio_server_answers_bad_input_without_dying(tmp_path: Path) -> None:
    with anyio.fail_after(30):
        async with Client(_params(tmp_path)) as client:
            bad = await client.call_tool("registry_get", {"slug": "NOT A SLUG"})
            assert bad.is_error and "slug" in bad.content[0].text
            still_alive = await client.call_tool("nexus_health", {})
            assert still_alive.structured_content["status"] == "ok"
