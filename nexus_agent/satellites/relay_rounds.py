"""The relay for clients on protocol 2026-07-28: a satellite's questions ride Nexus's ``input_required`` results.

A 2026-07-28 client has no channel for a server's requests during a call. Instead a
server answers ``tools/call`` with ``input_required`` (the questions and an opaque
``requestState``); the client answers them and sends the same call again with its
answers and that state (SEP-2322, "multi round-trip requests"). A satellite, though,
may still be waiting mid-call for its answer (any satellite on an older protocol is),
so Nexus keeps the call running in a task of its own, parked under a random token:

1. The first request starts the satellite call and waits for its outcome or its first
   question; a question is answered with ``input_required`` and the token as state.
2. The retry carries the token and the answers: Nexus hands them to the waiting
   satellite and again waits for the outcome or the next question.

The token is unguessable and bound to the caller (name and role) and the tool, so
only the client that started the call can drive it; a parked call lives no longer
than the satellite call's own deadline, and its outcome is kept for one more
deadline's length for a client that comes back late; a question still open when its call
ends is answered with an error, so the satellite's side stops waiting too. One caller parks
at most ``_MAX_PARKED_PER_CALLER`` calls (all together ``_MAX_PARKED``); past that its satellite
questions are refused as for a client without rounds. State lives in this process:
a retry that reaches another Nexus replica is told to call again.

The calls run in a task group that the server's lifetime owns (:meth:`RoundsRelay.serving`);
without it (an in-process server nobody serves), 2026-07-28 clients are refused as before.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import anyio
import anyio.abc
import mcp_types as types
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from nexus_agent.auth import Principal
from nexus_agent.satellites.relay import calling_client

__all__ = ["STATE_PREFIX", "ParkedCall", "RoundsRelay"]

logger = logging.getLogger(__name__)

#: What Nexus's own request states start with (any other state is not Nexus's to resume).
STATE_PREFIX = "nexus-relay/"
_MAX_PARKED = 1000
#: One caller's share: a client that never answers fills this, not every caller's places.
_MAX_PARKED_PER_CALLER = 100


@dataclass(eq=False)
class _Question:
    request: Any  # the InputRequest as the client receives it
    result_type: Any
    answered: anyio.Event = field(default_factory=anyio.Event)
    answer: Any = None


def _ended() -> types.ErrorData:
    return types.ErrorData(code=types.INVALID_REQUEST, message="the tool call this question belongs to has ended")


class ParkedCall:
    """One satellite call a 2026-07-28 client drives by rounds: its questions, and in the end its outcome."""

    def __init__(self, principal: Principal, tool: str, keep_for: float) -> None:
        self.token = STATE_PREFIX + secrets.token_urlsafe(24)
        self.principal = principal
        self.tool = tool
        self.keep_for = keep_for
        self._keys = count(1)
        self._new: dict[str, _Question] = {}  # asked by the satellite, not yet sent to the client
        self._sent: dict[str, _Question] = {}  # sent, not yet answered
        self._changed = anyio.Event()
        self.done = False
        self.collected = anyio.Event()  # the outcome was handed to the client: nothing left to keep
        self._result: Any = None
        self._error: BaseException | None = None

    async def ask(self, request: Any, result_type: Any) -> Any:
        """The satellite's question (called in the call's task): wait until the client's retry answers it."""
        if self.done:
            return _ended()
        key = f"q{next(self._keys)}"
        question = _Question(request, result_type)
        self._new[key] = question
        self._changed.set()
        await question.answered.wait()
        return question.answer

    def answer(self, responses: dict[str, Any] | None) -> None:
        for key, response in (responses or {}).items():
            question = self._sent.pop(key, None)
            if question is None:
                continue  # not a question of this call (or answered already): ignored, as the SDK does
            try:
                data = response.model_dump(by_alias=True, exclude_none=True, mode="json")
                question.answer = question.result_type.model_validate(data, by_name=False)
            except Exception as exc:  # a malformed answer: the satellite hears it as an error
                question.answer = types.ErrorData(code=types.INVALID_PARAMS, message=f"malformed answer: {exc}")
            question.answered.set()

    def finish(self, result: Any = None, error: BaseException | None = None) -> None:
        self.done, self._result, self._error = True, result, error
        for question in (*self._new.values(), *self._sent.values()):  # the satellite stops waiting on them too
            question.answer = _ended()
            question.answered.set()
        self._new.clear()
        self._sent.clear()
        self._changed.set()

    async def next_step(self) -> Any:
        """The call's outcome, or ``input_required`` with the questions the client has to answer now."""
        while True:
            if self.done:
                if self._error is not None:
                    raise self._error
                return self._result
            if self._new or self._sent:  # unanswered ones are asked again: the satellite waits on them
                self._sent.update(self._new)
                self._new.clear()
                requests = {key: q.request for key, q in self._sent.items()}
                return types.InputRequiredResult(input_requests=requests, request_state=self.token)
            await self._changed.wait()
            self._changed = anyio.Event()


