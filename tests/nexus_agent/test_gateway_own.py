"""The gateway fast path for Nexus's own read-only tools against the normal path: two real Nexus HTTP servers.

One Nexus answers ``registry_get``, ``registry_list``, ``memory_search``... on the fast path
(NEXUS_GATEWAY_FASTPATH on), the other through the SDK (off); every answer and every refusal must be the
same JSON, for the owner, an agent, a monitor and a satellite token alike, and the metrics must count them alike.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from nexus_agent.config import Settings
from nexus_agent.testing import serve_nexus_in_thread

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

OWNER = "owner-token-0123456789abcdef"
AGENT = "agent-token-0123456789abcdef"
MONITOR = "monitor-token-0123456789abcdef"
SATELLITE = "yard-token-0123456789abcdef"
VERSION = "2026-07-28"
TOKENS = f"owner={OWNER},bot:agent={AGENT},mon:monitor={MONITOR},yard:satellite:quote-engine={SATELLITE}"

# (token, tool, arguments): successes, argument errors, refusals, not found, a secret in the message.
CASES: list[tuple[str, str, dict[str, Any]]] = [
    (OWNER, "registry_list", {}),
    (OWNER, "registry_list", {"text": "quotes", "detail": "full"}),
    (OWNER, "registry_get", {"slug": "quote-engine"}),
    (OWNER, "registry_get", {"slug": "  quote-engine  "}),  # trimmed by the tool's model on both paths
    (OWNER, "memory_search", {"query": "aluminium"}),
    (OWNER, "instruction_list", {}),
    (AGENT, "registry_get", {"slug": "quote-engine"}),
    (AGENT, "memory_recent_activity", {"limit": 5}),
    (OWNER, "registry_get", {}),  # missing argument
    (OWNER, "registry_list", {"limit": "many", "colour": "red"}),  # wrong type, unknown field
    (OWNER, "registry_list", {"limit": 10**30}),  # a number no field can hold
    (OWNER, "registry_list", {"text": "x" * 3000}),  # over NEXUS_MAX_INPUT_BYTES
    (OWNER, "memory_search", {"query": "q", "limit": "5"}),  # lax int, as the SDK's model takes it
    (MONITOR, "memory_search", {"query": "aluminium"}),  # forbidden to the role
    (SATELLITE, "registry_list", {}),  # forbidden to the role
    (SATELLITE, "registry_get", {"slug": "stock-ledger"}),  # another app's record: the scope rule
    (SATELLITE, "registry_get", {"slug": "quote-engine"}),  # its own record
    (MONITOR, "nexus_health", {"bogus": 1}),
    (OWNER, "registry_get", {"slug": "no-such-app"}),  # not found
    (OWNER, "registry_get", {"slug": OWNER}),  # a secret in the not-found message: redacted
    (OWNER, "memory_search", {"query": OWNER}),
]


def nexus(tmp_path: Path, name: str, fast: bool) -> Any:
    env = {
        "NEXUS_HOME": str(tmp_path / name),
        "NEXUS_DB_SYNC": "normal",
        "NEXUS_TOKENS": TOKENS,
        "NEXUS_MAX_INPUT_BYTES": "2000",
        "NEXUS_GATEWAY_FASTPATH": "true" if fast else "false",
    }
    return serve_nexus_in_thread(Settings.load(env))


async def raw_call(http: httpx2.AsyncClient, base: str, token: str, name: str, arguments: dict[str, Any]) -> Any:
    """A `tools/call` as the SDK 2.3 client sends it (sessionless, plain JSON); returns the result or error."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": VERSION,
        "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    params = {"name": name, "arguments": arguments, "_meta": meta}
    body = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params}
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
    assert response.headers["content-type"].startswith("application/json")
    message = response.json()
    assert message["id"] == 7
    return message.get("result", message.get("error"))


