"""An attacker's cases against the gateway fast path's legacy branch: each is answered as the normal path answers.

Two real Nexus HTTP servers (fast path on and off) in front of one real fake legacy app; plain JSON-RPC POSTs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp.server import MCPServer
from mcp.shared.exceptions import MCPError
from mcp.types import ToolAnnotations

from nexus_agent.config import Settings
from nexus_agent.testing import serve_in_thread, serve_nexus_in_thread
from tests.nexus_agent.test_gateway_legacy import (
    ACTION,
    ENV,
    OWNER,
    QUERY,
    SECRET,
    VERSION,
    _app,
    _same,
    fast_path_count,
    raw_call,
    registered,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SATELLITE = "satellite-token-0123456789abcdef"  # scoped to the very app it calls


def nexus(tmp_path: Path, name: str, fast: bool) -> Any:
    env = {
        "NEXUS_HOME": str(tmp_path / name),
        "NEXUS_DB_SYNC": "normal",
        "NEXUS_TOKENS": f"owner={OWNER},ledger:satellite:stock-ledger={SATELLITE}",
        "NEXUS_GATEWAY_FASTPATH": "true" if fast else "false",
    }
    return serve_nexus_in_thread(Settings.load(env), secrets={ENV: SECRET})


async def mismatched_call(http: httpx2.AsyncClient, base: str, header_name: str, body_name: str) -> Any:
    """A POST whose Mcp-Name header names a read-only tool while the body calls another."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": VERSION,
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    arguments = {"sku": "EXT-6063-50x50", "qty": 1, "order_id": "O-9"}
    body = {
        "jsonrpc": "2.0",
        "id": 9,
        "method": "tools/call",
        "params": {"name": body_name, "arguments": arguments, "_meta": meta},
    }
    headers = {
        "authorization": f"Bearer {OWNER}",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": VERSION,
        "mcp-method": "tools/call",
        "mcp-name": header_name,
    }
    with anyio.fail_after(30):
        response = await http.post(f"{base}/mcp", json=body, headers=headers)
    return response.status_code, response.json()


async def test_a_scoped_satellite_and_a_mismatched_name_get_the_normal_paths_answer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="nexus.gateway")
    with _app() as app, nexus(tmp_path, "fast", True) as fast, nexus(tmp_path, "slow", False) as slow:
        async with registered((fast, slow), app) as http:
            # A satellite's token calls a read-only message of its own app: satellites call no satellite tools.
            got = await raw_call(http, fast, SATELLITE, QUERY, {"sku": "EXT-6063-50x50"})
            want = await raw_call(http, slow, SATELLITE, QUERY, {"sku": "EXT-6063-50x50"})
            assert _same(got) == _same(want) and got["isError"] and "forbidden" in str(got)
            # The header names a query; the body calls an action: never the fast path, never sent unapproved.
            got_mismatch = await mismatched_call(http, fast, QUERY, ACTION)
            want_mismatch = await mismatched_call(http, slow, QUERY, ACTION)
            assert _same(got_mismatch) == _same(want_mismatch)
    assert fast_path_count(caplog) == 0
    assert [m.type for m in app.messages if (m.type or "").startswith("action.")] == []


GITHUB_TOKEN = "ghp_" + "Zx9Qw2Er4Ty6Ui8Op0As1Df3Gh5Jk7Lz2Xc4V"


def erring_satellite() -> Any:
    """A real SDK satellite whose tool fails with a JSON-RPC error that quotes a credential."""
    server = MCPServer("erring-sat")

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def deploy_status() -> str:
        raise MCPError(-32603, f"git fetch failed with token {GITHUB_TOKEN}: 403")

    return server.streamable_http_app()


async def test_a_satellites_error_that_quotes_a_secret_reaches_no_client(tmp_path: Path) -> None:
    """A satellite's answer carrying a secret is withheld; its error message must not carry one out either."""
    with (
        serve_in_thread(erring_satellite()) as sat_url,
        nexus(tmp_path, "fast", True) as fast,
        nexus(tmp_path, "slow", False) as slow,
    ):
        record = {
            "slug": "erring-sat",
            "name": "Erring",
            "status": "active",
            "endpoints": {"mcp_url": f"{sat_url}/mcp"},
        }
        async with httpx2.AsyncClient(timeout=30) as http:
            answers = []
            for base in (fast, slow):
                assert not (await raw_call(http, base, OWNER, "registry_register", {"record": record}))["isError"]
                assert not (await raw_call(http, base, OWNER, "satellite_tools_list", {"app": "erring-sat"}))["isError"]
                answers.append(await raw_call(http, base, OWNER, "erring-sat__deploy_status", {}))
    got, want = answers
    assert _same(got) == _same(want)
    assert got["isError"] and "git fetch failed" in str(got) and GITHUB_TOKEN not in str(got)
