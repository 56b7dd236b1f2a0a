"""Nexus over real streamable HTTP on 127.0.0.1 (uvicorn in a thread)."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import anyio.abc
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from nexus_agent.config import Settings
from nexus_agent.http import open_app
from nexus_agent.testing import serve_nexus_in_thread
from nexus_agent.wire.errors import ConfigError

pytestmark = pytest.mark.anyio

TOKEN = "test-token-0123456789abcdef"


def _settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.load({"NEXUS_HOME": str(tmp_path), "NEXUS_DB_SYNC": "normal", **env})


async def test_mcp_over_http_without_tokens_on_loopback(tmp_path: Path) -> None:
    with serve_nexus_in_thread(_settings(tmp_path)) as base:
        async with Client(f"{base}/mcp") as client:
            tools = [t.name for t in (await client.list_tools()).tools]
            assert "memory_search" in tools
            note = await client.call_tool("memory_remember", {"text": "Site survey at Leeds depot booked"})
            assert not note.is_error
            found = await client.call_tool("memory_search", {"query": "Leeds survey"})
            assert found.structured_content["hits"][0]["id"] == note.structured_content["id"]
        health = httpx.get(f"{base}/api/health", timeout=5)
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        assert health.json()["memory_counts"]


async def test_tokens_required_when_configured(tmp_path: Path) -> None:
    with serve_nexus_in_thread(_settings(tmp_path, NEXUS_TOKENS=TOKEN)) as base:
        no_token = httpx.post(f"{base}/mcp", json={}, timeout=5)
        assert no_token.status_code == 401
        assert no_token.json()["error"]["code"] == "unauthorized"
        assert "Bearer" in no_token.headers["www-authenticate"]
        wrong = httpx.post(f"{base}/mcp", headers={"Authorization": "Bearer nope"}, json={}, timeout=5)
        assert wrong.status_code == 401
        # Health: bare liveness without a token (load balancers), 401 with a wrong one, details with a right one.
        alive = httpx.get(f"{base}/api/health", timeout=5)
        assert (alive.status_code, alive.json()) == (200, {"status": "ok"})
        wrong_health = httpx.get(f"{base}/api/health", headers={"Authorization": "Bearer nope"}, timeout=5)
        assert wrong_health.status_code == 401
        ok = httpx.get(f"{base}/api/health", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        assert ok.status_code == 200 and ok.json()["checks"]
        assert str(tmp_path) not in ok.text  # never a filesystem path
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"})
        async with http, Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client:
            result = await client.call_tool("nexus_health", {})
            assert result.structured_content["status"] == "ok"


async def test_unknown_route_is_json_404(tmp_path: Path) -> None:
    with serve_nexus_in_thread(_settings(tmp_path)) as base:
        response = httpx.get(f"{base}/api/nothing", timeout=5)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_a_foreign_host_is_refused_on_every_route(tmp_path: Path) -> None:
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 reads nothing, not just /mcp."""
    with serve_nexus_in_thread(_settings(tmp_path)) as base:
        port = httpx.URL(base).port
        own = httpx.get(f"{base}/status", timeout=5)
        foreign = {"Host": f"evil.example:{port}"}
        refused = [
            httpx.get(f"{base}{path}", headers=foreign, timeout=5) for path in ("/status", "/api/health", "/metrics")
        ]
        refused.append(httpx.post(f"{base}/mcp", headers=foreign, json={}, timeout=5))
    assert own.status_code == 200
    for response in refused:
        assert response.status_code == 421, response.request.url
        assert response.json()["error"]["code"] == "misdirected_request"
        assert "evil.example" in response.json()["error"]["message"]
        assert "decision" not in response.text.lower()


async def test_an_oversized_mcp_body_is_a_json_413_like_every_route(tmp_path: Path) -> None:
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    with serve_nexus_in_thread(_settings(tmp_path)) as base:
        response = httpx.post(f"{base}/mcp", content=b" " * (5 * 1024 * 1024), headers=headers, timeout=10)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert "4 MiB" in response.json()["error"]["message"] and response.json()["error"]["hint"]


