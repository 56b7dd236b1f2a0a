"""The role policy (nexus_agent.auth.policy): who may call which tool, and the argument scope rules."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from nexus_agent.auth import Principal, Role
from nexus_agent.auth.policy import RolePolicy
from nexus_agent.planner.catalogue import Catalogue, ToolDescriptor
from nexus_agent.planner.roles import catalogue_for
from nexus_agent.toolset import ALL_TOOLS, tool_by_name
from nexus_agent.wire.errors import Forbidden
from nexus_agent.wire.models import AppRecord, AppStatus

pytestmark = pytest.mark.anyio

OWNER = Principal(name="boss", role=Role.OWNER)
AGENT = Principal(name="bot", role=Role.AGENT)
YARD = Principal(name="yard", role=Role.SATELLITE, app="yard-app")
MONITOR = Principal(name="watch", role=Role.MONITOR)


class FakeLookup:
    def __init__(self, apps: dict[str, AppRecord] | None = None) -> None:
        self.apps = apps or {}
        self.plans = {1: ("bot", "agent"), 2: ("boss", "owner")}
        self.instructions = {"ins-20260105-0000aaaa": "yard-app", "ins-20260105-0000bbbb": "quote-engine"}

    async def plan_starter(self, plan_id: int) -> tuple[str, str] | None:
        return self.plans.get(plan_id)

    async def instruction_target(self, instruction_id: str) -> str | None:
        return self.instructions.get(instruction_id)

    async def app(self, slug: str) -> AppRecord | None:
        return self.apps.get(slug)

    async def conversation_plan(self, conversation_id: int) -> int | None:
        return None


async def authorize(principal: Principal, tool: str, arguments: dict[str, Any], **kw: Any) -> BaseModel:
    spec = tool_by_name(tool)
    policy = RolePolicy(agents_may_approve=kw.pop("agents_may_approve", False))
    return await policy.authorize(principal, tool, spec.roles, spec.parse(arguments), FakeLookup(**kw))


def allowed(principal: Principal, policy: RolePolicy | None = None) -> set[str]:
    policy = policy or RolePolicy()
    return {s.name for s in ALL_TOOLS if policy.may_call(principal, s.name, s.roles)}


def test_the_owner_may_call_every_tool_and_the_others_a_fixed_share() -> None:
    assert allowed(OWNER) == {s.name for s in ALL_TOOLS}
    assert allowed(YARD) == {
        "registry_get",
        "registry_register",
        "instruction_list",
        "instruction_get",
        "instruction_report",
    }
    assert allowed(MONITOR) == {
        "registry_list",
        "instruction_list",
        "satellite_tools_list",
        "satellite_health",
        "nexus_health",
    }
    agent = allowed(AGENT)
    assert "instruct" in agent and "plan_get" in agent
    # Every tool an agent may call is read-only, apart from its own plans' tools.
    assert all(tool_by_name(n).read_only for n in agent - {"instruct", "plan_resume"})


def test_admin_tools_are_the_owners_alone() -> None:
    admin = {
        "registry_set_status",
        "registration_approve",
        "registration_request_changes",
        "registrations_process",
        "instruction_create",
        "instructions_refresh",
        "satellite_call",
        "satellite_fan_out",
        "memory_remember",
        "memory_log_decision",
    }
    for name in admin:
        assert tool_by_name(name).roles == {Role.OWNER}, name


def test_agents_approve_only_when_the_owner_allows_it() -> None:
    assert "plan_approve" not in allowed(AGENT)
    assert {"plan_approve", "plan_reject"} <= allowed(AGENT, RolePolicy(agents_may_approve=True))
    with pytest.raises(Forbidden, match="NEXUS_AGENTS_MAY_APPROVE"):
        RolePolicy().check(AGENT, "plan_approve", tool_by_name("plan_approve").roles)


def test_a_refusal_names_the_role_and_what_it_may_do() -> None:
    with pytest.raises(Forbidden) as refused:
        RolePolicy().check(YARD, "registry_set_status", tool_by_name("registry_set_status").roles)
    text = refused.value.user_message()
    assert text.startswith("[forbidden] yard (satellite:yard-app) may not call registry_set_status")
    assert "its own registry record" in text and refused.value.http_status == 403


def test_satellite_tools_proxied_by_nexus_only_read_only_ones_for_agents() -> None:
    policy = RolePolicy()
    assert policy.may_call_satellite_tool(OWNER, read_only=False)
    assert policy.may_call_satellite_tool(AGENT, read_only=True)
    assert not policy.may_call_satellite_tool(AGENT, read_only=False)
    assert not policy.may_call_satellite_tool(YARD, read_only=True)
    assert not policy.may_call_satellite_tool(MONITOR, read_only=True)


def test_resources_a_satellite_reads_only_its_own_app() -> None:
    policy = RolePolicy()
    assert policy.may_read_resource(YARD, "nexus://apps/yard-app")
    assert not policy.may_read_resource(YARD, "nexus://apps/quote-engine")
    assert not policy.may_read_resource(YARD, "nexus://registry")
    assert policy.may_read_resource(MONITOR, "nexus://registry")
    assert not policy.may_read_resource(MONITOR, "nexus://apps/quote-engine")


async def test_a_satellite_reads_only_its_own_record() -> None:
    await authorize(YARD, "registry_get", {"slug": "yard-app"})
    with pytest.raises(Forbidden, match="quote-engine"):
        await authorize(YARD, "registry_get", {"slug": "quote-engine"})
    await authorize(AGENT, "registry_get", {"slug": "quote-engine"})  # agents read any record


async def test_a_satellite_registration_always_lands_pending() -> None:
    record = {"slug": "yard-app", "name": "Yard", "status": "active", "endpoints": {"mcp_url": "http://y.test/mcp"}}
    params = await authorize(YARD, "registry_register", {"record": record})
    assert params.record.status is AppStatus.pending  # type: ignore[attr-defined]
    owners = await authorize(OWNER, "registry_register", {"record": record})
    assert owners.record.status is AppStatus.active  # type: ignore[attr-defined]
    with pytest.raises(Forbidden):
        await authorize(YARD, "registry_register", {"record": {**record, "slug": "quote-engine"}})


async def test_a_satellite_cannot_redirect_its_approved_app_without_the_owner() -> None:
    approved = AppRecord.model_validate(
        {"slug": "yard-app", "name": "Yard", "status": "active", "endpoints": {"mcp_url": "http://y.test/mcp"}}
    )
    same = approved.model_dump(mode="json")
    await authorize(YARD, "registry_register", {"record": same}, apps={"yard-app": approved})
    moved = {**same, "endpoints": {"mcp_url": "http://attacker.test/mcp"}}
    with pytest.raises(Forbidden, match="already approved"):
        await authorize(YARD, "registry_register", {"record": moved}, apps={"yard-app": approved})


async def test_a_satellite_lists_and_reads_only_its_own_instructions() -> None:
    listed = await authorize(YARD, "instruction_list", {})
    assert listed.target == "yard-app"  # type: ignore[attr-defined]
    with pytest.raises(Forbidden):
        await authorize(YARD, "instruction_list", {"target": "quote-engine"})
    await authorize(YARD, "instruction_get", {"id": "ins-20260105-0000aaaa"})
    # Another app's instruction, and an unknown id (refused alike: nothing to probe).
    for other in ("ins-20260105-0000bbbb", "ins-20260105-0000cccc"):
        with pytest.raises(Forbidden):
            await authorize(YARD, "instruction_get", {"id": other})
    await authorize(YARD, "instruction_report", {"id": "ins-20260105-0000aaaa", "status": "completed"})
    with pytest.raises(Forbidden, match="report on an instruction for quote-engine"):
        await authorize(YARD, "instruction_report", {"id": "ins-20260105-0000bbbb", "status": "completed"})


async def test_an_agent_handles_only_the_plans_it_started() -> None:
    await authorize(AGENT, "plan_get", {"plan_id": 1})
    with pytest.raises(Forbidden, match="did not start"):
        await authorize(AGENT, "plan_get", {"plan_id": 2})
    with pytest.raises(Forbidden, match="did not start"):
        await authorize(Principal(name="other-bot", role=Role.AGENT), "plan_resume", {"plan_id": 1})
    await authorize(AGENT, "plan_approve", {"plan_id": 1}, agents_may_approve=True)
    with pytest.raises(Forbidden, match="did not start"):
        await authorize(AGENT, "plan_reject", {"plan_id": 2}, agents_may_approve=True)
    await authorize(OWNER, "plan_approve", {"plan_id": 1})  # the owner handles every plan


def test_an_agents_planner_catalogue_holds_only_what_an_agent_may_call() -> None:
    tools = [
        ToolDescriptor(name="registry_get", description="", input_schema={}, read_only=True, roles=("agent", "owner")),
        ToolDescriptor(name="registry_set_status", description="", input_schema={}, roles=("owner",)),
        ToolDescriptor(name="q__list_quotes", description="", input_schema={}, read_only=True, source="q"),
        ToolDescriptor(name="q__send_chaser", description="", input_schema={}, read_only=False, source="q"),
    ]
    catalogue = Catalogue(tools)
    assert set(catalogue_for(catalogue, AGENT).tools) == {"registry_get", "q__list_quotes"}
    assert set(catalogue_for(catalogue, OWNER).tools) == set(catalogue.tools)


class NoteSink:
    def __init__(self) -> None:
        self.notes: list[Any] = []

    async def add_note(self, note: Any) -> Any:
        self.notes.append(note)
        return note


async def test_repeated_refusals_are_collapsed_into_one_note_per_window() -> None:
    from nexus_agent.auth.audit import RefusalThrottle, record_refusal

    now = [0.0]
    throttle = RefusalThrottle(window=60, limit=2, clock=lambda: now[0])
    sink = NoteSink()
    refusal = Forbidden("the satellite role may not call registry_set_status")
    for _ in range(400):  # a token hammering one tool it may not call
        await record_refusal(sink, YARD, "registry_set_status", refusal, throttle)  # type: ignore[arg-type]
    assert len(sink.notes) == 1 and "Refused registry_set_status to yard" in sink.notes[0].title
    await record_refusal(sink, YARD, "memory_search", refusal, throttle)  # type: ignore[arg-type]
    assert len(sink.notes) == 2  # another tool: noted at once
    now[0] = 61.0
    await record_refusal(sink, YARD, "registry_set_status", refusal, throttle)  # type: ignore[arg-type]
    assert len(sink.notes) == 3 and "399 more times" in sink.notes[-1].text
    for i in range(50):  # the state stays bounded: 2 pairs tracked
        await record_refusal(sink, YARD, f"tool_{i}", refusal, throttle)  # type: ignore[arg-type]
    assert len(throttle._seen) == 2


async def test_an_agent_reads_only_the_conversations_of_its_own_plans() -> None:
    class Conversations(FakeLookup):
        async def conversation_plan(self, conversation_id: int) -> int | None:
            return {10: 1, 20: 2}.get(conversation_id)  # plan 1 is bot's, plan 2 the owner's

    spec = tool_by_name("memory_get_conversation")
    policy = RolePolicy()
    for conversation in (10, 30):  # its own plan's, and one no plan belongs to
        params = spec.parse({"conversation_id": conversation})
        assert await policy.authorize(AGENT, spec.name, spec.roles, params, Conversations()) == params
    with pytest.raises(Forbidden, match="did not start"):
        await policy.authorize(AGENT, spec.name, spec.roles, spec.parse({"conversation_id": 20}), Conversations())
