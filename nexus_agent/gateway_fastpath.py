"""The gateway fast path: a satellite tool call relayed as JSON-RPC, without the SDK's stacks.

A ``POST /mcp`` whose body is one sessionless (2026-07-28) ``tools/call`` of a
``<app>__<tool>`` on an MCP-over-HTTP satellite that the pool already reached on
the same protocol is forwarded as it came, with the tool's name rewritten to the
satellite's own, on a kept-alive connection (:mod:`nexus_agent.satellites.relay_http`: the
outbound URL policy on every connect, httptools parsing the answer), and answered
with plain JSON. Nexus still does everything the normal path does:
the role rule (:class:`~nexus_agent.auth.policy.RolePolicy`), ``NEXUS_MAX_INPUT_BYTES``,
the argument check against the tool's cached schema, the breaker and the metrics,
and the secret guard on the answer (the pool's own). A request the fast path would
refuse, or has any doubt about, goes to the normal path unchanged, which then
answers (and refuses) exactly as it always did. ``NEXUS_GATEWAY_FASTPATH=false`` turns it off.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any

import mcp_types as types
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import (
    InboundLadderRejection,
    classify_inbound_request,
    encode_header_value,
    mcp_param_headers,
    x_mcp_header_map,
)
from pydantic import TypeAdapter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nexus_agent import __version__
from nexus_agent.access import PRINCIPAL_SCOPE_KEY
from nexus_agent.auth import Principal
from nexus_agent.auth.policy import RolePolicy
from nexus_agent.gateway_legacy import legacy_relay_allowed, relay_legacy_call
from nexus_agent.gateway_own import OwnFallThrough, OwnTools
from nexus_agent.gateway_request import candidate, read_body, replay
from nexus_agent.satellites.connection import SatelliteConnection
from nexus_agent.satellites.discovery import validate_arguments
from nexus_agent.satellites.models import BreakerState, SatelliteCallResult, SatelliteTool
from nexus_agent.satellites.relay_answers import (
    HandOver,
    answer_of,
    asked_midway,
    is_capability_refusal,
    may_answer_questions,
    refused_as_asking,
)
from nexus_agent.satellites.relay_http import RelayConnectError, RelayConnections
from nexus_agent.satellites.satellite import Satellite
from nexus_agent.services import REGISTRY_RECHECK_S, NexusServices
from nexus_agent.toolset import ALL_TOOLS
from nexus_agent.wire import json_codec
from nexus_agent.wire.errors import NexusError, UpstreamError
from tools.base import check_argument_size

__all__ = ["GatewayFastPath"]

log = logging.getLogger("nexus.gateway")
_CONTENT = TypeAdapter(list[types.ContentBlock])
_PARAM_KEYS = frozenset({"name", "arguments", "_meta"})
#: How much larger than its raw JSON text a value can be once ``check_argument_size`` writes it out again (ASCII
#: escapes of non-ASCII text: 3x; floats such as ``1e15``: 4.5x; spaces after separators), with a margin.
ARGUMENT_GROWTH = 6
#: ``json.dumps(value, separators=(",", ":"))``, its encoder made once.
_compact_json = json_codec.encoder(separators=(",", ":"))


class _FallThrough(Exception):
    """Not for the fast path: the normal path takes the request (nothing was counted or sent)."""


class _UsePool(Exception):
    """Nothing reached the satellite, or the tool is safe to resend: the pool makes the call, retries and all."""


class _Call:
    """One call the fast path makes: the request as read, the tool, its satellite and the satellite's URL
    (empty for a legacy app)."""

    __slots__ = ("arguments", "body", "id", "later", "name", "sat", "tool", "url")

    def __init__(
        self,
        id: int | str,
        body: dict[str, Any],
        name: str,
        arguments: dict[str, Any],
        tool: SatelliteTool,
        sat: Satellite,
        url: str,
    ) -> None:
        self.id, self.body, self.name, self.arguments = id, body, name, arguments
        self.tool, self.sat, self.url = tool, sat, url
        #: The call's accounting (metrics, the pool's observer), run once its answer is out: off the caller's wait.
        self.later: list[Callable[[], None]] = []

    def settle(self) -> None:
        later, self.later = self.later, []
        for account in later:
            account()


class GatewayFastPath:
    """ASGI wrapper in front of the MCP app: relays eligible satellite tool calls itself."""

    def __init__(
        self,
        app: ASGIApp,
        services: NexusServices,
        *,
        server_info: Mapping[str, Any],
        own_tools: frozenset[str] | None = None,
    ) -> None:
        """``server_info``: Nexus's serverInfo stamp (what the SDK puts in every 2026-07-28 result's ``_meta``)."""
        self.app = app
        self._stamp = dict(server_info)
        self._services = services
        self._own_tools = own_tools if own_tools is not None else frozenset(spec.name for spec in ALL_TOOLS)
        self._policy = RolePolicy.from_settings(services.settings)
        self._relay: RelayConnections | None = None
        self._own = OwnTools(services)  # Nexus's own read-only tools (gateway_own)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._serve(scope, receive, send, self.app)

    def around(self, app: ASGIApp) -> ASGIApp:
        """The fast path in front of ``app`` (as a middleware: ``Middleware(fastpath.around)``), sharing this
        instance's connections; what it does not take goes to ``app``."""

        async def fast_path(scope: Scope, receive: Receive, send: Send) -> None:
            await self._serve(scope, receive, send, app)

        return fast_path

    async def _serve(self, scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        headers = candidate(scope, self._own)
        if headers is None:
            await app(scope, receive, send)
            return
        body, messages = await read_body(receive)
        if headers["mcp-name"] in self._own:
            await self._serve_own(scope, headers, body, messages, receive, send, app)
            return
        try:
            call = await self._plan(scope, headers, body)
        except Exception as exc:  # _FallThrough, or any doubt: the normal path answers
            if not isinstance(exc, _FallThrough):
                log.warning("fast path declined %s: %r", headers["mcp-name"], exc)
            await app(scope, replay(messages, receive), send)
            return
        try:
            result = await self._observed(call)
        except HandOver:  # nothing ran on the satellite: the normal path relays its questions to the client
            log.debug("fast path handed %s to the normal path (the satellite wants to ask)", call.name)
            await app(scope, replay(messages, receive), send)
            return
        result["resultType"] = "complete"
        result["_meta"] = {types.SERVER_INFO_META_KEY: self._stamp}  # only serialised, never changed
        try:
            await _send_json(send, {"jsonrpc": "2.0", "id": call.id, "result": result})
        finally:
            call.settle()  # counted once the answer is out (or could not be sent)

    async def _serve_own(
        self,
        scope: Scope,
        headers: dict[str, str],
        raw: bytes,
        messages: list[Message],
        receive: Receive,
        send: Send,
        app: ASGIApp,
    ) -> None:
        """One of Nexus's own read-only tools (:mod:`nexus_agent.gateway_own`), or the normal path on any doubt."""
        try:
            principal, request_id, _, name, arguments = self._request(scope, headers, raw)
            if name not in self._own:
                raise _FallThrough
            result = await self._own.call(principal, name, arguments)
        except (_FallThrough, OwnFallThrough):
            await app(scope, replay(messages, receive), send)
            return
        result["resultType"] = "complete"
        result["_meta"] = {types.SERVER_INFO_META_KEY: self._stamp}
        await _send_json(send, {"jsonrpc": "2.0", "id": request_id, "result": result})

    async def aclose(self) -> None:
        if self._relay is not None:
            await self._relay.aclose()
            self._relay = None

    # -- before the call: everything here falls through, so a refusal reads as the normal path's ---------------

    async def _plan(self, scope: Scope, headers: dict[str, str], raw: bytes) -> _Call:
        services, pool = self._services, self._services.pool
        if pool is None or not services.settings.expose_satellite_tools:
            raise _FallThrough
        principal, request_id, body, name, arguments = self._request(scope, headers, raw)
        if name in self._own_tools:
            raise _FallThrough
        return await self._route(principal, request_id, body, name, arguments, len(raw))

    def _request(
        self, scope: Scope, headers: dict[str, str], raw: bytes
    ) -> tuple[Principal, int | str, dict[str, Any], str, dict[str, Any]]:
        """The checks every fast-path call passes: a well-formed sessionless call, no progress, nothing new.

        ``headers``: what :func:`~nexus_agent.gateway_request.routing_headers` read (no routing header twice)."""
        principal = scope.get(PRINCIPAL_SCOPE_KEY)
        if not isinstance(principal, Principal):
            raise _FallThrough
        try:  # UTF-8 alone (JSON-RPC over HTTP); anything else (a BOM, UTF-16) goes the normal way
            body = json_codec.loads(raw.decode())
        except (ValueError, RecursionError):
            raise _FallThrough from None
        if not isinstance(body, dict) or body.get("jsonrpc") != "2.0" or body.get("method") != "tools/call":
            raise _FallThrough
        request_id, params = body.get("id"), body.get("params")
        if isinstance(request_id, bool) or not isinstance(request_id, (int, str)) or not isinstance(params, dict):
            raise _FallThrough
        if isinstance(classify_inbound_request(body, headers=headers), InboundLadderRejection):
            raise _FallThrough
        meta = params.get("_meta")
        name, arguments = params.get("name"), params.get("arguments", {})
        if not _PARAM_KEYS.issuperset(params) or not isinstance(meta, dict) or "progressToken" in meta:
            raise _FallThrough  # progress, tasks and anything new: the SDK relays those
        if may_answer_questions(meta):
            raise _FallThrough  # the satellite may ask this client: the normal path relays the questions
        if not isinstance(name, str) or not isinstance(arguments, dict):
            raise _FallThrough
        return principal, request_id, body, name, arguments

    async def _route(
        self,
        principal: Principal,
        request_id: int | str,
        body: dict[str, Any],
        name: str,
        arguments: dict[str, Any],
        raw_size: int,
    ) -> _Call:
        services, pool = self._services, self._services.satellites
        try:
            limit = services.settings.max_input_bytes
            if raw_size * ARGUMENT_GROWTH > limit:  # else the arguments (within the body) cannot be over it
                check_argument_size(name, arguments, limit)
            await services.sync_satellites(max_age_s=REGISTRY_RECHECK_S)
            tool = await pool.get_tool(name)
            if not self._policy.may_call_satellite_tool(principal, read_only=tool.read_only):
                raise _FallThrough
            arguments = validate_arguments(tool, arguments)
        except NexusError:
            raise _FallThrough from None
        sat = pool.satellite(tool.slug)
        if sat is not None and legacy_relay_allowed(sat, tool):  # a legacy app's read-only message (gateway_legacy)
            return _Call(request_id, body, name, arguments, tool, sat, "")
        connection = sat.connection if sat is not None else None
        url = sat.record.endpoints.mcp_url if sat is not None else None
        if (
            sat is None
            or url is None
            or sat.blocked is not None
            or not isinstance(connection, SatelliteConnection)
            or not connection.connected
            or connection.protocol_version != _header_version(body)
            or (sat.record.endpoints.token_env and not sat.token)
            or sat.breaker.state is not BreakerState.closed  # a half-open trial: the pool's own path
        ):
            raise _FallThrough
        meta = {**body["params"]["_meta"], types.CLIENT_INFO_META_KEY: {"name": "nexus", "version": __version__}}
        meta[types.CLIENT_CAPABILITIES_META_KEY] = {}  # Nexus is the satellite's client, as on the normal path
        body["params"] = {"name": tool.name, "arguments": arguments, "_meta": meta}
        return _Call(request_id, body, name, arguments, tool, sat, str(url))

    # -- the call ------------------------------------------------------------------------------------------------

    async def _observed(self, call: _Call) -> dict[str, Any]:
        """The call as the MCP server would make it: timed by the ops observer, errors as tool errors.

        A call handed to the normal path is not reported here: the normal path's own call reports itself."""
        began = time.perf_counter()
        failure: BaseException | None = None
        try:
            result = await self._pool_call(call)
        except HandOver:
            raise
        except ToolError as exc:
            failure, result = exc, _tool_error(str(exc))
        except Exception as exc:  # a bug here must not leak details, nor drop the caller without an answer
            incident = uuid.uuid4().hex[:8]
            log.exception("fast-path relay of %s crashed (incident %s)", call.name, incident)
            failure = exc
            result = _tool_error(f"[internal_error] {call.name} failed unexpectedly (incident {incident}).")
        except BaseException as exc:  # cancelled: reported, then passed on
            self._report(call, began, exc, False)
            call.settle()
            raise
        is_error = bool(result.get("isError", False))
        call.later.append(lambda: self._report(call, began, failure, is_error))
        return result

    def _report(self, call: _Call, began: float, failure: BaseException | None, is_error: bool) -> None:
        observer = self._services.observer
        if observer is None:
            return
        with observer.tool_call(call.name) as watch:
            watch.started = began
            if failure is not None:
                watch.failed(failure)
            else:
                watch.result(_IS_ERROR if is_error else _NOT_ERROR)

    async def _pool_call(self, call: _Call) -> dict[str, Any]:
        """The pool's accounting (its observer, as ``SatellitePool.call`` does) around one forward."""
        pool = self._services.satellites
        began, outcome, kind = time.perf_counter(), "error", "cancelled"
        try:
            result = await self._forward(call)
            outcome, kind = ("error", "tool_error") if result.get("isError") else ("ok", "")
            return result
        except _UsePool:
            outcome = ""  # the pool's call reports itself
            return await self._via_pool(call)
        except HandOver:
            outcome = ""  # the normal path's call reports itself
            raise
        except NexusError as exc:
            kind = exc.code
            raise ToolError(self._services.known_secrets.redact(exc.user_message())) from exc
        finally:
            if pool.observer is not None and outcome:
                observer, took = pool.observer, time.perf_counter() - began
                call.later.append(lambda: observer(call.tool.slug, call.tool.name, outcome, kind, took))

    async def _via_pool(self, call: _Call) -> dict[str, Any]:
        try:
            result = await self._services.satellites.call(call.name, call.arguments)
        except NexusError as exc:
            raise ToolError(self._services.known_secrets.redact(exc.user_message())) from exc
        out = result.to_mcp_result().model_dump(mode="json", by_alias=True, exclude_none=True)
        return {k: out[k] for k in ("content", "isError", "structuredContent") if k in out}

    async def _forward(self, call: _Call) -> dict[str, Any]:
        if not call.url:  # a legacy app: its signed message, through the satellite's own call (gateway_legacy)
            return await relay_legacy_call(self._services.satellites, call.sat, call.tool, call.arguments)
        sat, tool = call.sat, call.tool
        timeout = self._services.satellites.settings.call_timeout
        action = f"calling tool '{tool.name}'"
        started = time.perf_counter()
        # As the SDK client logs what it sends (the log handlers take secret values out of every line).
        log.debug("relaying %s to satellite %s on the fast path: %s", call.name, sat.slug, call.body["params"])
        try:
            body = _compact_json(call.body).encode()
            response = await self._connections().post(call.url, body, _headers(call), timeout=timeout)
        except Exception as exc:
            if isinstance(exc, RelayConnectError) or tool.retryable:
                raise _UsePool from None  # nothing sent, or safe to resend: the pool retries
            raise sat._fault(None, exc, action, timeout, None) from None
        if refused_as_asking(response, call.id):
            raise HandOver
        if response.status >= 400:
            if tool.retryable:
                raise _UsePool
            raise sat._fault(None, RuntimeError("HTTP error"), action, timeout, response.status)
        try:
            message = answer_of(response, call.id)
            if "error" in message:
                error = message["error"]
                if is_capability_refusal(error):  # answered with HTTP 200: refused all the same, nothing ran
                    raise HandOver
                raise MCPError(int(error["code"]), str(error["message"]), error.get("data"))
            answer = message["result"]
            if answer.get("resultType") == "input_required":
                raise asked_midway(sat.slug, tool.name, tool.retryable)
            if answer.get("resultType", "complete") != "complete":
                raise ValueError(f"the satellite answered with resultType {answer.get('resultType')!r}")
            content = _CONTENT.validate_python(answer.get("content", []))
        except (HandOver, UpstreamError):
            raise
        except Exception as exc:
            raise sat._fault(None, exc, action, timeout, None) from None
        sat.breaker.record_success()
        result = SatelliteCallResult(
            slug=sat.slug,
            tool=tool.name,
            qualified_name=tool.qualified_name,
            is_error=bool(answer.get("isError", False)),
            content=content,
            structured_content=answer.get("structuredContent"),
            duration_ms=(time.perf_counter() - started) * 1000,
        )
        self._services.satellites.guard_answer(result)  # the pool's own secret guard, its own refusal
        # The content as read (what the guard saw; anything the model does not know is dropped, as on the normal path).
        blocks = [block.model_dump(mode="json", by_alias=True, exclude_none=True) for block in content]
        out: dict[str, Any] = {"content": blocks, "isError": result.is_error}
        if result.structured_content is not None:
            out["structuredContent"] = result.structured_content
        return out

    def _connections(self) -> RelayConnections:
        if self._relay is None:
            pool = self._services.satellites
            self._relay = RelayConnections(pool.outbound, pool.ssl_ctx, connect_timeout=pool.settings.connect_timeout)
        return self._relay


#: What the observer reads of a result (``is_error``), without building one.
_IS_ERROR, _NOT_ERROR = SimpleNamespace(is_error=True), SimpleNamespace(is_error=False)


def _tool_error(text: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "isError": True}


def _header_version(body: Mapping[str, Any]) -> Any:
    return body["params"]["_meta"].get(types.PROTOCOL_VERSION_META_KEY)


def _headers(call: _Call) -> dict[str, str]:
    headers = {
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
        "mcp-protocol-version": str(_header_version(call.body)),
        "mcp-method": "tools/call",
        "mcp-name": encode_header_value(call.tool.name),
    }
    if call.sat.token:
        headers["authorization"] = f"Bearer {call.sat.token}"
    # As the SDK client does on 2026-07-28 (and the pool's raw call): arguments the tool's schema marks with
    # x-mcp-header go as Mcp-Param-* headers too; a satellite refuses a call without them.
    headers.update(mcp_param_headers(x_mcp_header_map(call.tool.input_schema), call.arguments))
    return headers


async def _send_json(send: Send, payload: dict[str, Any]) -> None:
    body = _compact_json(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