async def _answer(stream: anyio.abc.ByteStream) -> tuple[bytes, bytes]:
    """One HTTP/1.1 answer read off ``stream``: its status line and body (by Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive()
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length"))
    while len(body) < length:
        body += await stream.receive()
    return head.split(b"\r\n")[0], body[:length]


async def test_after_a_413_the_rest_of_the_body_is_read_so_the_answer_arrives(tmp_path: Path) -> None:
    """A server that closes on unread bytes resets the connection, and a reset can discard the 413 before the
    client reads it (or break the client's send); Nexus reads the rest of the body first, then closes cleanly."""
    with serve_nexus_in_thread(_settings(tmp_path)) as base:
        host, port = base.removeprefix("http://").split(":")
        body = b" " * (16 * 1024 * 1024)  # well past the 4 MiB limit and any socket buffer
        post = (
            f"POST /mcp HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Accept: application/json, text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        with anyio.fail_after(30):
            async with await anyio.connect_tcp(host, int(port)) as stream:
                await stream.send(post + body)  # the whole body goes: the server keeps reading it
                status, answer = await _answer(stream)
                with pytest.raises(anyio.EndOfStream):  # then a clean close, not a reset
                    await stream.receive()
    assert b" 413 " in status, status
    assert json.loads(answer)["error"]["code"] == "too_large"


async def test_refuses_non_loopback_bind_without_tokens(tmp_path: Path) -> None:
    settings = _settings(tmp_path).model_copy(update={"http_host": "0.0.0.0"})
    with pytest.raises(ConfigError, match="without bearer tokens"):
        async with open_app(settings):
            pass
    assert not settings.db_path.exists()  # refused before anything opened


async def test_registry_survives_a_server_restart(tmp_path: Path) -> None:
    record = {"slug": "stock-ledger", "name": "Stock Ledger", "capabilities": ["stock levels"]}
    with serve_nexus_in_thread(_settings(tmp_path)) as base:
        async with Client(f"{base}/mcp") as client:
            assert not (await client.call_tool("registry_register", {"record": record})).is_error
    with serve_nexus_in_thread(_settings(tmp_path)) as base:
        async with Client(f"{base}/mcp") as client:
            got = await client.call_tool("registry_get", {"slug": "stock-ledger"})
    assert got.structured_content["app"]["name"] == "Stock Ledger"


async def test_a_named_token_is_recorded_as_the_caller(tmp_path: Path) -> None:
    settings = _settings(tmp_path, NEXUS_TOKENS=f"ops-bot={TOKEN}")
    record = {"slug": "invoicing", "name": "Invoicing", "capabilities": ["invoices"]}
    with serve_nexus_in_thread(settings) as base:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"})
        async with http, Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client:
            assert not (await client.call_tool("registry_register", {"record": record})).is_error
            decision = await client.call_tool("memory_log_decision", {"decision": "Bill monthly, not per job"})
            got = await client.call_tool("registry_get", {"slug": "invoicing"})
    assert got.structured_content["history"][0]["changed_by"] == "ops-bot"
    assert decision.structured_content["decided_by"] == "ops-bot"
    assert TOKEN not in json.dumps(settings.model_dump(mode="json"))


async def test_with_authorization_given_twice_the_first_counts_on_every_route(tmp_path: Path) -> None:
    """The front door keeps headers by name only when no name repeats; with one repeated, every reader scans
    them in order as before: the first Authorization counts, whatever else repeats."""
    right, wrong = ("Authorization", f"Bearer {TOKEN}"), ("Authorization", "Bearer nope")
    with serve_nexus_in_thread(_settings(tmp_path, NEXUS_TOKENS=TOKEN)) as base:
        for path in ("/api/health", "/metrics"):
            assert httpx.get(f"{base}{path}", headers=[wrong, right], timeout=5).status_code == 401, path
            assert httpx.get(f"{base}{path}", headers=[right, wrong], timeout=5).status_code == 200, path
            repeated = [right, ("X-Trace", "a"), ("X-Trace", "b")]
            assert httpx.get(f"{base}{path}", headers=repeated, timeout=5).status_code == 200, path
