"""Registry tools: find apps, read one, register/update, change status."""

from __future__ import annotations

import functools
from typing import Any, Literal

from pydantic import BaseModel, Field

from nexus_agent.auth.policy import LISTING, OWNER_ONLY, SATELLITE_SCOPED, SELF_REGISTERING
from nexus_agent.registry import AppFilter, AppPage, RegisterResult
from nexus_agent.registry_policy import may_set_command
from nexus_agent.wire.models import AppRecord, AppStatus, Slug, StatusChange
from tools.base import ToolCall, ToolInput, ToolSpec

__all__ = ["REGISTRY_TOOLS"]


SUMMARY_DESCRIPTION_CHARS = 280  # a summary's description is cut here ("…"); registry_get has the whole text


class ListAppsInput(AppFilter):
    """``AppFilter`` plus how much of each app to return."""

    detail: Literal["summary", "full"] = Field(
        "summary",
        description="'summary' (default): per app its slug, name, status, category, version, description "
        f"(first {SUMMARY_DESCRIPTION_CHARS} characters), capability names, tags and number of declared tools. "
        "'full': every app's whole registry record, as registry_get gives it.",
    )


class AppSummary(BaseModel):
    """One app of a ``registry_list`` page: enough to pick it; ``registry_get`` gives its whole record."""

    slug: str
    name: str
    status: AppStatus
    category: str
    version: str
    description: str = Field(description=f"The first {SUMMARY_DESCRIPTION_CHARS} characters of the description.")
    capabilities: list[str] = Field(description="Capability names.")
    tags: list[str]
    tool_count: int = Field(description="Tools declared in the app's record (its live MCP tools may differ).")

    @classmethod
    def of(cls, record: AppRecord) -> AppSummary:
        text = record.description
        if len(text) > SUMMARY_DESCRIPTION_CHARS:
            text = text[: SUMMARY_DESCRIPTION_CHARS - 1].rstrip() + "…"
        return cls.model_construct(  # every field comes from an already validated record
            slug=record.slug,
            name=record.name,
            status=record.status,
            category=record.category,
            version=record.version,
            description=text,
            capabilities=record.capability_names(),
            tags=list(record.tags),
            tool_count=len(record.tools),
        )

    def capability_names(self) -> list[str]:
        return list(self.capabilities)


class AppListPage(BaseModel):
    """One page of ``registry_list``: summaries by default, whole records with ``detail='full'``."""

    items: list[AppSummary] | list[AppRecord]
    total: int = Field(description="Apps matching every filter.")
    limit: int
    offset: int
    next_offset: int | None = Field(None, description="Offset of the next page, or null on the last page.")
    status_counts: dict[str, int] = Field(
        description="Per status, the apps matching every filter except `status` (facet counts)."
    )


async def registry_list(call: ToolCall, params: ListAppsInput) -> AppListPage:
    query = AppFilter.model_validate(params.model_dump(exclude={"detail"}))
    page: AppPage = await call.services.registry.list(query)
    items = page.items if params.detail == "full" else [AppSummary.of(r) for r in page.items]
    return AppListPage.model_construct(
        items=items,
        total=page.total,
        limit=page.limit,
        offset=page.offset,
        next_offset=page.next_offset,
        status_counts=page.status_counts,
    )


@functools.cache
def app_page_schema() -> dict[str, Any]:
    """The published output schema of ``registry_list``: the page, its items named but not typed field by field.

    Clients check every result against this schema, and each typed field of each item is one more step of
    that check: typing the nine summary fields made a 500-app page cost a client ~60 ms, against ~10 ms for
    Nexus to build it (and the full nested record schema ~0.5 s). So an item is an object that must have
    ``slug``, ``name`` and ``status``; its description names the fields, and ``registry_get``'s output schema
    gives a whole record's every nested shape.
    """
    page = AppListPage.model_json_schema()
    record = AppRecord.model_json_schema()
    page.pop("$defs", None)
    statuses = ", ".join(s.value for s in AppStatus)
    page["properties"]["items"] = {
        "type": "array",
        "description": "Summaries (the default) or, with detail='full', whole records.",
        "items": {
            "type": "object",
            "title": "AppSummary or AppRecord",
            "description": "A summary: slug, name, status (one of "
            + statuses
            + "), category, version, description (cut at "
            + f"{SUMMARY_DESCRIPTION_CHARS} characters), capabilities (names), tags (strings), tool_count "
            "(integer). A whole record (detail='full'): the AppRecord fields "
            + ", ".join(record["properties"])
            + " (capabilities as {name, description}).",
            "required": ["slug", "name", "status"],
        },
    }
    return page


class GetAppInput(ToolInput):
    slug: Slug


class AppDetail(BaseModel):
    app: AppRecord
    history: list[StatusChange]


async def registry_get(call: ToolCall, params: GetAppInput) -> AppDetail:
    app, history = await call.services.registry.detail(params.slug)
    return AppDetail(app=app, history=history)


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
            "limit/offset (next_offset). Each app comes as a summary (slug, name, status, category, version, "
            "description, capability names, tags, tool count); pass detail='full' for whole records, or "
            "call registry_get for one. Use this to find which app does something before calling or planning."
        ),
        input_model=ListAppsInput,
        output_model=AppListPage,
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
