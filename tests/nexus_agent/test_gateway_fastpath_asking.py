"""The gateway fast path and a satellite that asks its client (sampling) on protocol 2026-07-28.

A calling client that declares sampling, elicitation or roots gets the satellite's questions relayed (the normal
path's relay); the fast path, which declares no capabilities to the satellite, must not take such a call.
Real processes on 127.0.0.1: an SDK 2.x satellite over HTTP, Nexus over HTTP, an SDK client that answers sampling.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import MCPServer, Resolve, Sample
from prometheus_client.parser import text_string_to_metric_families

from nexus_agent.testing import serve_in_thread
from tests.nexus_agent.test_gateway_fastpath import (
    OWNER,
    fast_path_count,
    nexus,
    raw_call,
    registered,
    two_nexuses,
)
from tests.satellites.interop_nexus import SAMPLED_ANSWER, AnsweringClient, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def ask_llm(topic: str) -> Sample:
    text = types.TextContent(type="text", text=f"Summarise {topic}")
    return Sample([types.SamplingMessage(role="user", content=text)], max_tokens=50)


def asking_satellite(ran: list[str]) -> Any:
    """A real SDK 2.x satellite whose ``summarise`` needs a sampled answer; ``ran`` records each run of a tool."""
    server = MCPServer("fast-sat")

    @server.tool()
    def summarise(topic: str, answer: Annotated[types.CreateMessageResult, Resolve(ask_llm)]) -> str:
        ran.append(topic)
        content = answer.content
        return f"summary of {topic}: {content.text if isinstance(content, types.TextContent) else content}"

    @server.tool()
    def echo(text: str) -> str:
        return text

    return server.streamable_http_app()


def _summarise_calls(metrics_text: str) -> dict[str, float]:
    return {
        s.labels["outcome"]: s.value
        for f in text_string_to_metric_families(metrics_text)
        for s in f.samples
        if s.name == "nexus_tool_calls_total" and s.labels.get("tool") == "summarise"
    }


async def _asking_calls(http: httpx2.AsyncClient, base: str, answers: AnsweringClient) -> dict[str, Any]:
    """A bare client's call, then a sampling client's two calls, against one Nexus; what each saw, and the metrics."""
    bare = await raw_call(http, base, OWNER, "fast-sat__summarise", {"topic": "stock"})
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {OWNER}"}) as h,
        Client(streamable_http_client(f"{base}/mcp", http_client=h), **answers.callbacks()) as client,
    ):
        with anyio.fail_after(30):
            summary = await client.call_tool("fast-sat__summarise", {"topic": "Q3 quotes"})
            echoed = await client.call_tool("fast-sat__echo", {"text": "hi"})
    scraped = await http.get(f"{base}/metrics", headers={"authorization": f"Bearer {OWNER}"})
    return {"bare": bare, "summary": summary, "echoed": echoed, "calls": _summarise_calls(scraped.text)}


async def test_a_sampling_client_gets_the_satellites_question_through_the_fast_path_gateway(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="nexus.gateway")
    ran: list[str] = []
    answers = {"fast": AnsweringClient(), "slow": AnsweringClient()}
    seen: dict[str, dict[str, Any]] = {}
    with serve_in_thread(asking_satellite(ran)) as sat_url, two_nexuses(tmp_path, sat_url) as (fast, slow):
        async with registered((fast, slow), sat_url) as http:
            seen["fast"] = await _asking_calls(http, fast, answers["fast"])
            assert fast_path_count(caplog) == 1  # only the bare client's call went out on the fast path
            seen["slow"] = await _asking_calls(http, slow, answers["slow"])
    got = seen["fast"]
    # The bare client: the fast path took the call, the satellite refused before running the tool (-32021),
    # the normal path took over and failed closed with its own clear error (not "satellite answered HTTP 400").
    assert got["bare"] == seen["slow"]["bare"]
    assert "the calling client does not support sampling" in got["bare"]["content"][0]["text"], got["bare"]
    assert sum("handed fast-sat__summarise to the normal path" in r.getMessage() for r in caplog.records) == 1
    # The sampling client: its question relayed, the tool run once, as with the fast path off.
    assert not got["summary"].is_error, got["summary"].content
    assert text_of(got["summary"]) == f"summary of Q3 quotes: {SAMPLED_ANSWER}"
    assert answers["fast"].sampled == ["Summarise Q3 quotes"]
    assert ran == ["Q3 quotes", "Q3 quotes"]  # once through each Nexus; never for the bare client
    assert text_of(got["echoed"]) == "hi"
    # Counted as the normal path counts: the handed-over call once (by the normal path), not also as an error here.
    assert got["calls"] == seen["slow"]["calls"] and got["calls"].get("error") == 1.0, got["calls"]


def asking_midway_satellite(asked: list[str]) -> Any:
    """A satellite that ignores the client's (empty) capabilities and answers ``book`` with ``input_required``."""
    server = MCPServer("fast-sat")

    @server.tool()
    def book(room: str) -> str:
        return f"booked {room}"

    inner = server.streamable_http_app()
    question = {"method": "sampling/createMessage", "params": {"messages": [], "maxTokens": 5}}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = dict(scope.get("headers", []))
        if scope["type"] != "http" or headers.get(b"mcp-name") != b"book":
            await inner(scope, receive, send)
            return
        request = await receive()
        asked.append(request["body"].decode())
        result = {"resultType": "input_required", "inputRequests": {"q1": question}}
        body = json.dumps({"jsonrpc": "2.0", "id": json.loads(request["body"])["id"], "result": result}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    return app


async def test_a_question_after_the_call_was_sent_is_a_clear_error_and_not_resent(tmp_path: Path) -> None:
    asked: list[str] = []
    with serve_in_thread(asking_midway_satellite(asked)) as sat_url, nexus(tmp_path, "fast", True) as base:
        async with registered((base, base), sat_url) as http:
            answer = await raw_call(http, base, OWNER, "fast-sat__book", {"room": "B2"})
    assert answer["isError"], answer
    text = answer["content"][0]["text"]
    assert "asked the client a question" in text and "did not resend" in text, text
    assert len(asked) == 1  # the tool may have acted: it is not called a second time
