"""Who may do what: the role policy of every tool, proxied satellite tool and resource, in one place.

Each :class:`~tools.base.ToolSpec` declares the roles that may call it (``roles=``, using the
sets below); this module decides, for one :class:`Principal`:

- whether a tool is listed and callable at all (:meth:`RolePolicy.may_call`), which also covers
  satellite tools proxied as ``<app>__<tool>`` (:meth:`RolePolicy.may_call_satellite_tool`) and
  Nexus's MCP resources (:meth:`RolePolicy.may_read_resource`);
- the checks that depend on the arguments (:data:`SCOPE_RULES`, applied by
  :meth:`RolePolicy.authorize`): a satellite reads only its own record and instructions and
  registers only itself, always as ``pending``; an agent handles only the plans it started (and reads
  only their conversations).

The owner may do everything. Refusals raise :class:`Forbidden`, naming the role and what it may do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

from nexus_agent.auth.principal import Principal, Role
from nexus_agent.wire.errors import Forbidden
from nexus_agent.wire.models import AppRecord, AppStatus

__all__ = [
    "EVERY_ROLE",
    "LISTING",
    "OWNER_ONLY",
    "PLAN_ROLES",
    "READERS",
    "REPORTING",
    "ROLE_SUMMARY",
    "SATELLITE_SCOPED",
    "SCOPE_RULES",
    "SELF_REGISTERING",
    "RolePolicy",
    "ScopeLookup",
]

_O, _A, _S, _M = Role.OWNER, Role.AGENT, Role.SATELLITE, Role.MONITOR

#: Administration: registry changes, approvals, instructions to satellites, memory writes.
OWNER_ONLY: frozenset[Role] = frozenset({_O})
#: Read-only tools whose results may hold any app's data (memory, records, gaps).
READERS: frozenset[Role] = frozenset({_O, _A})
#: Health and read-only listings: what a monitor may also see.
LISTING: frozenset[Role] = frozenset({_O, _A, _M})
#: Tools a satellite may call too, within its own app (see :data:`SCOPE_RULES`).
SATELLITE_SCOPED: frozenset[Role] = frozenset({_O, _A, _S})
#: registry_register: a satellite only for itself, and always as 'pending'.
SELF_REGISTERING: frozenset[Role] = frozenset({_O, _S})
#: instruction_report: a satellite only on its own instructions.
REPORTING: frozenset[Role] = frozenset({_O, _S})
#: The planner's tools: an agent only on plans it started.
PLAN_ROLES: frozenset[Role] = frozenset({_O, _A})
EVERY_ROLE: frozenset[Role] = frozenset(Role)

#: What each role may do, in the words a refusal uses.
ROLE_SUMMARY: dict[Role, str] = {
    _O: "everything",
    _A: (
        "give instructions (instruct), use read-only tools (registry, memory, gaps, health, read-only "
        "satellite tools) and inspect, resume, and (where the owner allows it) approve or reject the plans it started"
    ),
    _S: (
        "read its own registry record, list, read and report on its own instructions, and submit or update "
        "its own registration (it always lands 'pending' for the owner to approve)"
    ),
    _M: "check health and use read-only listings (registry_list, instruction_list, satellite_tools_list)",
}

#: Tools that approve or reject a plan's side effects (agents only when ``agents_may_approve``).
_APPROVING = frozenset({"plan_approve", "plan_reject"})


class ScopeLookup(Protocol):
    """What argument-dependent rules need to know (the tools layer implements it over the services)."""

    async def plan_starter(self, plan_id: int) -> tuple[str, str] | None:
        """(name, role) of whoever started the plan, or None when unknown."""
        ...

    async def instruction_target(self, instruction_id: str) -> str | None: ...

    async def app(self, slug: str) -> AppRecord | None: ...

    async def conversation_plan(self, conversation_id: int) -> int | None:
        """The plan whose conversation this is, or None (a conversation no plan belongs to)."""
        ...


ScopeRule = Callable[["RolePolicy", Principal, BaseModel, ScopeLookup], Awaitable[BaseModel]]


def _refuse(principal: Principal, what: str, hint: str | None = None) -> Forbidden:
    return Forbidden(
        f"{principal.label()} may not {what}; the {principal.role.value} role may {ROLE_SUMMARY[principal.role]}",
        hint=hint or "Ask the owner to do it, or to give you a credential with a role that allows it.",
        details={"role": principal.role.value, "app": principal.app},
    )


@dataclass(frozen=True)
class RolePolicy:
    """The role policy, with the owner's settings that loosen it (``NEXUS_AGENTS_MAY_APPROVE``)."""

    agents_may_approve: bool = False

    @classmethod
    def from_settings(cls, settings: Any) -> RolePolicy:
        return cls(agents_may_approve=bool(getattr(settings, "agents_may_approve", False)))

    # -- yes/no questions (tools/list, resources, the planner's catalogue) -------------------
    def may_call(self, principal: Principal, tool: str, roles: frozenset[Role]) -> bool:
        if principal.role is _O:
            return True
        if principal.role not in roles:
            return False
        return not (tool in _APPROVING and principal.role is _A and not self.agents_may_approve)

    def may_call_satellite_tool(self, principal: Principal, *, read_only: bool) -> bool:
        """``<app>__<tool>``: the owner any; an agent the read-only ones; satellites and monitors none."""
        return principal.role is _O or (principal.role is _A and read_only)

    def may_read_resource(self, principal: Principal, uri: str) -> bool:
        if principal.role in (_O, _A):
            return True
        if principal.role is _M:
            return uri == "nexus://registry"
        return principal.app is not None and uri == f"nexus://apps/{principal.app}"

    # -- refusals ---------------------------------------------------------------------
    def check(self, principal: Principal, tool: str, roles: frozenset[Role]) -> None:
        """Raise Forbidden unless the principal's role may call ``tool`` at all."""
        if self.may_call(principal, tool, roles):
            return
        if tool in _APPROVING and principal.role is _A:
            raise _refuse(principal, f"call {tool}", hint="The owner can allow it with NEXUS_AGENTS_MAY_APPROVE=true.")
        raise _refuse(principal, f"call {tool}")

    def check_satellite_tool(self, principal: Principal, tool: str, *, read_only: bool) -> None:
        if not self.may_call_satellite_tool(principal, read_only=read_only):
            kind = "" if principal.role is not _A else " (it has side effects)"
            raise _refuse(principal, f"call the satellite tool {tool}{kind}")

    def check_resource(self, principal: Principal, uri: str) -> None:
        if not self.may_read_resource(principal, uri):
            raise _refuse(principal, f"read {uri}")

    async def authorize(
        self, principal: Principal, tool: str, roles: frozenset[Role], params: BaseModel, lookup: ScopeLookup
    ) -> BaseModel:
        """Role check, then the tool's scope rule; returns the parameters to run with (a rule may narrow them)."""
        self.check(principal, tool, roles)
        rule = SCOPE_RULES.get(tool)
        if principal.role is _O or rule is None:
            return params
        return await rule(self, principal, params, lookup)


