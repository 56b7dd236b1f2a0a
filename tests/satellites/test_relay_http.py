"""The relay behind Nexus's HTTP endpoint: a 2025-11-25 session is asked on the call's own stream, a
2026-07-28 client by `input_required` rounds, and a stateless 2025-11-25 client is refused with a reason.

Real transports: `nexus serve --http` in a thread, a real SDK client over streamable HTTP, the satellite
(an MCP SDK 2.x server asking through resolvers) over stdio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from nexus_agent.config import Settings
from nexus_agent.testing import serve_nexus_in_thread
from tests.satellites.interop_nexus import SAMPLED_ANSWER, AnsweringClient, register_stdio_satellite, text_of
from tests.satellites.test_relay_modern_satellite import asker  # noqa: F401  (the satellite fixture)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

OWNER_TOKEN = "warren-owner-token-0123456789abcdef"


@asynccontextmanager
async def nexus_over_http(home: Path, mode: str, answers: AnsweringClient, **env: str) -> AsyncIterator[Client]:
    # The owner may register a stdio command over HTTP only when allowed (docs/security.md).
    base = {"NEXUS_HOME": str(home), "NEXUS_DB_SYNC": "normal", "NEXUS_TOKENS": f"warren:owner={OWNER_TOKEN}"}
    settings = Settings.load({**base, "NEXUS_ALLOW_REMOTE_COMMANDS": "true", **env})
    with serve_nexus_in_thread(settings) as url:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {OWNER_TOKEN}"})
        async with (
            http,
            Client(streamable_http_client(f"{url}/mcp", http_client=http), mode=mode, **answers.callbacks()) as client,
        ):
            yield client


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_the_http_client_of_the_call_is_asked(tmp_path: Path, asker: list[str], mode: str) -> None:  # noqa: F811
    answers = AnsweringClient()
    with anyio.fail_after(60):
        async with nexus_over_http(tmp_path / "nexus", mode, answers) as client:
            await register_stdio_satellite(client, "asker", asker)
            summary = await client.call_tool("asker__summarise", {"topic": "open quotes"})
            roots = await client.call_tool("asker__where", {})
    assert text_of(summary) == f"summary of open quotes: {SAMPLED_ANSWER}"
    assert answers.sampled == ["Summarise open quotes"]
    assert text_of(roots) == f"roots: {answers.root}"


async def test_a_stateless_handshake_client_is_refused_with_a_reason(tmp_path: Path, asker: list[str]) -> None:  # noqa: F811
    answers = AnsweringClient()
    with anyio.fail_after(60):
        async with nexus_over_http(tmp_path / "nexus", "legacy", answers, NEXUS_HTTP_STATELESS="true") as client:
            await register_stdio_satellite(client, "asker", asker)
            refused = await client.call_tool("asker__summarise", {"topic": "open quotes"})
    assert refused.is_error
    assert "(protocol 2025-11-25) has no channel for a server's requests" in text_of(refused)
    assert answers.sampled == []
