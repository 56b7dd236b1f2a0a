"""The body deadline (wire.inbound.BodyTimer): a body already in is taken at once, a late one is waited for
until the deadline, a missing one gets a 408, and a cancellation from outside still reaches the waiting receive."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from nexus_agent.wire.inbound import BodyTimer

pytestmark = pytest.mark.anyio

Message = dict[str, Any]


class Server:
    """The server side of ASGI: messages it has, and a receive that waits for the next one."""

    def __init__(self, *messages: Message) -> None:
        self.messages = list(messages)
        self.arrived = anyio.Event()
        self.waiting = anyio.Event()
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        if not self.messages:
            self.waiting.set()
            await self.arrived.wait()
        return self.messages.pop(0)

    def deliver(self, message: Message) -> None:
        self.messages.append(message)
        self.arrived.set()

    async def send(self, message: Message) -> None:
        self.sent.append(message)


async def test_a_body_already_in_is_taken_without_waiting() -> None:
    server = Server({"type": "http.request", "body": b"{}", "more_body": False})
    timer = BodyTimer(server.receive, server.send, timeout_s=5)
    with anyio.fail_after(5):
        assert await timer.receive() == {"type": "http.request", "body": b"{}", "more_body": False}
    assert timer.body_done and not timer.timed_out and server.sent == []


async def test_a_body_that_arrives_later_is_waited_for_and_read_whole() -> None:
    server = Server({"type": "http.request", "body": b'{"a":', "more_body": True})
    timer = BodyTimer(server.receive, server.send, timeout_s=5)
    got: list[Message] = []

    async def read_all() -> None:
        got.append(await timer.receive())
        got.append(await timer.receive())  # waits: the rest is not in yet

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(read_all)
            await server.waiting.wait()
            server.deliver({"type": "http.request", "body": b"1}", "more_body": False})
    assert b"".join(m["body"] for m in got) == b'{"a":1}'
    assert timer.body_done and not timer.timed_out and server.sent == []


async def test_a_body_that_never_arrives_is_answered_408_at_the_deadline() -> None:
    server = Server()
    timer = BodyTimer(server.receive, server.send, timeout_s=0.2)
    with anyio.fail_after(5):
        assert await timer.receive() == {"type": "http.disconnect"}
    assert timer.timed_out and timer.status == 408
    assert server.sent[0]["type"] == "http.response.start" and server.sent[0]["status"] == 408
    await timer.send({"type": "http.response.start", "status": 200, "headers": []})  # the app's late answer
    assert len(server.sent) == 2  # dropped: the 408 (start and body) went out


async def test_a_cancellation_from_outside_reaches_a_waiting_receive() -> None:
    server = Server()
    timer = BodyTimer(server.receive, server.send, timeout_s=60)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(timer.receive)
            await server.waiting.wait()
            tg.cancel_scope.cancel()  # the request's task is cancelled (the client went away, shutdown)
    assert not timer.timed_out and server.sent == []


async def test_the_deadline_leaves_nothing_pending_for_the_requests_later_awaits() -> None:
    """The deadline cancels only what the receive waits on, never the task: the app goes on awaiting after it."""
    server = Server()
    timer = BodyTimer(server.receive, server.send, timeout_s=0.05)
    with anyio.fail_after(5):
        assert await timer.receive() == {"type": "http.disconnect"}
        await anyio.sleep(0.1)  # would raise if a cancellation were left for the task
        assert await timer.receive() == {"type": "http.disconnect"}  # and the request stays cut off
    assert timer.timed_out and server.sent[0]["status"] == 408


class YieldingServer(Server):
    """A server whose receive first yields to the event loop, then waits (the deadline may pass in between)."""

    async def receive(self) -> Message:
        await anyio.lowlevel.checkpoint()
        return await super().receive()


async def test_a_receive_that_yields_before_it_waits_is_cut_off_at_the_deadline_too() -> None:
    server = YieldingServer()
    timer = BodyTimer(server.receive, server.send, timeout_s=0.05)
    with anyio.fail_after(5):
        assert await timer.receive() == {"type": "http.disconnect"}
    assert timer.timed_out and timer.status == 408


async def test_a_body_in_time_leaves_no_deadline_behind() -> None:
    server = Server({"type": "http.request", "body": b'{"a":', "more_body": True})
    timer = BodyTimer(server.receive, server.send, timeout_s=0.1)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:

            async def read() -> None:
                await timer.receive()
                await timer.receive()

            tg.start_soon(read)
            await server.waiting.wait()
            server.deliver({"type": "http.request", "body": b"1}", "more_body": False})
        await anyio.sleep(0.2)  # past the deadline: nothing fires, nothing is sent
    assert timer.body_done and not timer.timed_out and server.sent == []
