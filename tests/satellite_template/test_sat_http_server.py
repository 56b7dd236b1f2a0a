"""A kit satellite served by a real uvicorn on 127.0.0.1: MCP over streamable HTTP with bearer auth,
health, and self-registration with a (fake) Nexus over MCP."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.server import MCPServer
from mcp.server.auth.settings import AuthSettings

from nexus_agent.wire.errors import Unauthorized, UpstreamError
from nexus_agent.wire.models import AppRecord
from nexus_agent.wire.signing import WebhookEnvelope, build_signed_request
from satellite_template import REGISTER_TOOL, Satellite, SatelliteSettings, StaticTokenVerifier

TOKEN = "test-token-0123456789abcdef"
NEXUS_TOKEN = "nexus-side-token-0123456789"
SECRET = "test-webhook-secret-0123456789"


@pytest.fixture(scope="module")
def served(example_factory, serve_app) -> Iterator[tuple[str, Any]]:
    example = example_factory()
    settings = SatelliteSettings(tokens=(TOKEN,), webhook_secret=SECRET)
    with serve_app(example.sat.create_app(settings)) as base_url:
        yield base_url, example


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.anyio
async def test_a_tool_is_called_over_streamable_http_with_a_bearer_token(served) -> None:
    base_url, _ = served
    with anyio.fail_after(10):
        async with (
            httpx2.AsyncClient(headers=bearer(TOKEN)) as http,
            Client(streamable_http_client(f"{base_url}/mcp", http_client=http)) as client,
        ):
            names = [t.name for t in (await client.list_tools()).tools]
            result = await client.call_tool("quote_status", {"quote_id": "Q-1001"})
    assert sorted(names) == ["cancel_quote", "quote_status"]
    assert result.structured_content == {"quote_id": "Q-1001", "status": "draft"}


@pytest.mark.anyio
@pytest.mark.parametrize("headers", [{}, bearer("wrong-token-0123456789abcdef"), {"Authorization": TOKEN}])
async def test_mcp_without_a_valid_token_is_401(served, headers) -> None:
    base_url, _ = served
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    with anyio.fail_after(10):
        async with httpx2.AsyncClient(headers=headers) as http:
            response = await http.post(f"{base_url}/mcp", json=body, headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "quote_status" not in response.text


@pytest.mark.anyio
async def test_health_is_json_with_status_version_uptime_and_checks(served) -> None:
    base_url, _ = served
    with anyio.fail_after(10):
        async with httpx2.AsyncClient() as http:
            bare = await http.get(f"{base_url}/api/health")
            wrong = await http.get(f"{base_url}/api/health", headers=bearer("wrong-token-0123456789abcdef"))
            response = await http.get(f"{base_url}/api/health", headers=bearer(TOKEN))
    # Without a token: bare liveness for load balancers; a wrong token: 401; the details need a token.
    assert (bare.status_code, bare.json()) == (200, {"status": "ok"})
    assert wrong.status_code == 401 and "slug" not in wrong.text
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert (body["slug"], body["version"]) == ("quote-engine", "1.2.3")
    assert body["uptime_s"] >= 0
    assert body["checks"] == {"mcp": {"status": "pass"}, "webhooks": {"status": "pass"}}


@pytest.mark.anyio
async def test_a_signed_webhook_over_real_http_reaches_the_handler(served) -> None:
    base_url, example = served
    body, headers = build_signed_request(WebhookEnvelope.new("instruction.created", {"n": 1}, now=time.time()), SECRET)
    with anyio.fail_after(10):
        async with httpx2.AsyncClient() as http:
            response = await http.post(f"{base_url}/api/webhooks/nexus", content=body, headers=headers)
    assert response.status_code == 200
    assert example.received[-1].data == {"n": 1}


def fake_nexus(received: list[AppRecord]) -> MCPServer:
    nexus = MCPServer(
        "nexus",
        token_verifier=StaticTokenVerifier([NEXUS_TOKEN]),
        auth=AuthSettings(issuer_url="http://127.0.0.1", resource_server_url=None),
    )

    @nexus.tool(name=REGISTER_TOOL)
    def registry_register(record: AppRecord, reason: str = "") -> dict[str, str]:
        if record.slug == "refused":
            raise ValueError("not allowed")
        received.append(record)
        return {"slug": record.slug, "status": record.status.value}

    return nexus


@pytest.mark.anyio
async def test_the_satellite_registers_its_app_record_with_nexus(example, serve_app) -> None:
    received: list[AppRecord] = []
    with serve_app(fake_nexus(received).streamable_http_app()) as nexus_url:
        with anyio.fail_after(15):
            answer = await example.sat.register_with_nexus(
                f"{nexus_url}/mcp", NEXUS_TOKEN, base_url="http://quotes.internal:8800"
            )
            with pytest.raises(Unauthorized) as refused:
                await example.sat.register_with_nexus(
                    f"{nexus_url}/mcp", "bad-token-0123456789abcdef", base_url="http://quotes.internal:8800"
                )
    assert answer == {"slug": "quote-engine", "status": "pending"}
    assert received == [example.sat.app_record("http://quotes.internal:8800")]
    assert "bad-token" not in str(refused.value)


@pytest.mark.anyio
async def test_a_record_nexus_refuses_is_an_upstream_error(serve_app) -> None:
    refused = Satellite("refused", "Refused")
    refusal = pytest.raises(UpstreamError, match="Nexus refused the registration of 'refused'")
    with serve_app(fake_nexus([]).streamable_http_app()) as nexus_url, anyio.fail_after(15), refusal:
        await refused.register_with_nexus(f"{nexus_url}/mcp", NEXUS_TOKEN, base_url="http://127.0.0.1:8800")


@pytest.mark.anyio
async def test_an_unreachable_nexus_is_an_upstream_error(example, serve_app) -> None:
    with serve_app(fake_nexus([]).streamable_http_app()) as nexus_url:
        pass  # the port is free again once the server stopped
    with anyio.fail_after(15), pytest.raises(UpstreamError, match="cannot reach Nexus"):
        await example.sat.register_with_nexus(f"{nexus_url}/mcp", NEXUS_TOKEN, base_url="http://127.0.0.1:8800")


@pytest.mark.slow
@pytest.mark.anyio
async def test_the_tools_are_served_over_stdio_too(tmp_path) -> None:
    script = tmp_path / "stdio_satellite.py"
    script.write_text(
        "from satellite_template import Satellite\n"
        "sat = Satellite('stdio-demo', 'Stdio Demo')\n"
        "@sat.tool(read_only=True)\n"
        "def ping(text: str) -> str:\n"
        "    return text.upper()\n"
        "sat.run_stdio()\n"
    )
    params = StdioServerParameters(command=sys.executable, args=[str(script)], env={"PYTHONPATH": str(_repo())})
    with anyio.fail_after(20):
        async with Client(params) as client:
            result = await client.call_tool("ping", {"text": "alu"})
    assert result.content[0].text == "ALU"


def _repo():
    from pathlib import Path

    return Path(__file__).resolve().parents[2]
