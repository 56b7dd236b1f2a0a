"""Two real `nexus serve --http` replicas on one PostgreSQL: one registry and one memory, whichever is asked."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.security.nexus_process import OWNER, NexusProcess, base_env

pytestmark = [pytest.mark.slow, pytest.mark.anyio]


def _replica(tmp_path: Path, name: str, pg_url: str, **extra: str) -> NexusProcess:
    home = tmp_path / name
    home.mkdir()
    return NexusProcess(home, base_env(home, NEXUS_DATABASE_URL=pg_url, NEXUS_BACKUP_DIR="off", **extra))


async def test_a_client_alternating_between_replicas_sees_one_registry_and_memory(tmp_path: Path, pg_url: str) -> None:
    with _replica(tmp_path, "a", pg_url) as a, _replica(tmp_path, "b", pg_url) as b:
        for i in range(4):
            writer, reader = (a, b) if i % 2 == 0 else (b, a)  # each writes what the other then reads
            slug = f"yard-app-{i}"
            record = {"slug": slug, "name": f"Yard App {i}", "description": "tracks glass racks"}
            failed, text, _ = await writer.call(OWNER, "registry_register", {"record": record})
            assert not failed, text
            failed, text, _ = await writer.call(OWNER, "memory_remember", {"text": f"rack mullion{i} moved to bay {i}"})
            assert not failed, text
            failed, text, _ = await reader.call(OWNER, "registry_get", {"slug": slug})
            assert not failed, f"{reader.url} does not see {slug} written on {writer.url}: {text}"
            failed, text, found = await reader.call(OWNER, "memory_search", {"query": f"mullion{i}"})
            assert not failed and f"bay {i}" in json.dumps(found), text
        failed, text, listed = await a.call(OWNER, "registry_list", {})
        assert not failed, text
        assert {f"yard-app-{i}" for i in range(4)} <= {app["slug"] for app in listed["items"]}


class RoundRobin(httpx2.AsyncBaseTransport):
    """A load balancer without stickiness: each request goes to the next replica's port."""

    def __init__(self, ports: list[int]) -> None:
        self._ports = itertools.cycle(ports)
        self._inner = httpx2.AsyncHTTPTransport()
        self.sent: list[int] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        port = next(self._ports)
        self.sent.append(port)
        request.url = request.url.copy_with(port=port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@asynccontextmanager
async def _legacy_client(balancer: RoundRobin, url: str) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(transport=balancer, headers={"Authorization": f"Bearer {OWNER}"}, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http), mode="legacy") as client,
    ):
        yield client


async def _legacy_calls(a: NexusProcess, b: NexusProcess) -> tuple[RoundRobin, list[Any]]:
    balancer = RoundRobin([a.port, b.port])
    results = []
    async with _legacy_client(balancer, f"{a.url}/mcp") as client:
        assert client.protocol_version == "2025-11-25"  # a handshake-era client, which keeps a session
        for i in range(3):
            results.append(await client.call_tool("memory_remember", {"text": f"legacy note {i}"}))
    return balancer, results


async def test_legacy_clients_behind_a_non_sticky_balancer_need_stateless_mode(tmp_path: Path, pg_url: str) -> None:
    with (
        _replica(tmp_path, "a", pg_url, NEXUS_HTTP_STATELESS="true") as a,
        _replica(tmp_path, "b", pg_url, NEXUS_HTTP_STATELESS="true") as b,
    ):
        balancer, results = await _legacy_calls(a, b)
        assert {a.port, b.port} <= set(balancer.sent)  # both replicas answered the one legacy client
        assert not any(r.is_error for r in results)
        _, _, found = await b.call(OWNER, "memory_search", {"query": "legacy note"})
        assert len(found["hits"]) == 3


async def test_without_stateless_mode_a_legacy_session_does_not_survive_a_switch_of_replica(
    tmp_path: Path, pg_url: str
) -> None:
    with (
        _replica(tmp_path, "a", pg_url) as a,
        _replica(tmp_path, "b", pg_url) as b,
        pytest.raises(Exception) as failure,  # an ExceptionGroup; its innermost error is checked below
    ):
        await _legacy_calls(a, b)
    inner: BaseException = failure.value
    while isinstance(inner, BaseExceptionGroup):
        inner = inner.exceptions[0]
    assert "Session not found" in str(inner)  # the session made on A is unknown to B: what sticky sessions fix


class EachCallElsewhere(RoundRobin):
    """A balancer without stickiness that sends each tools/call to the other replica than the last one."""

    def __init__(self, ports: list[int]) -> None:
        super().__init__(ports)
        self._call_ports = itertools.cycle(ports)
        self.calls: list[tuple[str, int]] = []  # (tool, port that answered it)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content) if request.method == "POST" and request.content else {}
        if not (isinstance(body, dict) and body.get("method") == "tools/call"):
            return await super().handle_async_request(request)
        port = next(self._call_ports)
        self.calls.append((body["params"]["name"], port))
        request.url = request.url.copy_with(port=port)
        return await self._inner.handle_async_request(request)


async def test_a_sessionless_client_behind_a_non_sticky_balancer_sees_one_registry_and_memory(
    tmp_path: Path, pg_url: str
) -> None:
    """Protocol 2026-07-28 needs neither sticky sessions nor stateless mode: every request stands alone."""
    with _replica(tmp_path, "a", pg_url) as a, _replica(tmp_path, "b", pg_url) as b:
        balancer = EachCallElsewhere([a.port, b.port])
        headers = {"Authorization": f"Bearer {OWNER}"}
        async with (
            httpx2.AsyncClient(transport=balancer, headers=headers, timeout=30) as http,
            Client(streamable_http_client(f"{a.url}/mcp", http_client=http)) as client,
        ):
            assert client.protocol_version == "2026-07-28"
            for i in range(3):  # each read is answered by the other replica than the write before it
                record = {"slug": f"rack-app-{i}", "name": f"Rack App {i}", "description": "tracks glass racks"}
                written = await client.call_tool("registry_register", {"record": record})
                got = await client.call_tool("registry_get", {"slug": f"rack-app-{i}"})
                remembered = await client.call_tool("memory_remember", {"text": f"rack transom{i} moved to bay {i}"})
                found = await client.call_tool("memory_search", {"query": f"transom{i}"})
                assert not any(r.is_error for r in (written, got, remembered, found)), (written, got, remembered, found)
                assert f"bay {i}" in json.dumps(found.structured_content)
        assert [tool for tool, _ in balancer.calls[:4]] == [
            "registry_register", "registry_get", "memory_remember", "memory_search"
        ]  # fmt: skip
        assert {port for _, port in balancer.calls} == {a.port, b.port}
