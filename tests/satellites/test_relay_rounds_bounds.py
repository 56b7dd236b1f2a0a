"""The parked calls of 2026-07-28 clients are bounded: per caller, and in how long a question may wait.

The contexts stand in for the front end's request contexts, as in test_relay_rounds.py (whose helpers
these tests reuse); the interop tests drive the same relay over real transports.
"""

from __future__ import annotations

from typing import Any

import anyio
import mcp_types as types
import pytest

from nexus_agent.auth import Principal, Role
from nexus_agent.satellites import relay_rounds
from nexus_agent.satellites.relay import RelayBoard
from nexus_agent.satellites.relay_rounds import RoundsRelay
from tests.satellites.test_relay_rounds import AGENT, OWNER, SAMPLE, TOOL, Request, relay, satellite  # noqa: F401

pytestmark = pytest.mark.anyio


async def test_one_caller_cannot_take_every_parking_place(relay: RoundsRelay) -> None:  # noqa: F811
    """A caller that starts calls and never answers their questions fills its own share, not everyone's."""
    board = RelayBoard("quotes")
    with anyio.fail_after(30):
        for _ in range(relay_rounds._MAX_PARKED):
            await relay.call(Request(), AGENT, TOOL, satellite(board), keep_for=30)
        other = await relay.call(Request(), OWNER, TOOL, satellite(board), keep_for=30)
    assert isinstance(other, types.InputRequiredResult), other


async def test_a_caller_past_its_share_hears_that_its_client_cannot_be_asked(relay: RoundsRelay) -> None:  # noqa: F811
    board = RelayBoard("quotes")
    greedy = Principal(name="greedy", role=Role.AGENT)
    with anyio.fail_after(30):
        for _ in range(relay_rounds._MAX_PARKED_PER_CALLER):
            assert isinstance(
                await relay.call(Request(), greedy, TOOL, satellite(board), keep_for=30), types.InputRequiredResult
            )
        refused = await relay.call(Request(), greedy, TOOL, satellite(board), keep_for=30)
    assert "has no channel for a server's requests" in refused


async def test_a_question_still_open_when_its_call_ends_is_released(relay: RoundsRelay) -> None:  # noqa: F811
    """The satellite call timed out while its question waited for the client: the question stops waiting too
    (else each abandoned call would leave a task waiting for ever on the satellite's connection)."""
    board = RelayBoard("quotes")
    deadline = anyio.Event()
    replies: list[Any] = []
    replied = anyio.Event()

    async with anyio.create_task_group() as handlers:  # where an MCP client runs a satellite's requests

        async def question() -> None:
            replies.append(await board.sampling(None, SAMPLE))  # type: ignore[arg-type]
            replied.set()

        async def run() -> str:
            with board.call():
                handlers.start_soon(question)
                await deadline.wait()
                raise TimeoutError("the satellite call's deadline passed")

        with anyio.fail_after(5):
            first = await relay.call(Request(), OWNER, TOOL, run, keep_for=5)
            assert isinstance(first, types.InputRequiredResult)
            deadline.set()
            await replied.wait()
            with pytest.raises(TimeoutError):  # the client that comes back hears how the call ended
                await relay.call(Request(request_state=first.request_state), OWNER, TOOL, run, keep_for=5)
    (reply,) = replies
    assert isinstance(reply, types.ErrorData) and "ended" in reply.message


async def test_an_outcome_the_client_collected_is_not_kept_afterwards(relay: RoundsRelay) -> None:  # noqa: F811
    """Every 2026-07-28 call runs parked, asked or not: once its outcome is handed over, Nexus holds it no longer
    (else a large answer stayed in memory a whole deadline after each call, and a busy client multiplied it)."""
    import gc
    import weakref

    class Answer:
        payload = "x" * 1_000_000

    kept: list[weakref.ref[Answer]] = []

    async def run() -> Answer:
        answer = Answer()
        kept.append(weakref.ref(answer))
        return answer

    with anyio.fail_after(5):
        got = await relay.call(Request(), OWNER, TOOL, run, keep_for=60)
        assert isinstance(got, Answer)
        del got
        await anyio.wait_all_tasks_blocked()
    gc.collect()
    assert kept[0]() is None
