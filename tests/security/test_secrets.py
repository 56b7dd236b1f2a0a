"""Attacks on the secret guard through a real `nexus serve --http` and real satellites on 127.0.0.1.

A satellite that answers with the value of a secret Nexus is configured with
(here NEXUS_GITHUB_WEBHOOK_SECRET, a plain phrase no pattern would find) must
not get it past Nexus: not in a tool result, not in a fan-out, not in memory,
not in the log. Honest data must still pass: a chart comes back as an image.
Oversized arguments to a satellite tool are refused before the satellite sees
them, and a number no field can hold is a field error, not a crash.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import subprocess
import sys
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server import MCPServer
from mcp.server.mcpserver import Image

from nexus_agent.testing import free_port, serve_in_thread

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

LEAK = "lantern velvet orchard harbour"  # the configured webhook secret: words, so only its value betrays it
OWNER_TOKEN = "owner-token-for-secret-tests-0123"
MAX_INPUT_BYTES = 4096


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def png(width: int = 48, height: int = 48) -> bytes:
    """A real PNG with noisy pixels: base64 of it looks as random as any token."""
    rows = b"".join(b"\x00" + os.urandom(width * 3) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def satellite(slug: str, calls: Counter[str]) -> MCPServer:
    server = MCPServer(slug)

    @server.tool()
    def report() -> str:
        """A one-line status report."""
        calls[f"{slug}.report"] += 1
        if slug == "leaky":
            return f"debug dump: github webhook secret = {LEAK}"
        return f"{slug}: all quotes priced"

    @server.tool()
    def echo(text: str) -> str:
        """Repeat text."""
        calls[f"{slug}.echo"] += 1
        return text

    if slug == "charts":

        @server.tool()
        def chart() -> Image:
            """Quotes per week as a PNG chart."""
            return Image(data=png(), format="png")

        @server.tool()
        def attachment() -> types.EmbeddedResource:
            """The quote PDF as a blob resource."""
            blob = base64.b64encode(b"%PDF-1.7\n" + os.urandom(2048)).decode()
            contents = types.BlobResourceContents(uri="file:///q/Q-1001.pdf", mime_type="application/pdf", blob=blob)
            return types.EmbeddedResource(type="resource", resource=contents)

    return server


@dataclass
class Nexus:
    url: str
    home: Path
    log: Path
    calls: Counter[str]

    def client(self) -> tuple[httpx2.AsyncClient, Client]:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {OWNER_TOKEN}"}, timeout=60)
        return http, Client(streamable_http_client(f"{self.url}/mcp", http_client=http))


def nexus_env(home: Path) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("NEXUS_", "SATELLITE_", "ANTHROPIC_"))}
    return {
        **inherited,
        "NEXUS_HOME": str(home),
        "NEXUS_DB_SYNC": "normal",
        "NEXUS_TOKENS": f"owner-sec={OWNER_TOKEN}",
        "NEXUS_GITHUB_WEBHOOK_SECRET": LEAK,
        "NEXUS_MAX_INPUT_BYTES": str(MAX_INPUT_BYTES),
        "NEXUS_LOG_LEVEL": "DEBUG",  # the MCP client logs every message it receives: the log must redact them
    }


def register(home: Path, env: dict[str, str], slug: str, url: str) -> None:
    record = {"slug": slug, "name": slug.title(), "status": "active", "endpoints": {"mcp_url": f"{url}/mcp"}}
    path = home / f"{slug}.json"
    path.write_text(json.dumps(record))
    done = subprocess.run(
        [sys.executable, "-m", "nexus_agent", "registry", "register", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


async def wait_until_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    with anyio.fail_after(60):
        while proc.poll() is None:
            try:
                if httpx.get(f"{url}/api/health", timeout=1).status_code in {200, 401, 503}:
                    return
            except httpx.TransportError:
                await anyio.sleep(0.05)
    raise AssertionError(f"nexus serve exited with {proc.returncode}")


@pytest.fixture(scope="module")
def nexus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nexus]:
    home = tmp_path_factory.mktemp("nexus-secrets")
    env, calls, log = nexus_env(home), Counter[str](), home / "serve.log"
    with (
        serve_in_thread(satellite("charts", calls).streamable_http_app()) as charts,
        serve_in_thread(satellite("ledger", calls).streamable_http_app()) as ledger,
        serve_in_thread(satellite("leaky", calls).streamable_http_app()) as leaky,
    ):
        for slug, url in (("charts", charts), ("ledger", ledger), ("leaky", leaky)):
            register(home, env, slug, url)
        url = f"http://127.0.0.1:{free_port()}"
        with log.open("wb") as log_file:
            proc = subprocess.Popen(
                [sys.executable, "-m", "nexus_agent", "serve", "--http", url.removeprefix("http://")],
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
            try:
                anyio.run(wait_until_up, url, proc)
                yield Nexus(url=url, home=home, log=log, calls=calls)
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    raise


def everything_in(result: Any) -> str:
    """All a client can see of a tool result: every content block and the structured content."""
    return json.dumps(
        {"content": [c.model_dump(mode="json") for c in result.content], "structured": result.structured_content}
    )


async def test_an_image_from_a_satellite_comes_through_as_an_image(nexus: Nexus) -> None:
    http, client = nexus.client()
    async with http, client:
        with anyio.fail_after(60):
            chart = await client.call_tool("charts__chart", {})
            attachment = await client.call_tool("charts__attachment", {})
    assert not chart.is_error, everything_in(chart)
    assert [c.type for c in chart.content] == ["image"]
    image = chart.content[0]
    assert isinstance(image, types.ImageContent) and image.mime_type == "image/png"
    assert base64.b64decode(image.data).startswith(b"\x89PNG\r\n\x1a\n")
    assert not attachment.is_error, everything_in(attachment)
    resource = attachment.content[0]
    assert isinstance(resource, types.EmbeddedResource)
    assert isinstance(resource.resource, types.BlobResourceContents)
    assert base64.b64decode(resource.resource.blob).startswith(b"%PDF-1.7")


async def test_a_fan_out_member_leaking_a_configured_secret_fails_alone(nexus: Nexus) -> None:
    http, client = nexus.client()
    async with http, client:
        with anyio.fail_after(60):
            fan = await client.call_tool(
                "satellite_fan_out", {"tool": "report", "apps": ["charts", "ledger", "leaky"], "timeout_s": 30}
            )
    assert not fan.is_error, everything_in(fan)
    assert LEAK not in everything_in(fan)
    items = {item["slug"]: item for item in fan.structured_content["items"]}
    assert items["charts"]["ok"] and items["charts"]["result"]["content"][0]["text"] == "charts: all quotes priced"
    assert items["ledger"]["ok"] and items["ledger"]["result"]["content"][0]["text"] == "ledger: all quotes priced"
    leaky = items["leaky"]
    assert not leaky["ok"] and leaky["result"] is None
    assert leaky["error"]["code"] == "secret_detected"
    assert "satellite 'leaky'" in leaky["error"]["message"] and "withheld" in leaky["error"]["message"]
    assert nexus.calls["leaky.report"] >= 1  # it did answer: Nexus withheld the answer, not the call


async def test_a_direct_call_to_the_leaking_tool_is_refused_without_the_value(nexus: Nexus) -> None:
    http, client = nexus.client()
    async with http, client:
        with anyio.fail_after(60):
            direct = await client.call_tool("leaky__report", {})
            via = await client.call_tool("satellite_call", {"tool": "leaky__report"})
    for result in (direct, via):
        assert result.is_error
        text = everything_in(result)
        assert "secret_detected" in text and "configured_secret" in text
        assert LEAK not in text


async def test_the_secret_value_never_reaches_memory(nexus: Nexus) -> None:
    http, client = nexus.client()
    async with http, client:
        with anyio.fail_after(60):
            note = await client.call_tool(
                "memory_remember", {"title": "webhook", "text": f"the GitHub hook secret is {LEAK}"}
            )
            found = await client.call_tool("memory_search", {"query": "orchard harbour"})
    assert note.is_error and "secret_detected" in everything_in(note)
    assert LEAK not in everything_in(note) and LEAK not in everything_in(found)
    stored = b"".join(p.read_bytes() for p in nexus.home.glob("nexus.db*"))
    assert stored, "the database files were not found"
    assert LEAK.encode() not in stored


async def test_oversized_satellite_arguments_are_refused_before_the_satellite(nexus: Nexus) -> None:
    http, client = nexus.client()
    async with http, client:
        with anyio.fail_after(60):
            small = await client.call_tool("ledger__echo", {"text": "hello"})
            big = await client.call_tool("ledger__echo", {"text": "x" * (MAX_INPUT_BYTES * 2)})
    assert not small.is_error and small.content[0].text == "hello"
    assert big.is_error
    text = big.content[0].text
    assert "[invalid_input]" in text and "ledger__echo" in text and f"{MAX_INPUT_BYTES:,}-byte limit" in text
    assert "NEXUS_MAX_INPUT_BYTES" in text
    assert nexus.calls["ledger.echo"] == 1  # only the small call reached the satellite


async def test_a_number_too_large_for_its_field_is_a_field_error(nexus: Nexus) -> None:
    http, client = nexus.client()
    async with http, client:
        with anyio.fail_after(60):
            results = {
                "offset": await client.call_tool("registry_list", {"offset": 10**30}),
                "limit": await client.call_tool("memory_search", {"query": "quotes", "limit": 10**30}),
                "plan_id": await client.call_tool("plan_get", {"plan_id": 10**30}),
                "conversation_id": await client.call_tool("memory_get_conversation", {"conversation_id": -(10**30)}),
            }
    for field, result in results.items():
        text = result.content[0].text
        assert result.is_error and "[invalid_input]" in text, text
        assert f"  - {field}:" in text, text
        assert "internal_error" not in text


async def test_the_secret_value_never_reaches_the_log(nexus: Nexus) -> None:
    """At DEBUG the MCP client logs every message Nexus sends a satellite; the value is taken out of each line.

    The owner sends the value to a satellite that echoes it: the call goes out (and is logged), the echo
    comes back and is withheld, and the log holds neither.
    """
    http, client = nexus.client()
    async with http, client:
        with anyio.fail_after(60):
            echoed = await client.call_tool("ledger__echo", {"text": f"the hook secret is {LEAK}"})
    assert echoed.is_error and "secret_detected" in everything_in(echoed)
    assert LEAK not in everything_in(echoed)
    log = nexus.log.read_text(errors="replace")
    assert "withheld the answer of ledger__echo" in log and "withheld the answer of leaky__report" in log
    assert "'text': 'the hook secret is [REDACTED:configured_secret]'" in log  # the outgoing call, logged
    assert LEAK not in log
