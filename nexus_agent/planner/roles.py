"""The planner acts as whoever gave the instruction.

An agent's ``instruct`` is planned over the tools the agent's role may call, and its calls run as
that agent (``ToolCall.principal``), whoever approves them later: the planner can never make a call
the instructing principal could not make itself. The decisions are the role policy's
(:mod:`nexus_agent.auth.policy`); this module applies them to the catalogue and to each call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from nexus_agent.auth import Principal, Role
from nexus_agent.auth.policy import RolePolicy
from nexus_agent.planner.catalogue import Catalogue, ToolDescriptor

__all__ = ["acting_as", "acting_principal", "catalogue_for", "owner_named", "plan_principal"]

_acting: ContextVar[Principal | None] = ContextVar("nexus_planner_principal", default=None)


def owner_named(actor: str) -> Principal:
    """The principal of a caller that passes only an actor name (the CLI, older callers): the local owner."""
    return Principal(name=actor, role=Role.OWNER, via="cli", credential="local")


def plan_principal(name: str, role: str, app: str | None) -> Principal:
    """The principal a stored plan was started by (``RunState.started_by*``)."""
    return Principal(name=name, role=Role(role), app=app, credential="plan")


def may_use(principal: Principal, tool: ToolDescriptor, policy: RolePolicy | None = None) -> bool:
    policy = policy or RolePolicy()
    if principal.role is Role.OWNER:
        return True
    if tool.source == "nexus":
        return policy.may_call(principal, tool.name, frozenset(Role(r) for r in tool.roles))
    return policy.may_call_satellite_tool(principal, read_only=tool.read_only)


def catalogue_for(catalogue: Catalogue, principal: Principal | None) -> Catalogue:
    """Only the tools ``principal`` may call (everything for the owner)."""
    if principal is None or principal.role is Role.OWNER:
        return catalogue
    return Catalogue(d for d in catalogue.tools.values() if may_use(principal, d))


@contextlib.contextmanager
def acting_as(principal: Principal) -> Iterator[None]:
    """Calls made inside run as ``principal`` (the Nexus tool provider reads it for ``ToolCall``)."""
    token = _acting.set(principal)
    try:
        yield
    finally:
        _acting.reset(token)


def acting_principal() -> Principal | None:
    return _acting.get()
