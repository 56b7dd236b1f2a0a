"""The relay for clients on 2026-07-28, on its own: questions as `input_required`, answers in the retry.

The contexts here stand in for the front end's request contexts; test_interop_everything.py and
test_relay_modern_satellite.py drive the same path with a real SDK client over stdio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp.server.mcpserver.exceptions import ToolError

from nexus_agent.auth import Principal, Role
from nexus_agent.satellites.relay import RelayBoard
from nexus_agent.satellites.relay_rounds import STATE_PREFIX, RoundsRelay

pytestmark = pytest.mark.anyio

OWNER = Principal(name="warren", role=Role.OWNER, via="stdio", credential="local")
AGENT = Principal(name="assistant", role=Role.AGENT)
TOOL = "quotes__summarise"
SAMPLE = types.CreateMessageRequestParams(
    messages=[types.SamplingMessage(role="user", content=types.TextContent(type="text", text="Summarise Q3"))],
    max_tokens=20,
)


@dataclass
class ModernSession:
    client_capabilities: types.ClientCapabilities = field(
        default_factory=lambda: types.ClientCapabilities(sampling=types.SamplingCapability())
    )
    can_send_request: bool = False  # 2026-07-28: no channel for a server's requests during a call


@dataclass
class Request:
    """One tools/call as the front end sees it: the first one, or a retry with state and answers."""

    request_state: str | None = None
    input_responses: dict[str, Any] | None = None
    session: ModernSession = field(default_factory=ModernSession)
    request_id: int = 1
    protocol_version: str = "2026-07-28"


def answer(text: str) -> types.CreateMessageResult:
    return types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text=text), model="m")


@pytest.fixture
async def relay() -> AsyncIterator[RoundsRelay]:
    rounds = RoundsRelay()
    async with rounds.serving():
        yield rounds


def satellite(board: RelayBoard, asks: int = 1, fail: bool = False) -> Any:
    """A satellite call that asks ``asks`` questions in a row and returns what it was told."""

    async def run() -> str:
        heard = []
        with board.call():
            for _ in range(asks):
                reply = await board.sampling(None, SAMPLE)
                heard.append(reply.content.text if isinstance(reply, types.CreateMessageResult) else reply.message)
        if fail:
            raise RuntimeError("the satellite fell over")
        return " / ".join(heard)

    return run


async def test_a_question_comes_as_input_required_and_the_retry_answers_it(relay: RoundsRelay) -> None:
    board = RelayBoard("quotes")
    run = satellite(board)
    with anyio.fail_after(5):
        first = await relay.call(Request(), OWNER, TOOL, run, keep_for=5)
        assert isinstance(first, types.InputRequiredResult)
        assert first.request_state and first.request_state.startswith(STATE_PREFIX)
        ((key, question),) = first.input_requests.items()  # type: ignore[union-attr]
        assert question.method == "sampling/createMessage" and question.params.messages == SAMPLE.messages
        retry = Request(request_state=first.request_state, input_responses={key: answer("forty-two")})
        assert await relay.call(retry, OWNER, TOOL, run, keep_for=5) == "forty-two"


async def test_questions_in_a_row_take_one_round_each(relay: RoundsRelay) -> None:
    board = RelayBoard("quotes")
    run = satellite(board, asks=2)
    with anyio.fail_after(5):
        step = await relay.call(Request(), OWNER, TOOL, run, keep_for=5)
        for text in ("one", "two"):
            assert isinstance(step, types.InputRequiredResult)
            (key,) = step.input_requests or {}
            retry = Request(request_state=step.request_state, input_responses={key: answer(text)})
            step = await relay.call(retry, OWNER, TOOL, run, keep_for=5)
    assert step == "one / two"


async def test_a_question_left_unanswered_is_asked_again(relay: RoundsRelay) -> None:
    board = RelayBoard("quotes")
    run = satellite(board)
    with anyio.fail_after(5):
        first = await relay.call(Request(), OWNER, TOOL, run, keep_for=5)
        again = await relay.call(Request(request_state=first.request_state), OWNER, TOOL, run, keep_for=5)
    assert isinstance(again, types.InputRequiredResult)
    assert again.input_requests == first.input_requests and again.request_state == first.request_state


@pytest.mark.parametrize(("principal", "tool"), [(AGENT, TOOL), (OWNER, "quotes__other")])
async def test_only_the_same_caller_and_tool_resume_a_call(relay: RoundsRelay, principal: Principal, tool: str) -> None:
    board = RelayBoard("quotes")
    run = satellite(board)
    with anyio.fail_after(5):
        first = await relay.call(Request(), OWNER, TOOL, run, keep_for=5)
        (key,) = first.input_requests or {}
        stolen = Request(request_state=first.request_state, input_responses={key: answer("hijacked")})
        with pytest.raises(ToolError, match="unknown to this Nexus"):
            await relay.call(stolen, principal, tool, run, keep_for=5)
        mine = Request(request_state=first.request_state, input_responses={key: answer("mine")})
        assert await relay.call(mine, OWNER, TOOL, run, keep_for=5) == "mine"


async def test_an_unknown_state_is_refused_with_how_to_fix(relay: RoundsRelay) -> None:
    board = RelayBoard("quotes")
    with pytest.raises(ToolError) as exc:
        await relay.call(Request(request_state=STATE_PREFIX + "forged"), OWNER, TOOL, satellite(board), keep_for=5)
    assert "call the tool again without requestState" in str(exc.value)


async def test_the_satellites_failure_reaches_the_round_that_sees_it(relay: RoundsRelay) -> None:
    board = RelayBoard("quotes")
    run = satellite(board, fail=True)
    with anyio.fail_after(5):
        first = await relay.call(Request(), OWNER, TOOL, run, keep_for=5)
        (key,) = first.input_requests or {}
        retry = Request(request_state=first.request_state, input_responses={key: answer("ok")})
        with pytest.raises(RuntimeError, match="fell over"):
            await relay.call(retry, OWNER, TOOL, run, keep_for=5)


async def test_a_call_that_asks_nothing_is_answered_at_once(relay: RoundsRelay) -> None:
    with anyio.fail_after(5):
        assert await relay.call(Request(), OWNER, TOOL, satellite(RelayBoard("quotes"), asks=0), keep_for=5) == ""


async def test_without_a_server_hosting_the_rounds_a_2026_client_is_refused() -> None:
    board = RelayBoard("quotes")
    with anyio.fail_after(5):
        refused = await RoundsRelay().call(Request(), OWNER, TOOL, satellite(board), keep_for=5)
    assert "has no channel for a server's requests" in refused


async def test_a_client_with_a_channel_back_is_asked_directly() -> None:
    """A 2025-11-25 session can take the request mid-call: no rounds, no parked call."""

    @dataclass
    class LegacySession:
        client_capabilities: types.ClientCapabilities = field(
            default_factory=lambda: types.ClientCapabilities(sampling=types.SamplingCapability())
        )
        can_send_request: bool = True

        async def send_request(self, request: Any, result_type: Any, metadata: Any = None) -> Any:
            return answer("asked on the session")

    rounds, board = RoundsRelay(), RelayBoard("quotes")
    async with rounds.serving():
        request = Request(session=LegacySession(), protocol_version="2025-11-25")  # type: ignore[arg-type]
        with anyio.fail_after(5):
            assert await rounds.call(request, OWNER, TOOL, satellite(board), keep_for=5) == "asked on the session"
