"""A fan-out's calls to 2026-07-28 HTTP satellites go as plain JSON-RPC (raw_call), with the same outcomes
as the SDK client's path: success, tool error, satellite down, timeout, a token-protected satellite and an
answer carrying a secret (withheld) read the same item by item, and the pool's observer hears the same."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

import anyio
import pytest
from mcp.server import MCPServer
from mcp.server.mcpserver import Resolve, Sample
from mcp_types import CreateMessageResult, SamplingMessage, TextContent

from nexus_agent.testing import serve_in_thread
from nexus_agent.wire.models import AppEndpoints, AppRecord, AppStatus

pytestmark = pytest.mark.anyio

SLUGS = ["good", "err", "hang", "gone", "sec"]


def records(sats: Any) -> list[Any]:
    return [
        sats.record("good"),
        sats.record("err"),
        sats.record("hang"),
        sats.record("gone", "down"),
        sats.record("sec", token_env=sats.token_env),
    ]


def summary(result: Any) -> list[tuple[Any, ...]]:
    """What a user of the fan-out sees of each item (durations aside)."""
    rows = []
    for item in result.items:
        error = item.error or {}
        answer = item.result
        rows.append(
            (
                item.slug,
                item.ok,
                error.get("code"),
                (error.get("details") or {}).get("reason") if isinstance(error.get("details"), dict) else None,
                error.get("message"),
                answer.text if answer else None,
                answer.is_error if answer else None,
                answer.structured_content if answer else None,
            )
        )
    return rows


async def fan_outs(sats: Any, make_pool: Any, *, raw: bool) -> tuple[list[Any], list[Any], Counter[str]]:
    """Two fan-outs (the first connects, the second is warm) and one whose answer echoes a secret."""
    heard: list[tuple[str, str, str, str]] = []
    posts: Counter[str] = Counter()  # plain JSON-RPC posts by method
    async with make_pool(records(sats), raw_fanout=raw) as pool:
        pool.observer = lambda slug, tool, outcome, kind, _s: heard.append((slug, tool, outcome, kind))
        relay = pool.raw_relay()
        sent = relay.post

        async def counted(url: str, body: bytes, headers: dict[str, str], **kwargs: Any) -> Any:
            posts[headers["mcp-method"]] += 1
            return await sent(url, body, headers, **kwargs)

        relay.post = counted  # type: ignore[method-assign]
        with anyio.fail_after(20):
            results = [await pool.fan_out("echo", {"text": "hi"}, slugs=SLUGS, timeout=1.0) for _ in range(2)]
            results.append(await pool.fan_out("echo", {"text": f"it is {sats.secret}"}, slugs=["good"], timeout=2.0))
    return [summary(r) for r in results], sorted(heard), posts


async def test_raw_and_sdk_fan_outs_give_the_same_items(sats, make_pool):
    sdk, sdk_heard, sdk_posts = await fan_outs(sats, make_pool, raw=False)
    raw, raw_heard, raw_posts = await fan_outs(sats, make_pool, raw=True)
    assert raw == sdk
    assert raw_heard == sdk_heard
    assert not sdk_posts
    # good, err, hang and sec were called on 2026-07-28 (twice), and good once more; 'gone' never connects.
    assert raw_posts["tools/call"] == 9
    # Their first contact went plain too: discovered (and 'gone' tried) once, listed once.
    assert raw_posts["server/discover"] == 5 and raw_posts["tools/list"] == 4
    first = {row[0]: row for row in raw[0]}
    assert first["good"][1] and first["good"][5] == "hi"
    assert first["sec"][1] and first["sec"][5] == "secure hi"  # the satellite's bearer token went with the raw call
    assert first["err"][2] == "tool_error" and first["err"][6] is True
    assert first["hang"][3] == "timeout"
    assert first["gone"][3] == "unreachable"
    (leak,) = raw[2]
    assert not leak[1] and leak[3] == "secret_in_answer" and sats.secret not in str(leak)


async def test_a_raw_call_checks_arguments_against_the_cached_schema(sats, make_pool):
    async with make_pool([sats.record("good")]) as pool:
        with anyio.fail_after(10):
            await pool.fan_out("echo", {"text": "warm"}, slugs=["good"])
            before = sats.traffic.count("good", "tools/call")
            result = await pool.fan_out("echo", {"text": 5}, slugs=["good"])
    (item,) = result.items
    assert not item.ok and item.error["code"] == "invalid_input"
    assert sats.traffic.count("good", "tools/call") == before  # refused before anything was sent


async def test_a_raw_fan_out_keeps_the_breaker(sats, make_pool):
    async with make_pool([sats.record("hang")], breaker_threshold=2) as pool:
        with anyio.fail_after(15):
            for _ in range(2):
                await pool.fan_out("echo", {"text": "x"}, slugs=["hang"], timeout=0.5)
            calls = sats.traffic.count("hang", "tools/call")
            result = await pool.fan_out("echo", {"text": "x"}, slugs=["hang"], timeout=0.5)
    assert result.items[0].error["details"]["reason"] == "circuit_open"
    assert sats.traffic.count("hang", "tools/call") == calls


def ask_llm(topic: str) -> Sample:
    return Sample([SamplingMessage(role="user", content=TextContent(type="text", text=topic))], max_tokens=5)


def asking_server() -> MCPServer:
    server = MCPServer("asker")

    @server.tool()
    def summarise(topic: str, answer: Annotated[CreateMessageResult, Resolve(ask_llm)]) -> str:
        return f"summary of {topic}"

    return server


async def test_a_satellite_that_wants_to_ask_gets_the_sdk_path(make_pool):
    """It answers the raw call by asking (input_required or -32021); the SDK path then makes the call, so the
    fan-out's item reads exactly as without the raw path."""
    outcomes = []
    with serve_in_thread(asking_server().streamable_http_app()) as base:
        record = AppRecord(
            slug="asker", name="Asker", status=AppStatus.active, endpoints=AppEndpoints(mcp_url=f"{base}/mcp")
        )
        for raw in (False, True):
            async with make_pool([record], raw_fanout=raw) as pool:
                relay = pool.raw_relay()
                sent, posts = relay.post, []

                async def counted(*args: Any, _sent: Any = sent, _posts: list[int] = posts, **kw: Any) -> Any:
                    answer = await _sent(*args, **kw)
                    if args[2]["mcp-method"] == "tools/call":
                        _posts.append(answer.status)
                    return answer

                relay.post = counted  # type: ignore[method-assign]
                with anyio.fail_after(15):
                    result = await pool.fan_out("summarise", {"topic": "q3"}, slugs=["asker"])
            outcomes.append((summary(result), len(posts)))
    (sdk, sdk_posts), (raw_rows, raw_posts) = outcomes
    assert raw_rows == sdk
    assert sdk_posts == 0 and raw_posts == 1  # asked once on the raw path, then handed over
