"""The relay's rules, on its own: whom a satellite's request goes to, and when it is refused (fail closed).

The sessions here stand in for the front end's MCP sessions (what Nexus would send on); the interop tests
(test_interop_everything.py, test_relay_modern_satellite.py) run the same path over real transports.
"""

from __future__ import annotations

import asyncio
import logging
from contextvars import copy_context
from dataclasses import dataclass, field
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from nexus_agent.auth import Principal, Role
from nexus_agent.satellites.relay import RelayBoard, calling_client, detach, without_task_only_tools

pytestmark = pytest.mark.anyio

OWNER = Principal(name="warren", role=Role.OWNER, via="stdio", credential="local")
AGENT = Principal(name="assistant", role=Role.AGENT)
MONITOR = Principal(name="dashboard", role=Role.MONITOR)
EVERYTHING = types.ClientCapabilities(
    sampling=types.SamplingCapability(),
    elicitation=types.ElicitationCapability(
        form=types.FormElicitationCapability(), url=types.UrlElicitationCapability()
    ),
    roots=types.RootsCapability(),
)
SAMPLE = types.CreateMessageRequestParams(
    messages=[types.SamplingMessage(role="user", content=types.TextContent(type="text", text="Summarise Q3"))],
    max_tokens=20,
)
FORM = types.ElicitRequestFormParams(
    message="Approve order O-17?", requested_schema={"type": "object", "properties": {}}
)
URL = types.ElicitRequestURLParams(message="Sign in", url="https://sfg.example.test/login", elicitation_id="e1")


@dataclass
class FakeSession:
    """What the relay uses of a front-end session: capabilities, whether it has a channel back, send_request."""

    name: str
    client_capabilities: types.ClientCapabilities | None = field(default_factory=lambda: EVERYTHING)
    can_send_request: bool = True
    refuse: bool = False
    sent: list[tuple[str, Any]] = field(default_factory=list)

    async def send_request(self, request: Any, result_type: Any, metadata: Any = None) -> Any:
        self.sent.append((request.method, metadata.related_request_id))
        if self.refuse:
            raise MCPError(code=-1, message="User rejected sampling request")
        if request.method == "sampling/createMessage":
            text = types.TextContent(type="text", text=f"from {self.name}")
            return types.CreateMessageResult(role="assistant", content=text, model="m")
        if request.method == "elicitation/create":
            return types.ElicitResult(action="accept", content={"by": self.name, "asked": request.params.message})
        return types.ListRootsResult(roots=[types.Root(uri=f"file:///{self.name}")])


@dataclass
class FakeContext:
    session: FakeSession
    request_id: int = 7
    protocol_version: str = "2025-11-25"


async def _in_call(board: RelayBoard, context: FakeContext | None, principal: Principal, ask: Any) -> Any:
    """Make a satellite call as ``principal`` through ``context``'s client, and have the satellite ask in it."""
    with calling_client(context, principal), board.call():
        return await ask()


async def test_a_request_during_a_call_goes_to_that_calls_client() -> None:
    board, session = RelayBoard("quotes"), FakeSession("warren")
    answer = await _in_call(board, FakeContext(session), OWNER, lambda: board.sampling(None, SAMPLE))
    assert isinstance(answer, types.CreateMessageResult) and answer.content.text == "from warren"  # type: ignore[union-attr]
    assert session.sent == [("sampling/createMessage", 7)]  # on the call's own request (its HTTP stream)


async def test_the_user_sees_which_satellite_asks() -> None:
    board, session = RelayBoard("quotes"), FakeSession("warren")
    answer = await _in_call(board, FakeContext(session), OWNER, lambda: board.elicitation(None, FORM))
    assert answer.content["asked"] == "[quotes] Approve order O-17?"


async def test_outside_any_call_the_satellite_is_refused() -> None:
    board = RelayBoard("quotes")
    refused = await board.list_roots(None)
    assert isinstance(refused, types.ErrorData)
    assert "only during a tool call" in refused.message


async def test_a_call_nexus_made_itself_is_not_relayed() -> None:
    board = RelayBoard("quotes")
    with board.call():  # the planner, satellite_call or a fan-out: no calling_client around it
        refused = await board.sampling(None, SAMPLE)
    assert isinstance(refused, types.ErrorData) and "made by Nexus itself" in refused.message


@pytest.mark.parametrize(
    ("capabilities", "ask", "reason"),
    [
        (types.ClientCapabilities(), "sampling", "does not support sampling"),
        (None, "roots", "does not support roots"),
        (types.ClientCapabilities(sampling=types.SamplingCapability()), "form", "does not support elicitation"),
        (
            types.ClientCapabilities(elicitation=types.ElicitationCapability(form=types.FormElicitationCapability())),
            "url",
            "does not support URL-mode elicitation",
        ),
    ],
)
async def test_a_capability_the_client_did_not_declare_is_refused(capabilities: Any, ask: str, reason: str) -> None:
    board, session = RelayBoard("quotes"), FakeSession("warren", client_capabilities=capabilities)
    asks = {
        "sampling": lambda: board.sampling(None, SAMPLE),
        "roots": lambda: board.list_roots(None),
        "form": lambda: board.elicitation(None, FORM),
        "url": lambda: board.elicitation(None, URL),
    }
    refused = await _in_call(board, FakeContext(session), OWNER, asks[ask])
    assert isinstance(refused, types.ErrorData) and reason in refused.message
    assert session.sent == []


