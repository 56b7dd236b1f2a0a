"""Satellites' resources and prompts reach Nexus's clients, namespaced like tools, over real HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server import MCPServer
from mcp.types import TextResourceContents

from nexus_agent.config import Settings
from nexus_agent.testing import serve_in_thread, serve_nexus_in_thread

pytestmark = pytest.mark.anyio
NEXUS_TOKEN = "nexus-token-0123456789abcdef"


def stock_satellite() -> MCPServer:
    server = MCPServer("stock")

    @server.resource("stock://levels/{site}", name="levels", mime_type="text/plain")
    def levels(site: str) -> str:
        return f"{site}: 40 frames"

    @server.resource("stock://depots", name="depots", description="Depots we hold stock in")
    def depots() -> str:
        return "Leeds, York"

    @server.prompt(name="reorder")
    def reorder(item: str) -> str:
        return f"Reorder {item} from the usual supplier."

    @server.tool()
    def ping() -> str:
        return "pong"

    return server


async def test_resources_and_prompts_of_a_satellite_are_listed_read_and_got(tmp_path: Path) -> None:
    app = stock_satellite().streamable_http_app(stateless_http=True, json_response=True)
    with serve_in_thread(app) as sat_url:
        env = {"NEXUS_HOME": str(tmp_path), "NEXUS_DB_SYNC": "normal", "NEXUS_TOKENS": NEXUS_TOKEN}
        with serve_nexus_in_thread(Settings.load(env), secrets={}) as nexus:
            http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {NEXUS_TOKEN}"})
            async with http, Client(streamable_http_client(f"{nexus}/mcp", http_client=http)) as client:
                record: dict[str, Any] = {
                    "slug": "stock",
                    "name": "Stock",
                    "status": "active",
                    "endpoints": {"mcp_url": f"{sat_url}/mcp"},
                }
                assert not (await client.call_tool("registry_register", {"record": record})).is_error
                with anyio.fail_after(30):
                    resources = {str(r.uri): r for r in (await client.list_resources()).resources}
                    prompts = {p.name: p for p in (await client.list_prompts()).prompts}
                assert "nexus://registry" in resources  # Nexus's own stay
                uri = "satellite://stock/stock%3A%2F%2Fdepots"
                assert resources[uri].name == "stock__depots"
                read = await client.read_resource(uri)
                (content,) = read.contents
                assert isinstance(content, TextResourceContents) and content.text == "Leeds, York"
                assert "stock__reorder" in prompts
                got = await client.get_prompt("stock__reorder", {"item": "RAL 7016 frames"})
                assert "RAL 7016 frames" in str(got.messages[0].content)
                with pytest.raises(Exception, match=r"not a satellite resource|no connected satellite"):
                    await client.read_resource("satellite://nowhere/x")
