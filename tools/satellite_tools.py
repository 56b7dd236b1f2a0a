"""Satellite tools: discover satellites' tools, call one, fan a call out, check their health."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from nexus_agent.auth.policy import LISTING, OWNER_ONLY
from nexus_agent.satellites import FanOutResult, SatelliteHealth
from nexus_agent.services import REGISTRY_RECHECK_S
from nexus_agent.wire.errors import UpstreamError
from nexus_agent.wire.models import Slug
from tools.base import ToolCall, ToolInput, ToolSpec

__all__ = ["SATELLITE_TOOLS", "call_result_payload"]


class ListSatelliteToolsInput(ToolInput):
    app: Slug | None = Field(None, description="Only this app's tools.")
    capability: str | None = Field(None, max_length=200, description="Only apps with this capability.")
    text: str | None = Field(None, max_length=200, description="Words to match in tool names and descriptions.")
    refresh: bool = Field(False, description="Refetch tool lists now instead of using the cache.")


class SatelliteToolSummary(BaseModel):
    name: str = Field(description="Use this name with satellite_call (or call it directly on Nexus).")
    app: str
    tool: str
    description: str
    read_only: bool
    idempotent: bool
    input_schema: dict[str, Any]


class SatelliteToolList(BaseModel):
    tools: list[SatelliteToolSummary]
    errors: dict[str, str] = Field(description="Apps whose tool list could not be read, and why.")


async def satellite_tools_list(call: ToolCall, params: ListSatelliteToolsInput) -> SatelliteToolList:
    await call.services.sync_satellites(max_age_s=REGISTRY_RECHECK_S)
    listing = await call.services.satellites.list_tools(
        params.app, capability=params.capability, text=params.text, refresh=params.refresh
    )
    return SatelliteToolList(
        tools=[
            SatelliteToolSummary(
                name=t.qualified_name,
                app=t.slug,
                tool=t.name,
                description=t.description or "",
                read_only=bool(t.annotations and t.annotations.read_only_hint),
                idempotent=bool(t.annotations and t.annotations.idempotent_hint),
                input_schema=t.input_schema,
            )
            for t in listing.tools
        ],
        errors=listing.errors,
    )


class SatelliteCallInput(ToolInput):
    tool: str = Field(
        ..., min_length=3, max_length=200, description="Qualified tool name '<app>__<tool>' from satellite_tools_list."
    )
    arguments: dict[str, Any] = Field(default_factory=dict, description="The tool's arguments (its input schema).")
    timeout_s: float | None = Field(None, gt=0, le=600, description="Deadline for this call, retries included.")


class SatelliteCallOutput(BaseModel):
    app: str
    tool: str
    text: str = Field(description="The tool's text content.")
    structured_content: dict[str, Any] | None = None
    attempts: int
    duration_ms: float


def call_result_payload(result: Any) -> SatelliteCallOutput:
    return SatelliteCallOutput(
        app=result.slug,
        tool=result.tool,
        text=result.text,
        structured_content=result.structured_content,
        attempts=result.attempts,
        duration_ms=round(result.duration_ms, 2),
    )


async def satellite_call(call: ToolCall, params: SatelliteCallInput) -> SatelliteCallOutput:
    await call.services.sync_satellites(max_age_s=REGISTRY_RECHECK_S)
    result = await call.services.satellites.call(
        params.tool, params.arguments, timeout=params.timeout_s, on_progress=call.progress
    )
    if result.is_error:
        raise UpstreamError(
            f"{result.qualified_name} answered with an error: {result.text[:2000]}",
            hint="Read the satellite's message; correct the arguments or try another tool.",
            details={"slug": result.slug, "reason": "tool_error"},
        )
    return call_result_payload(result)


class FanOutInput(ToolInput):
    tool: str = Field(..., min_length=1, max_length=128, description="The tool's name on each satellite (unqualified).")
    arguments: dict[str, Any] = Field(default_factory=dict)
    apps: list[Slug] | None = Field(None, max_length=5000, description="These apps; default: every app with the tool.")
    capability: str | None = Field(None, max_length=200, description="Every app with this capability.")
    concurrency: int | None = Field(None, ge=1, le=1000, description="How many calls at once.")
    timeout_s: float | None = Field(None, gt=0, le=600, description="Deadline per satellite.")


async def satellite_fan_out(call: ToolCall, params: FanOutInput) -> FanOutResult:
    await call.services.sync_satellites(max_age_s=REGISTRY_RECHECK_S)
    return await call.services.satellites.fan_out(
        params.tool,
        params.arguments,
        slugs=params.apps,
        capability=params.capability,
        concurrency=params.concurrency,
        timeout=params.timeout_s,
        on_progress=call.progress,
    )


class SatelliteHealthInput(ToolInput):
    app: Slug | None = Field(None, description="One app; default: every connected satellite.")


class SatelliteHealthList(BaseModel):
    satellites: list[SatelliteHealth]


async def satellite_health(call: ToolCall, params: SatelliteHealthInput) -> SatelliteHealthList:
    await call.services.sync_satellites(max_age_s=REGISTRY_RECHECK_S)
    return SatelliteHealthList(satellites=await call.services.satellites.health(params.app))


SATELLITE_TOOLS: list[ToolSpec] = [
    ToolSpec(
        name="satellite_tools_list",
        roles=LISTING,
        title="List satellite tools",
        description=(
            "List the MCP tools that SFG Aluminium's satellite apps expose (quotes, enquiries, surveys, "
            "scheduling, invoicing...), with their input schemas. Filter by app, capability or words. "
            "Apps whose tool list cannot be read are reported under errors; the others are still listed."
        ),
        input_model=ListSatelliteToolsInput,
        output_model=SatelliteToolList,
        handler=satellite_tools_list,
        read_only=True,
        idempotent=True,
        open_world=True,
        group="satellites",
    ),
    ToolSpec(
        name="satellite_call",
        roles=OWNER_ONLY,
        title="Call a satellite tool",
        description=(
            "Call one satellite tool by its qualified name '<app>__<tool>' with arguments matching its "
            "input schema (checked before anything is sent). Read-only tools are retried on transient "
            "failures; a satellite that keeps failing is circuit-broken and reported degraded."
        ),
        input_model=SatelliteCallInput,
        output_model=SatelliteCallOutput,
        handler=satellite_call,
        read_only=False,
        open_world=True,
        group="satellites",
    ),
    ToolSpec(
        name="satellite_fan_out",
        roles=OWNER_ONLY,
        title="Fan a call out to many satellites",
        description=(
            "Call the same tool on many satellites at once: a list of apps, every app with a capability, "
            "or every app that has the tool. Every app's result or error comes back; one failing app "
            "never fails the others. Progress is reported while it runs."
        ),
        input_model=FanOutInput,
        output_model=FanOutResult,
        handler=satellite_fan_out,
        read_only=False,
        open_world=True,
        group="satellites",
    ),
    ToolSpec(
        name="satellite_health",
        roles=LISTING,
        title="Satellite health",
        description=(
            "Probe satellites' /api/health now and show each one's health state, circuit-breaker state, "
            "latency and detail. Use it when a satellite call fails or before a large fan-out."
        ),
        input_model=SatelliteHealthInput,
        output_model=SatelliteHealthList,
        handler=satellite_health,
        read_only=True,
        idempotent=True,
        open_world=True,
        group="satellites",
    ),
]