async def test_form_mode_is_implied_when_a_client_declares_no_mode() -> None:
    caps = types.ClientCapabilities(elicitation=types.ElicitationCapability())
    board, session = RelayBoard("quotes"), FakeSession("warren", client_capabilities=caps)
    answer = await _in_call(board, FakeContext(session), OWNER, lambda: board.elicitation(None, FORM))
    assert isinstance(answer, types.ElicitResult) and answer.action == "accept"


async def test_a_client_without_a_channel_back_is_refused_with_its_protocol() -> None:
    board, session = RelayBoard("quotes"), FakeSession("remote", can_send_request=False)
    context = FakeContext(session, protocol_version="2026-07-28")
    refused = await _in_call(board, context, AGENT, lambda: board.sampling(None, SAMPLE))
    assert isinstance(refused, types.ErrorData)
    assert "(protocol 2026-07-28) has no channel" in refused.message and session.sent == []


async def test_a_role_that_does_not_act_for_a_person_is_not_asked() -> None:
    board, session = RelayBoard("quotes"), FakeSession("dashboard")
    refused = await _in_call(board, FakeContext(session), MONITOR, lambda: board.elicitation(None, FORM))
    assert isinstance(refused, types.ErrorData) and "role 'monitor'" in refused.message and session.sent == []


async def test_the_clients_refusal_reaches_the_satellite() -> None:
    board, session = RelayBoard("quotes"), FakeSession("warren", refuse=True)
    answer = await _in_call(board, FakeContext(session), OWNER, lambda: board.sampling(None, SAMPLE))
    assert isinstance(answer, types.ErrorData) and answer.message == "User rejected sampling request"


async def test_overlapping_calls_of_two_clients_never_cross() -> None:
    """Requests read in each call's own context go to its own client; one read elsewhere is refused."""
    board = RelayBoard("quotes")
    alice, bob = FakeSession("alice"), FakeSession("bob")
    both_in = anyio.Event()
    answers: dict[str, Any] = {}
    in_calls = 0

    async def call(name: str, session: FakeSession) -> None:
        nonlocal in_calls
        with calling_client(FakeContext(session), OWNER), board.call():
            in_calls += 1
            if in_calls == 2:
                both_in.set()
            await both_in.wait()
            answers[name] = await board.sampling(None, SAMPLE)
            await done.wait()

    async def reader() -> None:  # a stdio satellite's requests are read by the connection's own task
        detach()
        await both_in.wait()
        answers["reader"] = await board.list_roots(None)
        done.set()

    done = anyio.Event()
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(call, "alice", alice)
            tg.start_soon(call, "bob", bob)
            tg.start_soon(reader)
    assert answers["alice"].content.text == "from alice" and answers["bob"].content.text == "from bob"
    assert [m for m, _ in alice.sent] == ["sampling/createMessage"] == [m for m, _ in bob.sent]
    assert (
        isinstance(answers["reader"], types.ErrorData) and "2 tool calls are in progress" in answers["reader"].message
    )


async def test_a_request_read_elsewhere_goes_to_the_one_call_in_progress() -> None:
    board, session = RelayBoard("quotes"), FakeSession("warren")
    result: list[Any] = []

    async def reader() -> None:
        detach()
        result.append(await board.list_roots(None))

    with calling_client(FakeContext(session), OWNER), board.call():
        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
    assert str(result[0].roots[0].uri) == "file:///warren"
    assert session.sent == [("roots/list", 7)]


def test_tools_that_run_only_as_tasks_are_not_listed(caplog: pytest.LogCaptureFixture) -> None:
    def tool(name: str, support: str | None) -> types.Tool:
        execution = types.ToolExecution(task_support=support) if support else None  # type: ignore[arg-type]
        return types.Tool(name=name, input_schema={"type": "object"}, execution=execution)

    tools = [tool("plain", None), tool("either", "optional"), tool("never", "forbidden"), tool("research", "required")]
    with caplog.at_level(logging.INFO, logger="nexus_agent.satellites.relay"):
        kept = without_task_only_tools("everything", tools)
    assert [t.name for t in kept] == ["plain", "either", "never"]
    assert "tool 'research' is not listed: it runs only as a task" in caplog.text


async def test_a_request_from_a_call_that_ended_is_not_given_to_another() -> None:
    """A late request read in an ended call's context is refused, even while another client's call runs."""
    board, alice, bob = RelayBoard("quotes"), FakeSession("alice"), FakeSession("bob")
    with calling_client(FakeContext(alice), OWNER), board.call():
        ended_call = copy_context()  # what a message sent during alice's call carries
    with anyio.fail_after(5), calling_client(FakeContext(bob), OWNER), board.call():
        late = await asyncio.get_running_loop().create_task(board.sampling(None, SAMPLE), context=ended_call)
    assert isinstance(late, types.ErrorData) and "has already ended" in late.message
    assert alice.sent == [] and bob.sent == []