class RoundsRelay:
    """The parked calls of one MCP server, and the task group they run in."""

    def __init__(self) -> None:
        self._parked: dict[str, ParkedCall] = {}
        self._tg: anyio.abc.TaskGroup | None = None

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        """Host parked calls for as long as the server runs; leaving cancels those still running."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            try:
                yield
            finally:
                self._tg = None
                tg.cancel_scope.cancel()

    def drives_by_rounds(self, context: Any) -> bool:
        """Whether the caller is a 2026-07-28 client without a channel back, which Nexus can ask by rounds."""
        try:
            session, version = context.session, context.protocol_version
        except (AttributeError, ValueError):
            return False
        return (
            self._tg is not None
            and version in MODERN_PROTOCOL_VERSIONS
            and not getattr(session, "can_send_request", False)
        )

    async def call(
        self, context: Any, principal: Principal, tool: str, run: Callable[[], Awaitable[Any]], *, keep_for: float
    ) -> Any:
        """``run()`` (a satellite call) with the caller's questions relayed: its result, or ``input_required``."""
        if not self.drives_by_rounds(context):
            with calling_client(context, principal):
                return await run()
        state = context.request_state
        if state is not None and state.startswith(STATE_PREFIX):
            parked = self._resume(state, principal, tool)
            parked.answer(context.input_responses)
        elif len(self._parked) >= _MAX_PARKED or self._parked_by(principal) >= _MAX_PARKED_PER_CALLER:
            logger.warning(
                "%d calls (%d of %s) are waiting for their clients' answers; not parking another",
                len(self._parked),
                self._parked_by(principal),
                principal.label(),
            )
            with calling_client(context, principal):
                return await run()
        else:
            parked = self._park(context, principal, tool, run, keep_for)
        outcome = await parked.next_step()
        if parked.done:
            self._parked.pop(parked.token, None)
            parked.collected.set()
        return outcome

    def _parked_by(self, principal: Principal) -> int:
        return sum(
            1 for p in self._parked.values() if (p.principal.name, p.principal.role) == (principal.name, principal.role)
        )

    def _resume(self, state: str, principal: Principal, tool: str) -> ParkedCall:
        parked = self._parked.get(state)
        if parked is None or (parked.principal.name, parked.principal.role, parked.tool) != (
            principal.name,
            principal.role,
            tool,
        ):
            raise ToolError(
                f"[invalid_input] the requestState of this call of {tool} is unknown to this Nexus (it expired, "
                "belongs to another call or caller, or another Nexus replica holds it).\n"
                "How to fix: call the tool again without requestState."
            )
        return parked

    def _park(
        self, context: Any, principal: Principal, tool: str, run: Callable[[], Awaitable[Any]], keep_for: float
    ) -> ParkedCall:
        assert self._tg is not None
        parked = ParkedCall(principal, tool, keep_for)
        self._parked[parked.token] = parked

        async def drive() -> None:
            try:
                with calling_client(context, principal, rounds=parked):
                    result = await run()
            except Exception as exc:
                parked.finish(error=exc)
            else:
                parked.finish(result)
            with anyio.move_on_after(keep_for):  # a client that comes back late still finds the outcome
                await parked.collected.wait()
            self._parked.pop(parked.token, None)

        self._tg.start_soon(drive)
        return parked