# -- scope rules: checks that depend on the arguments (never applied to the owner) ---------------
def _own_app(principal: Principal, slug: str | None, what: str) -> None:
    if principal.role is _S and (principal.app is None or slug != principal.app):
        raise _refuse(principal, f"{what} {slug or 'every app'} (it is scoped to {principal.app})")


async def _registry_get(policy: RolePolicy, principal: Principal, params: BaseModel, lookup: ScopeLookup) -> BaseModel:
    _own_app(principal, getattr(params, "slug", None), "read the registry record of")
    return params


async def _registry_register(
    policy: RolePolicy, principal: Principal, params: BaseModel, lookup: ScopeLookup
) -> BaseModel:
    record: AppRecord = params.record  # type: ignore[attr-defined]
    _own_app(principal, record.slug, "register")
    current = await lookup.app(record.slug)
    past_review = current is not None and current.status not in (AppStatus.placeholder, AppStatus.pending)
    if past_review and current is not None and current.endpoints != record.endpoints:
        raise _refuse(
            principal,
            f"change the endpoints of {record.slug}, which the owner has already approved",
            hint="Ask the owner to update the registration (or to set it back to pending for review).",
        )
    # Whatever status it asks for, a satellite's registration lands 'pending' for the owner to approve.
    return params.model_copy(update={"record": record.model_copy(update={"status": AppStatus.pending})})


async def _instruction_list(
    policy: RolePolicy, principal: Principal, params: BaseModel, lookup: ScopeLookup
) -> BaseModel:
    if principal.role is not _S:
        return params
    target = getattr(params, "target", None)
    if target is None:
        return params.model_copy(update={"target": principal.app})
    _own_app(principal, target, "list the instructions of")
    return params


def _own_instruction(what: str) -> ScopeRule:
    async def rule(policy: RolePolicy, principal: Principal, params: BaseModel, lookup: ScopeLookup) -> BaseModel:
        if principal.role is _S:
            target = await lookup.instruction_target(str(params.id))  # type: ignore[attr-defined]
            # An unknown id is refused like another app's: a satellite cannot probe which ids exist.
            _own_app(principal, target or "another app", what)
        return params

    return rule


async def _own_plan(policy: RolePolicy, principal: Principal, params: BaseModel, lookup: ScopeLookup) -> BaseModel:
    plan_id = int(params.plan_id)  # type: ignore[attr-defined]
    starter = await lookup.plan_starter(plan_id)
    if starter != (principal.name, principal.role.value):
        raise _refuse(principal, f"handle plan {plan_id}, which it did not start")
    return params


async def _own_conversation(
    policy: RolePolicy, principal: Principal, params: BaseModel, lookup: ScopeLookup
) -> BaseModel:
    """A plan's conversation is read like the plan: only by whoever started it (and the owner)."""
    conversation_id = int(params.conversation_id)  # type: ignore[attr-defined]
    plan_id = await lookup.conversation_plan(conversation_id)
    if plan_id is not None and await lookup.plan_starter(plan_id) != (principal.name, principal.role.value):
        raise _refuse(
            principal, f"read conversation {conversation_id}, the record of plan {plan_id}, which it did not start"
        )
    return params


SCOPE_RULES: Mapping[str, ScopeRule] = {
    "registry_get": _registry_get,
    "registry_register": _registry_register,
    "instruction_list": _instruction_list,
    "instruction_get": _own_instruction("read an instruction for"),
    "instruction_report": _own_instruction("report on an instruction for"),
    "plan_get": _own_plan,
    "plan_approve": _own_plan,
    "plan_reject": _own_plan,
    "plan_resume": _own_plan,
    "memory_get_conversation": _own_conversation,
}
