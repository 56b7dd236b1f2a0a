"""The gateway fast path against the normal path: a real SDK satellite, two real Nexus HTTP servers.

One Nexus relays `<app>__<tool>` calls on the fast path (NEXUS_GATEWAY_FASTPATH on), the other through the
SDK (off); every answer and every refusal must be the same JSON, byte for byte in meaning.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated, Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from nexus_agent.config import Settings
from nexus_agent.satellites.models import PoolSettings
from nexus_agent.testing import serve_in_thread, serve_nexus_in_thread

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

OWNER = "owner-token-0123456789abcdef"
AGENT = "agent-token-0123456789abcdef"
MONITOR = "monitor-token-0123456789abcdef"
VERSION = "2026-07-28"
READ_ONLY = ToolAnnotations(read_only_hint=True)


class Quote(BaseModel):
    sku: str
    pence: int


def satellite_app(broken: list[bool]) -> Any:
    """A real SDK satellite; ``broken[0]`` makes its tool ``flaky`` answer HTTP 500 (a fault, not a tool error)."""
    server = MCPServer("fast-sat")

    @server.tool(annotations=READ_ONLY)
    def echo(text: str) -> str:
        return text

    @server.tool()
    def quote(sku: str, qty: int = 1) -> Quote:
        return Quote(sku=sku, pence=1250 * qty)

    @server.tool()
    def fail() -> str:
        raise ToolError("the quote book is closed")

    @server.tool()
    def leak() -> str:
        return f"here you go: {OWNER}"

    @server.tool()
    def flaky() -> str:
        return "fine"

    @server.tool()
    def ship(parcel: str, region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})]) -> str:
        return f"{parcel} shipped to {region}"  # the SDK refuses a call without the Mcp-Param-Region header

    inner = server.streamable_http_app()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = dict(scope.get("headers", []))
        if scope["type"] == "http" and broken[0] and headers.get(b"mcp-name") == b"flaky":
            await send({"type": "http.response.start", "status": 500, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"down"})
            return
        await inner(scope, receive, send)

    return app


def nexus(tmp_path: Path, name: str, fast: bool) -> Any:
    env = {
        "NEXUS_HOME": str(tmp_path / name),
        "NEXUS_DB_SYNC": "normal",
        "NEXUS_TOKENS": f"owner={OWNER},bot:agent={AGENT},mon:monitor={MONITOR}",
        "NEXUS_MAX_INPUT_BYTES": "2000",
        "NEXUS_GATEWAY_FASTPATH": "true" if fast else "false",
    }
    return serve_nexus_in_thread(Settings.load(env))


def _meta() -> dict[str, Any]:
    return {
        "io.modelcontextprotocol/protocolVersion": VERSION,
        "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }


async def raw_call(http: httpx2.AsyncClient, base: str, token: str, name: str, arguments: dict[str, Any]) -> Any:
    """A `tools/call` as the SDK 2.3 client sends it; returns the JSON-RPC result (or error) object."""
    body = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
    body["params"]["_meta"] = _meta()
    headers = {
        "authorization": f"Bearer {token}",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": VERSION,
        "mcp-method": "tools/call",
        "mcp-name": name,
    }
    with anyio.fail_after(30):
        response = await http.post(f"{base}/mcp", json=body, headers=headers)
    assert response.status_code == 200, response.text
    message = response.json()
    return message.get("result", message.get("error"))


@contextlib.contextmanager
def two_nexuses(tmp_path: Path, sat_url: str) -> Iterator[tuple[str, str]]:
    with nexus(tmp_path, "fast", True) as fast, nexus(tmp_path, "slow", False) as slow:
        yield fast, slow


@contextlib.asynccontextmanager
async def registered(bases: tuple[str, str], sat_url: str) -> AsyncIterator[httpx2.AsyncClient]:
    record = {
        "slug": "fast-sat",
        "name": "Fast Sat",
        "status": "active",
        "description": "a test satellite",
        "endpoints": {"mcp_url": f"{sat_url}/mcp"},
    }
    async with httpx2.AsyncClient(timeout=30) as http:
        for base in bases:
            result = await raw_call(http, base, OWNER, "registry_register", {"record": record})
            assert not result["isError"], result
            listed = await raw_call(http, base, OWNER, "satellite_tools_list", {"app": "fast-sat"})
            assert not listed["isError"], listed  # the pool has connected (the fast path needs a live connection)
        yield http


def fast_path_count(caplog: pytest.LogCaptureFixture) -> int:
    return sum("on the fast path" in r.getMessage() for r in caplog.records)


async def test_fast_and_normal_path_answer_alike(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="nexus.gateway")
    broken = [False]
    cases: list[tuple[str, str, dict[str, Any]]] = [
        (OWNER, "fast-sat__echo", {"text": "hello"}),
        (OWNER, "fast-sat__quote", {"sku": "W-100", "qty": 3}),  # structured content
        (OWNER, "fast-sat__ship", {"parcel": "P-7", "region": "eu-west"}),  # an argument mirrored as a header
        (OWNER, "fast-sat__fail", {}),  # a tool error is the satellite's answer, not a fault
        (OWNER, "fast-sat__leak", {}),  # a secret in the answer: withheld
        (OWNER, "fast-sat__quote", {"sku": 5}),  # schema-invalid arguments
        (OWNER, "fast-sat__quote", {"sku": "W-100", "colour": "red"}),  # unknown field
        (OWNER, "fast-sat__echo", {"text": "x" * 3000}),  # over NEXUS_MAX_INPUT_BYTES
        (OWNER, "fast-sat__nope", {}),  # unknown tool
        (AGENT, "fast-sat__echo", {"text": "read-only: allowed"}),
        (AGENT, "fast-sat__quote", {"sku": "W-1"}),  # not read-only: refused to an agent
        (MONITOR, "fast-sat__echo", {"text": "monitors call no satellite"}),
    ]
    with serve_in_thread(satellite_app(broken)) as sat_url, two_nexuses(tmp_path, sat_url) as (fast, slow):
        async with registered((fast, slow), sat_url) as http:
            for token, name, arguments in cases:
                got = await raw_call(http, fast, token, name, arguments)
                want = await raw_call(http, slow, token, name, arguments)
                assert got == want, (name, arguments)
    # The fast path really relayed the eligible ones (owner: echo, quote twice, ship, fail, leak; agent: echo); the
    # refusals were the normal path's own.
    assert fast_path_count(caplog) == 7


async def test_fast_path_results_and_refusals_read_right(tmp_path: Path) -> None:
    broken = [False]
    with serve_in_thread(satellite_app(broken)) as sat_url, nexus(tmp_path, "fast", True) as base:
        async with registered((base, base), sat_url) as http:
            quote = await raw_call(http, base, OWNER, "fast-sat__quote", {"sku": "W-100", "qty": 2})
            assert quote["structuredContent"] == {"sku": "W-100", "pence": 2500} and quote["isError"] is False
            failed = await raw_call(http, base, OWNER, "fast-sat__fail", {})
            assert failed["isError"] and "the quote book is closed" in failed["content"][0]["text"]
            leak = await raw_call(http, base, OWNER, "fast-sat__leak", {})
            assert leak["isError"] and OWNER not in str(leak) and "withheld" in leak["content"][0]["text"]
            big = await raw_call(http, base, OWNER, "fast-sat__echo", {"text": "x" * 3000})
            assert big["isError"] and "2,000-byte limit" in big["content"][0]["text"]
            bad = await raw_call(http, base, OWNER, "fast-sat__quote", {"sku": 5})
            assert bad["isError"] and "sku" in bad["content"][0]["text"]
            refused = await raw_call(http, base, AGENT, "fast-sat__quote", {"sku": "W-1"})
            assert refused["isError"] and "forbidden" in refused["content"][0]["text"]
        # The SDK client reads the fast path's plain JSON answer as it reads the normal path's.
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {OWNER}"}) as h,
            Client(streamable_http_client(f"{base}/mcp", http_client=h)) as client,
        ):
            with anyio.fail_after(30):
                result = await client.call_tool("fast-sat__quote", {"sku": "W-9"})
            assert not result.is_error and result.structured_content == {"sku": "W-9", "pence": 1250}


async def test_faults_count_against_the_breaker_on_both_paths(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="nexus.gateway")
    broken = [False]
    threshold = PoolSettings().breaker_threshold
    with serve_in_thread(satellite_app(broken)) as sat_url, two_nexuses(tmp_path, sat_url) as (fast, slow):
        async with registered((fast, slow), sat_url) as http:
            broken[0] = True
            for base in (fast, slow):
                texts = [
                    (await raw_call(http, base, OWNER, "fast-sat__flaky", {}))["content"][0]["text"]
                    for _ in range(threshold + 1)
                ]
                assert all("500" in t for t in texts[:threshold]), texts
                assert "circuit breaker is open" in texts[-1], texts[-1]
            # The open breaker stops the fast path too: no call reaches the satellite while it is open.
            again = await raw_call(http, fast, OWNER, "fast-sat__echo", {"text": "hi"})
            assert again["isError"] and "circuit breaker is open" in again["content"][0]["text"]
    assert fast_path_count(caplog) == threshold


async def test_a_duplicated_routing_header_is_the_normal_paths_to_refuse(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Two Mcp-Name lines (a routing header given twice is refused, as first-copy and last-copy readers could
    disagree): the fast path leaves the request to the normal path, whose answer both Nexuses give alike."""
    caplog.set_level(logging.DEBUG, logger="nexus.gateway")
    body = {"jsonrpc": "2.0", "id": 7, "method": "tools/call"}
    body["params"] = {"name": "fast-sat__echo", "arguments": {"text": "hi"}, "_meta": _meta()}
    headers = [
        ("authorization", f"Bearer {OWNER}"),
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", VERSION),
        ("mcp-method", "tools/call"),
        ("mcp-name", "fast-sat__echo"),
        ("mcp-name", "fast-sat__echo"),  # even the same value twice
    ]
    with serve_in_thread(satellite_app([False])) as sat_url, two_nexuses(tmp_path, sat_url) as (fast, slow):
        async with registered((fast, slow), sat_url) as http:
            before = fast_path_count(caplog)
            answers = []
            for base in (fast, slow):
                with anyio.fail_after(30):
                    response = await http.post(f"{base}/mcp", content=json.dumps(body), headers=headers)
                answers.append((response.status_code, response.json()))
    assert answers[0] == answers[1] and answers[0][0] == 400, answers
    assert fast_path_count(caplog) == before


@pytest.mark.parametrize(
    "value",
    [
        [1e15] * 50,  # 1e15 is written back as 1000000000000000.0
        ["\U0001f600" * 40],  # an emoji: 4 bytes raw, 12 written back (\ud83d\ude00)
        {"t": "\u00e9" * 100},  # a 2-byte character: 6 written back
        {"a": [[], [], [], {}, {}], "b": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]},  # spaces after separators
        {"x": [1e-7, 9e15, 5e-324, 1.5]},
    ],
)
def test_a_body_within_the_bound_cannot_hold_arguments_over_the_limit(value: Any) -> None:
    """The fast path skips writing the arguments out again when the whole body is small: that is safe only if no
    value grows by more than ARGUMENT_GROWTH when check_argument_size writes it (the most compact raw text)."""
    from nexus_agent.gateway_fastpath import ARGUMENT_GROWTH

    raw = json.dumps({"arguments": value}, separators=(",", ":"), ensure_ascii=False).encode()
    written = len(json.dumps(json.loads(raw)["arguments"], default=str).encode())
    assert written <= ARGUMENT_GROWTH * len(raw) and written > len(raw) / 2
