"""Relay a satellite's requests to the client whose tool call it is serving: sampling, elicitation, roots.

During a tool call a satellite may ask its client for an LLM completion
(``sampling/createMessage``), for the user's input (``elicitation/create``) or
for the client's roots (``roots/list``). Behind Nexus the satellite's client is
Nexus, so Nexus passes the request on to the MCP client that made *that* call
and hands the answer back. It fails closed, with an error the satellite reads,
when:

- no call of a client is in progress (a request outside any call, or during a
  call Nexus itself made: the planner, ``satellite_call``, a fan-out);
- several calls are in progress on the connection and the request does not say
  which one it belongs to (a stdio satellite's requests carry no link to the
  call; Nexus never guesses, so another client is never asked);
- the caller's role is not one that acts for a person (owner, agent);
- the calling client did not declare the capability, or its connection has no
  channel for requests back to it (protocol 2026-07-28 and stateless HTTP).

How a request is tied to its call: :func:`calling_client` (the MCP server, around
a ``<app>__<tool>`` call) names the caller in a context variable; the satellite's
connection registers each call it carries on its :class:`RelayBoard`
(:meth:`RelayBoard.call`). A request that arrives in the caller's context (an
HTTP satellite answers on the call's own stream; a 2026-07-28 satellite's
``input_required`` result is driven in the caller's task) names its call
exactly; one from a stdio satellite's reader is the call's only if it is the one
call in progress.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from itertools import count
from typing import Any

import mcp_types as types
from mcp.client.session import ClientRequestContext
from mcp.shared.exceptions import MCPError
from mcp.shared.message import ServerMessageMetadata
from mcp_types import INTERNAL_ERROR, INVALID_REQUEST

from nexus_agent.auth import Principal, Role
from nexus_agent.wire.errors import SecretLeakRefused
from nexus_agent.wire.secret_guard import KnownSecrets, ensure_no_secrets

__all__ = ["CallingClient", "RelayBoard", "calling_client", "detach", "without_task_only_tools"]

logger = logging.getLogger(__name__)

#: Roles that act for a person and may be asked: a satellite's questions can be confirmations of its actions.
_ASKABLE = frozenset({Role.OWNER, Role.AGENT})
_SAMPLING, _ELICITATION, _ROOTS = "sampling", "elicitation", "roots"


@dataclass(frozen=True, eq=False)
class CallingClient:
    """The MCP client whose tool call is being served, and how to reach it."""

    principal: Principal
    session: Any  # the front end's ServerSession of this request (None: no back-channel at all)
    request_id: Any
    protocol_version: str | None
    #: A 2026-07-28 client's call driven by rounds (relay_rounds.ParkedCall): questions go there, not to the session.
    rounds: Any = None


_caller: ContextVar[CallingClient | None] = ContextVar("nexus_relay_caller", default=None)
_on_board: ContextVar[tuple[RelayBoard, int] | None] = ContextVar("nexus_relay_call", default=None)


@contextmanager
def calling_client(context: Any, principal: Principal, *, rounds: Any = None) -> Iterator[None]:
    """Inside the block, satellite requests of the calls this task makes go to ``context``'s client
    (through ``rounds``, a :class:`~nexus_agent.satellites.relay_rounds.ParkedCall`, for a 2026-07-28 client)."""
    caller = None
    if context is not None:
        try:
            caller = CallingClient(principal, context.session, context.request_id, context.protocol_version, rounds)
        except (ValueError, AttributeError):  # a Context outside any request: nobody to ask
            caller = None
    token = _caller.set(caller)
    try:
        yield
    finally:
        _caller.reset(token)


def detach() -> None:
    """Forget the caller in this task's context: a connection's owner task serves every caller, none in particular."""
    _caller.set(None)
    _on_board.set(None)


def without_task_only_tools(slug: str, tools: list[types.Tool]) -> list[types.Tool]:
    """The tools Nexus can call: one whose ``execution.taskSupport`` is 'required' needs the tasks protocol, which
    the MCP SDK Nexus is built on (2.3.0) does not speak, so it is not listed (and the log says so)."""
    kept = []
    for tool in tools:
        if tool.execution is not None and tool.execution.task_support == "required":
            logger.info(
                "satellite %s: tool %r is not listed: it runs only as a task (execution.taskSupport 'required'), "
                "and Nexus does not speak the MCP tasks protocol",
                slug,
                tool.name,
            )
            continue
        kept.append(tool)
    return kept


class _Refused(Exception):
    pass


class RelayBoard:
    """The calls in progress on one satellite connection, and the callbacks its MCP client answers with."""

    def __init__(self, slug: str, known: KnownSecrets | None = None) -> None:
        self.slug = slug
        self.known = known  # configured secret values the guard also looks for (None: detectors alone)
        self._calls: dict[int, CallingClient | None] = {}
        self._ids = count(1)

    @contextmanager
    def call(self) -> Iterator[None]:
        """Register the call this task is about to send (with its caller, if a client made it)."""
        key = next(self._ids)
        self._calls[key] = _caller.get()
        token = _on_board.set((self, key))
        try:
            yield
        finally:
            _on_board.reset(token)
            del self._calls[key]

    def client_callbacks(self) -> dict[str, Any]:
        """The ``Client`` keyword arguments: Nexus declares all three capabilities and relays (or refuses) each."""
        return {
            "sampling_callback": self.sampling,
            "elicitation_callback": self.elicitation,
            "list_roots_callback": self.list_roots,
        }

    # -- the three requests --------------------------------------------------------------------------------------

    async def sampling(self, context: ClientRequestContext, params: types.CreateMessageRequestParams) -> Any:
        result_type = types.CreateMessageResultWithTools if params.tools else types.CreateMessageResult
        return await self._relay(_SAMPLING, types.CreateMessageRequest(params=params), result_type)

    async def elicitation(self, context: ClientRequestContext, params: types.ElicitRequestParams) -> Any:
        # The user must see which satellite asks: through Nexus every question would otherwise read as Nexus's.
        asked = params.model_copy(update={"message": f"[{self.slug}] {params.message}"})
        return await self._relay(_ELICITATION, types.ElicitRequest(params=asked), types.ElicitResult)

    async def list_roots(self, context: ClientRequestContext) -> Any:
        return await self._relay(_ROOTS, types.ListRootsRequest(), types.ListRootsResult)

    async def _relay(self, kind: str, request: Any, result_type: Any) -> Any:
        try:
            caller = self._caller_for(kind)
            self._check_capability(caller, kind, request)
        except _Refused as exc:
            logger.info("satellite %s asked for %s; refused: %s", self.slug, kind, exc)
            return types.ErrorData(code=INVALID_REQUEST, message=str(exc))
        if (withheld := self._withheld(kind, "question", request, caller)) is not None:
            return withheld
        metadata = ServerMessageMetadata(related_request_id=caller.request_id)
        try:
            if caller.rounds is not None:  # asked in Nexus's next `input_required` answer, answered in the retry
                result = await caller.rounds.ask(request, result_type)
            else:
                result = await caller.session.send_request(request, result_type, metadata=metadata)
        except MCPError as exc:  # the client declined, or its channel closed: the satellite hears why
            logger.info("%s request of satellite %s: the client answered an error: %s", kind, self.slug, exc)
            error = types.ErrorData(code=exc.error.code, message=exc.error.message, data=exc.error.data)
            return self._withheld(kind, "answer", error, caller) or error
        except Exception as exc:
            logger.warning("relaying a %s request of satellite %s failed: %r", kind, self.slug, exc)
            return types.ErrorData(code=INTERNAL_ERROR, message=f"Nexus could not relay the {kind} request: {exc}")
        if (withheld := self._withheld(kind, "answer", result, caller)) is not None:
            return withheld
        logger.info("relayed the %s request of satellite %s to %s", kind, self.slug, caller.principal.name)
        return result

    def _withheld(self, kind: str, what: str, message: Any, caller: CallingClient) -> types.ErrorData | None:
        """The secret guard on what crosses the relay (as on a tool's answer): a question or an answer that
        carries a secret is not passed on, and the satellite hears why (never the value)."""
        if not hasattr(message, "model_dump"):
            return None
        try:
            ensure_no_secrets(message.model_dump(mode="json", by_alias=True), what, "pass on", known=self.known)
        except SecretLeakRefused as exc:
            places = "; ".join(f"{d['kind']} at {d['location']}" for d in exc.details or [])
            who = f"satellite {self.slug}" if what == "question" else f"client {caller.principal.name}"
            logger.warning("withheld the %s of a %s request (from %s): it carries %s", what, kind, who, places)
            return types.ErrorData(
                code=INVALID_REQUEST,
                message=f"Nexus withheld the {what} of this {kind} request: it carries a secret ({places}); "
                "credentials never cross the relay",
            )
        return None

    # -- whom to ask -----------------------------------------------------------------------------------------------

    def _caller_for(self, kind: str) -> CallingClient:
        """The client of the call this request belongs to; never a guess between several."""
        mine = _on_board.get()
        if mine is not None and mine[0] is self:  # read in the call's own context: exactly that call
            if mine[1] not in self._calls:
                raise _Refused(f"the tool call this {kind} request belongs to has already ended")
            caller = self._calls[mine[1]]
        elif not self._calls:
            raise _Refused(
                f"Nexus relays {kind} requests only during a tool call of one of its clients, and no call is in "
                f"progress on this connection"
            )
        elif len(self._calls) > 1:
            raise _Refused(
                f"{len(self._calls)} tool calls are in progress on this connection and the {kind} request does not "
                "say which one it belongs to; Nexus does not guess (retry when the satellite is less busy)"
            )
        else:
            (caller,) = self._calls.values()
        if caller is None:
            raise _Refused(
                f"the call was made by Nexus itself (its planner, satellite_call or a fan-out), not by a client "
                f"that could answer {kind} requests"
            )
        if caller.principal.role not in _ASKABLE:
            raise _Refused(f"Nexus does not pass {kind} requests to a caller with the role '{caller.principal.role}'")
        return caller

    @staticmethod
    def _check_capability(caller: CallingClient, kind: str, request: Any) -> None:
        session = caller.session
        if caller.rounds is None and not getattr(session, "can_send_request", False):
            raise _Refused(
                f"the calling client's connection (protocol {caller.protocol_version or 'unknown'}) has no channel "
                f"for a server's requests during a call, so Nexus cannot pass it the {kind} request; a client on "
                "2025-11-25 over stdio or a stateful HTTP session, or on 2026-07-28, can answer"
            )
        caps: types.ClientCapabilities | None = getattr(session, "client_capabilities", None)
        declared: Any = None
        if caps is not None:
            declared = {_SAMPLING: caps.sampling, _ELICITATION: caps.elicitation, _ROOTS: caps.roots}[kind]
        if declared is None:
            raise _Refused(f"the calling client does not support {kind} (it did not declare the capability)")
        if kind == _SAMPLING and request.params.tools and not (caps and caps.sampling and caps.sampling.tools):
            raise _Refused("the calling client does not support sampling with tools")
        if kind == _ELICITATION:
            url_mode = isinstance(request.params, types.ElicitRequestURLParams)
            # Form mode is implied when a client declares neither mode (the spec's backwards compatibility).
            supported = declared.url is not None if url_mode else declared.form is not None or declared.url is None
            if not supported:
                raise _Refused(f"the calling client does not support {'URL' if url_mode else 'form'}-mode elicitation")
