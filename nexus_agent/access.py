"""The MCP server's side of the role policy: who is calling, what they are shown, how a refusal reads.

The HTTP gate (:mod:`nexus_agent.http`) resolves each request's credential to a
:class:`~nexus_agent.auth.Principal` and puts it in the ASGI scope under :data:`PRINCIPAL_SCOPE_KEY`;
the stdio server and in-process clients act as the local owner. The decisions themselves are
:class:`nexus_agent.auth.policy.RolePolicy`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError

from nexus_agent.auth import Principal, Role
from nexus_agent.auth.audit import record_refusal
from nexus_agent.auth.policy import RolePolicy
from nexus_agent.services import NexusServices
from nexus_agent.wire.errors import Forbidden, Unauthorized

__all__ = ["PRINCIPAL_SCOPE_KEY", "PrincipalOf", "principal_resolver", "refused", "visible_tools"]

#: Where the HTTP gate leaves the caller's Principal in the ASGI scope.
PRINCIPAL_SCOPE_KEY = "nexus.principal"

PrincipalOf = Callable[[Any], Principal]


def principal_resolver(local: Principal | None) -> PrincipalOf:
    """``ctx -> Principal``: the one the HTTP gate resolved, else ``local`` (stdio, in-process clients).

    With ``local=None`` (the HTTP server) a request that did not pass the gate is refused.
    """

    def principal_of(ctx: Any) -> Principal:
        try:  # a tool's Context, or a handler's request context
            request_context = getattr(ctx, "request_context", ctx)
        except ValueError:  # a Context outside any request: no verified caller
            request_context = None
        request = getattr(request_context, "request", None)
        scope = getattr(request, "scope", None)
        found = scope.get(PRINCIPAL_SCOPE_KEY) if isinstance(scope, Mapping) else None
        if isinstance(found, Principal):
            return found
        if local is None:
            raise ToolError(Unauthorized("this request carries no verified credential").user_message())
        return local

    return principal_of


def visible_tools(
    policy: RolePolicy, principal: Principal, tools: Sequence[Any], roles: Mapping[str, frozenset[Role]]
) -> list[Any]:
    """The tools ``principal`` may call: Nexus's by their declared roles, satellites' by the proxy rule."""
    out = []
    for tool in tools:
        if tool.name in roles:
            allowed = policy.may_call(principal, tool.name, roles[tool.name])
        else:
            read_only = bool(tool.annotations and tool.annotations.read_only_hint)
            allowed = policy.may_call_satellite_tool(principal, read_only=read_only)
        if allowed:
            out.append(tool)
    return out


async def refused(services: NexusServices, principal: Principal, what: str, exc: Forbidden) -> ToolError:
    """Record the refusal in memory and return the tool error to raise."""
    await record_refusal(services.memory, principal, what, exc)
    return ToolError(exc.user_message())
