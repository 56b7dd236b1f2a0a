"""Registry tools: find apps, read one, register/update, change status."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel, Field

from nexus_agent.auth.policy import LISTING, OWNER_ONLY, SATELLITE_SCOPED, SELF_REGISTERING
from nexus_agent.registry import AppFilter, AppPage, RegisterResult
from nexus_agent.registry_policy import may_set_command
from nexus_agent.wire.models import AppRecord, AppStatus, Slug, StatusChange
from tools.base import ToolCall, ToolInput, ToolSpec

__all__ = ["REGISTRY_TOOLS"]


async def registry_list(call: ToolCall, params: AppFilter) -> AppPage:
    return await call.services.registry.list(params)


@functools.cache
def app_page_schema() -> dict[str, Any]:
    """``AppPage``'s schema with each item described shallowly: every AppRecord field is named, ``slug``,
    ``name`` and ``status`` are typed, and the nested shapes are left to ``registry_get``'s schema.

    Clients check each result against this; against the full nested schema a 500-app page cost the
    client ~0.5 s. The page itself is still built and checked from the full model.
    """
    page = AppPage.model_json_schema()
    record = AppRecord.model_json_schema()
    page.pop("$defs", None)
    page["properties"]["items"]["items"] = {
        "type": "object",
        "title": "AppRecord",
        "description": "A full registry record, with the fields " + ", ".join(record["properties"]) + "; "
        "registry_get's output schema gives every nested shape.",
        "required": record.get("required", ["slug", "name"]),
        "properties": {
            "slug": {"type": "string", "description": record["properties"]["slug"].get("description", "")},
            "name": {"type": "string"},
            "status": {"enum": [s.value for s in AppStatus]},
        },
    }
    return page


class GetAppInput(ToolInput):
    slug: Slug


class AppDetail(BaseModel):
    app: AppRecord
    history: list[StatusChange]


async def registry_get(call: ToolCall, params: GetAppInput) -> AppDetail:
    registry = call.services.registry
    return AppDetail(app=await registry.get(params.slug), history=await registry.history(params.slug))


class RegisterInput(ToolInput):
    record: AppRecord = Field(
        description="The full AppRecord of the satellite (slug, name, capabilities, endpoints...)."
    )
    reason: str = Field("", max_length=1000, description="Why it is being registered or changed.")


async def registry_register(call: ToolCall, params: RegisterInput) -> RegisterResult:
    # A command runs a program on this host: only the owner at the machine may set one (docs/security.md).
    trusted = may_set_command(call.principal, allow_remote=call.services.settings.allow_remote_commands)
    # Anyone but the owner (a satellite, for itself) goes through review: a change to a live app sends it
    # back to 'pending' until the owner approves it again (nexus_agent/registry_lifecycle.py).
    review = not call.principal.is_owner
    result = await call.services.registry.register(
        params.record, actor=call.actor, reason=params.reason, may_set_command=trusted, review=review
    )
    if result.action != "unchanged":
        note = await call.services.publish_app(result.app, actor=call.actor, reason=params.reason)
        if note:
            result.notes.append(note)
    await call.services.sync_satellites()
    return result


class SetStatusInput(ToolInput):
    slug: Slug
    status: AppStatus = Field(description="The new status.")
    reason: str = Field(..., min_length=1, max_length=1000, description="Why (recorded in the status history).")


async def registry_set_status(call: ToolCall, params: SetStatusInput) -> StatusChange:
    change = await call.services.registry.set_status(params.slug, params.status, actor=call.actor, reason=params.reason)
    await call.services.sync_satellites()
    return change


REGISTRY_TOOLS: list[ToolSpec] = [
    ToolSpec(
        name="registry_list",
        roles=LISTING,
        title="List apps",
        description=(
            "List SFG Aluminium's satellite apps from the registry, with their status, category and "
            "capabilities. Filter by status (placeholder, pending, approved, active, degraded, suspended, "
            "retired), category, a capability ('quote', 'invoice'), or free text; paginate with "
            "limit/offset. Use this to find which app does something before calling or planning."
        ),
        input_model=AppFilter,
        output_model=AppPage,
        published_output_schema=app_page_schema,
        handler=registry_list,
        read_only=True,
        idempotent=True,
        group="registry",
    ),
    ToolSpec(
        name="registry_get",
        roles=SATELLITE_SCOPED,
        title="Get app",
        description=(
            "Get one app's full registry record by slug (e.g. 'quote-engine'): capabilities, workflows, "
            "business rules, integrations, endpoints, events, message types, and its status history."
        ),
        input_model=GetAppInput,
        output_model=AppDetail,
        handler=registry_get,
        read_only=True,
        idempotent=True,
        group="registry",
    ),
    ToolSpec(
        name="registry_register",
        roles=SELF_REGISTERING,
        title="Register or update app",
        description=(
            "Register a new satellite app or update an existing one (matched by slug) with a full "
            "AppRecord. New apps are usually 'placeholder' (planned) or 'pending' (awaiting approval). "
            "Never put tokens or secrets in the record: endpoints.token_env names the environment "
            "variable that holds the token. Returns whether it was created and which fields changed."
        ),
        input_model=RegisterInput,
        output_model=RegisterResult,
        handler=registry_register,
        read_only=False,
        idempotent=True,
        destructive=False,
        group="registry",
    ),
    ToolSpec(
        name="registry_set_status",
        roles=OWNER_ONLY,
        title="Set app status",
        description=(
            "Change an app's status (e.g. approve a pending app, mark one degraded or retired) with a "
            "reason; the change is recorded in the app's history with who made it and why."
        ),
        input_model=SetStatusInput,
        output_model=StatusChange,
        handler=registry_set_status,
        read_only=False,
        idempotent=True,
        destructive=True,
        group="registry",
    ),
]
