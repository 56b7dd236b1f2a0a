"""The gateway fast path's own-tool branch: Nexus's read-only tools answered without the SDK's server stack.

:mod:`nexus_agent.gateway_fastpath` hands a sessionless (2026-07-28) ``tools/call`` of one of Nexus's own
read-only tools (``registry_get``, ``memory_search``, ``nexus_health``...) here, after its request checks
(JSON-RPC shape, routing headers, no progress token, no parameter beyond name/arguments/_meta). The call
goes through the same steps as on the normal path (:class:`nexus_agent.server.NexusMCPServer` and
:func:`nexus_agent.server_tools.make_tool_function`), in the same order:

- the role rule (:meth:`RolePolicy.check`), then the tool's own model on the raw arguments
  (:meth:`ToolSpec.parse`, ``NEXUS_MAX_INPUT_BYTES`` included), the policy's scope rule on them, then the
  SDK's compiled argument model
  (the one ``MCPServer.add_tool`` builds from the same function signature);
- :meth:`ToolSpec.invoke` with the request's principal (role rule, parse, the policy's scope rule, handler);
- the secret guard on the result, then the SDK's own result conversion (output model, text copy) and
  :func:`~nexus_agent.server_results.compact_text`.

A tool error (a :class:`~nexus_agent.wire.errors.NexusError` raised by the handler) is answered as the
normal path answers it. Anything else (a refusal, an argument error, a secret in the result, a crash) raises
:class:`OwnFallThrough` *before anything is counted or sent*: the normal path then answers (and refuses,
audits, logs) exactly as it always did. Only read-only tools take this branch, so running one twice (once
here, once on the normal path after a fall-through) changes nothing. The planner's tools (they read the
MCP request context) and tools that reach satellites never take it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult

from nexus_agent.access import principal_resolver
from nexus_agent.auth import Principal
from nexus_agent.auth.policy import RolePolicy
from nexus_agent.server_results import compact_text
from nexus_agent.server_tools import make_tool_function
from nexus_agent.services import NexusServices
from nexus_agent.wire.errors import Forbidden, NexusError
from nexus_agent.wire.secret_guard import ensure_no_secrets
from tools import NEXUS_TOOLS
from tools.base import ToolCall, ToolSpec
from tools.scope import ServicesLookup

__all__ = ["OwnFallThrough", "OwnTools", "fast_own_tools"]

log = logging.getLogger("nexus.gateway")

#: Read-only tools that still leave Nexus (satellites): their calls stay on the normal path.
_NOT_FAST = frozenset({"satellite_tools_list", "satellite_health"})


class OwnFallThrough(Exception):
    """Not answered here: nothing was counted or sent, the normal path takes the request."""


def fast_own_tools(specs: Iterable[ToolSpec[Any, Any]] = NEXUS_TOOLS) -> dict[str, ToolSpec[Any, Any]]:
    """The own tools the fast path may answer: read-only, not the planner's, not reaching satellites."""
    return {spec.name: spec for spec in specs if spec.read_only and spec.name not in _NOT_FAST}


class OwnTools:
    """Answers one own read-only tool call as the normal path would, or raises :class:`OwnFallThrough`."""

    def __init__(self, services: NexusServices, specs: dict[str, ToolSpec[Any, Any]] | None = None) -> None:
        self._services = services
        self._specs = fast_own_tools() if specs is None else specs
        self._policy = RolePolicy.from_settings(services.settings)
        # The SDK's own tool objects for the same functions (argument model, output conversion), built as
        # MCPServer.add_tool builds them; the function itself is never called here.
        who = principal_resolver(None)
        self._sdk = {
            name: Tool.from_function(make_tool_function(spec, services, who), name=name, structured_output=True)
            for name, spec in self._specs.items()
        }

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    async def call(self, principal: Principal, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The ``result`` object of the JSON-RPC answer (without ``resultType`` and ``_meta``)."""
        spec, sdk_tool, services = self._specs[name], self._sdk[name], self._services
        max_bytes = services.settings.max_input_bytes
        try:
            self._policy.check(principal, name, spec.roles)  # the normal path refuses and audits
            params = spec.parse(arguments, max_bytes=max_bytes)  # as NexusMCPServer._call_tool, on the raw arguments
            await self._policy.authorize(principal, name, spec.roles, params, ServicesLookup(services))
            validated = sdk_tool.fn_metadata.validate_arguments(arguments)  # the SDK's argument model
        except Exception:
            raise OwnFallThrough from None
        call = ToolCall(services=services, actor=principal.name, principal=principal)
        observer, began = services.observer, time.perf_counter()
        try:
            result = await spec.invoke(call, validated, max_bytes=max_bytes)
        except Forbidden:
            raise OwnFallThrough from None  # the normal path refuses it (and records the refusal)
        except NexusError as exc:  # a tool error: the same text as server_tools.run_tool's
            log.info("tool %s failed: %s", name, exc.code)
            text = services.known_secrets.redact(exc.user_message())
            if observer is not None:
                with observer.tool_call(name) as watch:
                    watch.started = began
                    watch.failed(exc)
            return {"content": [{"type": "text", "text": text}], "isError": True}
        except Exception:
            log.debug("own tool %s crashed on the fast path; the normal path answers", name, exc_info=True)
            raise OwnFallThrough from None
        try:
            ensure_no_secrets(
                result.model_dump(mode="json"), f"result of {name}", "return", known=services.known_secrets
            )
            converted = compact_text(sdk_tool.fn_metadata.convert_result(result))
        except Exception:
            raise OwnFallThrough from None  # a secret in the result, or a result the output model refuses
        if not isinstance(converted, CallToolResult):
            raise OwnFallThrough
        if observer is not None:
            with observer.tool_call(name) as watch:
                watch.started = began
                watch.result(converted)
        log.debug("answered %s on the fast path", name)
        out: dict[str, Any] = converted.model_dump(mode="json", by_alias=True, exclude_none=True)
        out.pop("_meta", None)
        out.pop("resultType", None)
        return out