@contextlib.asynccontextmanager
async def two_nexuses(tmp_path: Path) -> AsyncIterator[tuple[httpx2.AsyncClient, str, str]]:
    with nexus(tmp_path, "fast", True) as fast, nexus(tmp_path, "slow", False) as slow:
        async with httpx2.AsyncClient(timeout=30) as http:
            for base in (fast, slow):
                for slug in ("quote-engine", "stock-ledger"):
                    record = {"slug": slug, "name": slug.title(), "status": "pending", "description": f"{slug} app"}
                    result = await raw_call(http, base, OWNER, "registry_register", {"record": record})
                    assert not result["isError"], result
                note = {"text": "aluminium offcuts go to the yard", "title": "offcuts"}
                result = await raw_call(http, base, OWNER, "memory_remember", note)
                assert not result["isError"], result
            yield http, fast, slow


_TIME = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")


_SCORE = re.compile(r'(score\\*"\s*:\s*)[-0-9.eE+]+')  # a search hit's rank (it weighs in the note's age)


def _masked(result: Any) -> str:
    return _SCORE.sub(r"\1<s>", _TIME.sub("<t>", json.dumps(result, sort_keys=True)))


def same_apart_from_times(one: Any, other: Any) -> bool:
    """The same JSON, key for key and value for value, once what differs between two databases (when a record
    was written, a search rank that weighs its age) is masked."""
    return bool(one == other) or _masked(one) == _masked(other)


def fast_answers(caplog: pytest.LogCaptureFixture) -> int:
    return sum(r.getMessage().endswith("on the fast path") and r.name == "nexus.gateway" for r in caplog.records)


async def test_own_tools_answer_alike_on_both_paths(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="nexus.gateway")
    async with two_nexuses(tmp_path) as (http, fast, slow):
        caplog.clear()
        for token, name, arguments in CASES:
            on_fast = await raw_call(http, fast, token, name, arguments)
            on_normal = await raw_call(http, slow, token, name, arguments)
            assert same_apart_from_times(on_fast, on_normal), (name, arguments, on_fast, on_normal)
        answered_fast = fast_answers(caplog)
        health = [await raw_call(http, base, MONITOR, "nexus_health", {}) for base in (fast, slow)]
    assert answered_fast >= 8  # the successes really took the fast path
    for result in health:  # timings differ between the two servers; everything else is the same
        assert not result["isError"] and result["resultType"] == "complete"
        assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "nexus"
    fast_health, slow_health = (r["structuredContent"] for r in health)
    assert fast_health.keys() == slow_health.keys() and fast_health["status"] == slow_health["status"]


async def test_refusals_and_errors_read_right(tmp_path: Path) -> None:
    async with two_nexuses(tmp_path) as (http, fast, _):
        found = await raw_call(http, fast, AGENT, "registry_get", {"slug": "quote-engine"})
        refused = await raw_call(http, fast, MONITOR, "memory_search", {"query": "x"})
        other_app = await raw_call(http, fast, SATELLITE, "registry_get", {"slug": "stock-ledger"})
        missing = await raw_call(http, fast, OWNER, "registry_get", {"slug": OWNER})
        bad = await raw_call(http, fast, OWNER, "registry_list", {"limit": "many"})
    assert not found["isError"] and found["structuredContent"]["app"]["slug"] == "quote-engine"
    assert found["content"][0]["text"].startswith('{"')  # the compact text copy
    assert refused["isError"] and refused["content"][0]["text"].startswith("[forbidden]")
    assert other_app["isError"] and other_app["content"][0]["text"].startswith("[forbidden]")
    assert missing["isError"] and missing["content"][0]["text"].startswith("[not_found]")
    assert OWNER not in missing["content"][0]["text"] and "REDACTED" in missing["content"][0]["text"]
    assert bad["isError"] and "limit" in bad["content"][0]["text"]


async def test_metrics_count_alike(tmp_path: Path) -> None:
    async with two_nexuses(tmp_path) as (http, fast, slow):
        for base in (fast, slow):
            for token, name, arguments in CASES:
                await raw_call(http, base, token, name, arguments)
        lines = []
        for base in (fast, slow):
            with anyio.fail_after(30):
                text = (await http.get(f"{base}/metrics", headers={"authorization": f"Bearer {OWNER}"})).text
            lines.append(sorted(ln for ln in text.splitlines() if ln.startswith("nexus_tool_calls_total{")))
    assert lines[0] and lines[0] == lines[1]
