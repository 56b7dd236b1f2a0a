"""The relay with a satellite on protocol 2026-07-28 (an MCP SDK 2.x server asking through resolvers),
for a calling client on 2025-11-25 and one on 2026-07-28.

Such a satellite asks by answering the call with ``input_required``; Nexus's client fulfils it in the
calling task, so each question is tied to its own call exactly, even when calls overlap on one connection.
Real processes: `nexus serve` over stdio, the satellite over stdio.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest

from tests.satellites.interop_nexus import (
    SAMPLED_ANSWER,
    AnsweringClient,
    nexus_client,
    register_stdio_satellite,
    text_of,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ASKER = """
from typing import Annotated
from pydantic import BaseModel
from mcp.server.mcpserver import MCPServer, Resolve, Sample, Elicit, ListRoots
from mcp_types import SamplingMessage, TextContent, CreateMessageResult, ListRootsResult

server = MCPServer("asker")

class Approval(BaseModel):
    check: bool

def ask_llm(topic: str) -> Sample:
    text = TextContent(type="text", text=f"Summarise {topic}")
    return Sample([SamplingMessage(role="user", content=text)], max_tokens=50)

def ask_user(order: str) -> Elicit[Approval]:
    return Elicit(f"Approve order {order}?", Approval)

def ask_roots() -> ListRoots:
    return ListRoots()

@server.tool()
def summarise(topic: str, answer: Annotated[CreateMessageResult, Resolve(ask_llm)]) -> str:
    return f"summary of {topic}: {answer.content.text}"

@server.tool()
def approve(order: str, decision: Annotated[Approval, Resolve(ask_user)]) -> str:
    return f"order {order} approved={decision.check}"

@server.tool()
def where(roots: Annotated[ListRootsResult, Resolve(ask_roots)]) -> str:
    return "roots: " + ", ".join(str(r.uri) for r in roots.roots)

server.run()
"""


@pytest.fixture
def asker(tmp_path: Path) -> list[str]:
    script = tmp_path / "asker.py"
    script.write_text(ASKER)
    return [sys.executable, str(script)]


# The client on 2025-11-25 is asked on its session; the one on 2026-07-28 by `input_required` rounds.
MODES = pytest.mark.parametrize("mode", ["legacy", "auto"])


@MODES
async def test_a_2026_satellites_questions_reach_the_calling_client(
    tmp_path: Path, asker: list[str], mode: str
) -> None:
    answers = AnsweringClient()
    with anyio.fail_after(60):
        async with nexus_client(tmp_path / "nexus", mode=mode, answers=answers) as client:
            await register_stdio_satellite(client, "asker", asker)
            summary = await client.call_tool("asker__summarise", {"topic": "Q3 quotes"})
            approval = await client.call_tool("asker__approve", {"order": "O-17"})
            roots = await client.call_tool("asker__where", {})
    assert text_of(summary) == f"summary of Q3 quotes: {SAMPLED_ANSWER}"
    assert answers.sampled == ["Summarise Q3 quotes"]
    assert text_of(approval) == "order O-17 approved=True"
    assert answers.elicited == ["[asker] Approve order O-17?"]
    assert text_of(roots) == f"roots: {answers.root}"


@MODES
async def test_overlapping_calls_each_get_their_own_answer(tmp_path: Path, asker: list[str], mode: str) -> None:
    """Both questions are outstanding at once (the client answers only when it holds both): no refusal, no mix-up."""
    both_asked = anyio.Event()

    class Holding(AnsweringClient):
        async def sampling(self, context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
            await super().sampling(context, params)
            if len(self.sampled) == 2:
                both_asked.set()
            await both_asked.wait()
            text = types.TextContent(type="text", text=f"answer to '{self.sampled_text(params)}'")
            return types.CreateMessageResult(role="assistant", content=text, model="scripted-model")

    answers = Holding()
    results: dict[str, str] = {}
    with anyio.fail_after(60):
        async with nexus_client(tmp_path / "nexus", mode=mode, answers=answers) as client:
            await register_stdio_satellite(client, "asker", asker)

            async def summarise(topic: str) -> None:
                results[topic] = text_of(await client.call_tool("asker__summarise", {"topic": topic}))

            async with anyio.create_task_group() as tg:
                tg.start_soon(summarise, "stock")
                tg.start_soon(summarise, "invoices")
    assert results == {
        "stock": "summary of stock: answer to 'Summarise stock'",
        "invoices": "summary of invoices: answer to 'Summarise invoices'",
    }
