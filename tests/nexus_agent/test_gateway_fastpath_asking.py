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

from nexus_agent.testing import serve_in_thread
from tests.nexus_agent.test_gateway_fastpath import OWNER, fast_path_count, nexus, raw_call, registered
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


async def test_a_sampling_client_gets_the_satellites_question_through_the_fast_path_gateway(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="nexus.gateway")
    ran: list[str] = []
    answers = AnsweringClient()
    with serve_in_thread(asking_satellite(ran)) as sat_url, nexus(tmp_path, "fast", True) as base:
        async with registered((base, base), sat_url) as http:
            # A client declaring no capabilities: the fast path takes the call, the satellite refuses before
            # running the tool (-32021), the normal path takes over and fails closed with its clear error.
            bare = await raw_call(http, base, OWNER, "fast-sat__summarise", {"topic": "stock"})
            assert bare["isError"] and "HTTP 400" not in str(bare), bare
            assert "the calling client does not support sampling" in bare["content"][0]["text"], bare
            assert ran == []
            async with (
                httpx2.AsyncClient(headers={"Authorization": f"Bearer {OWNER}"}) as h,
                Client(streamable_http_client(f"{base}/mcp", http_client=h), **answers.callbacks()) as client,
            ):
                with anyio.fail_after(30):
                    summary = await client.call_tool("fast-sat__summarise", {"topic": "Q3 quotes"})
                    echoed = await client.call_tool("fast-sat__echo", {"text": "hi"})
    assert not summary.is_error, summary.content
    assert text_of(summary) == f"summary of Q3 quotes: {SAMPLED_ANSWER}"
    assert answers.sampled == ["Summarise Q3 quotes"]
    assert ran == ["Q3 quotes"]
    assert text_of(echoed) == "hi"
    # Only the bare client's call went out on the fast path (and was handed over); the sampling client's never did.
    assert fast_path_count(caplog) == 1
    assert sum("handed fast-sat__summarise to the normal path" in r.getMessage() for r in caplog.records) == 1


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
