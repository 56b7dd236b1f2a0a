"""Wire and domain models shared by every layer (no I/O here).

``AppRecord`` is the canonical shape of a satellite app in the registry. The
satellite kit imports these same models so both sides cannot drift apart.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationInfo, field_validator

__all__ = [
    "LIVE_STATUSES",
    "MESSAGE_TYPE_PATTERN",
    "PLANNED_STATUSES",
    "SLUG_PATTERN",
    "AppEndpoints",
    "AppFilter",
    "AppPage",
    "AppRecord",
    "AppStatus",
    "AppTool",
    "Capability",
    "FieldChange",
    "RegisterResult",
    "Slug",
    "StatusChange",
    "Workflow",
    "utcnow",
]

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
_SLUG_RE = re.compile(SLUG_PATTERN)

Slug = Annotated[
    str,
    Field(
        pattern=SLUG_PATTERN,
        min_length=1,
        max_length=64,
        description="Lower-case app id: letters, digits and single hyphens, e.g. 'quote-engine'.",
        examples=["quote-engine"],
    ),
]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]
LongText = Annotated[str, Field(max_length=4000)]


def utcnow() -> datetime:
    return datetime.now(UTC)


def slugify(text: str) -> str:
    """'Quote Engine v2' -> 'quote-engine-v2'."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return re.sub(r"-{2,}", "-", slug)[:64].strip("-")


class AppStatus(StrEnum):
    """Lifecycle of a satellite. Placeholders are first-class: planned apps."""

    placeholder = "placeholder"
    pending = "pending"
    approved = "approved"
    active = "active"
    degraded = "degraded"
    suspended = "suspended"
    retired = "retired"

    @property
    def is_live(self) -> bool:
        """Approved, active or degraded: the app exists (or is cleared to) and counts as real coverage."""
        return self in LIVE_STATUSES

    @property
    def is_planned(self) -> bool:
        """Placeholder or pending: the app is planned but not yet built or approved."""
        return self in PLANNED_STATUSES


#: Statuses whose apps count as live coverage (suspended and retired apps count as neither).
LIVE_STATUSES: frozenset[AppStatus] = frozenset({AppStatus.approved, AppStatus.active, AppStatus.degraded})
#: Statuses of apps that are planned but not live yet.
PLANNED_STATUSES: frozenset[AppStatus] = frozenset({AppStatus.placeholder, AppStatus.pending})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Capability(_Strict):
    """Something an app can do, in the owner's words ('quote generation')."""

    name: ShortText
    description: LongText = ""


class AppTool(_Strict):
    """A tool a satellite exposes over MCP, as declared at registration."""

    name: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")]
    description: LongText = ""
    read_only: bool = False
    idempotent: bool = False
    destructive: bool = False


class Workflow(_Strict):
    name: ShortText
    description: LongText = ""
    steps: list[Annotated[str, Field(max_length=500)]] = Field(default_factory=list, max_length=100)


_EnvName = Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$", max_length=100)]
#: Variables that steer how a program is found, loaded or started: never set on a satellite from a record.
_UNSAFE_ENV = frozenset({"PATH", "HOME", "SHELL", "ENV", "BASH_ENV", "IFS", "TMPDIR", "NODE_OPTIONS", "NODE_PATH"})
_UNSAFE_ENV_PREFIXES = ("LD_", "DYLD_", "PYTHON", "PERL", "RUBY", "JAVA_", "_JAVA", "GIT_", "UV_", "PIP_", "NPM_")


class AppEndpoints(_Strict):
    """How Nexus reaches a satellite. Any of these may be absent for a placeholder."""

    mcp_url: HttpUrl | None = Field(None, description="Streamable HTTP MCP endpoint, e.g. http://host:8800/mcp")
    mcp_command: list[Annotated[str, Field(max_length=1000)]] | None = Field(
        None, description="A stdio MCP server command, e.g. ['uvx', 'mcp-server-time']", max_length=50
    )
    health_url: HttpUrl | None = None
    webhook_url: HttpUrl | None = None
    message_handler_url: HttpUrl | None = None
    app_url: HttpUrl | None = Field(
        None, description="The app's own web address (its deployment URL), for people; Nexus does not call it."
    )
    token_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$", max_length=100)] | None = Field(
        None,
        description="Name of the environment variable holding the satellite's bearer token "
        "(the token itself is never stored).",
    )
    webhook_secret_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$", max_length=100)] | None = Field(
        None,
        description="Name of the environment variable holding the HMAC secret that signs webhooks "
        "exchanged with the satellite (the secret itself is never stored).",
    )
    signature_header: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,100}$")] | None = Field(
        None,
        description="Header in which the app expects (and sends) the hex HMAC-SHA256 of a message or webhook body; "
        "default X-Nexus-Signature.",
    )
    mcp_env: dict[_EnvName, _EnvName] = Field(
        default_factory=dict,
        max_length=20,
        description="Environment of a stdio satellite (mcp_command): each variable it reads -> the variable Nexus "
        "takes the value from, which must be one of the app's own SATELLITE_<SLUG>_* or an allow-listed name "
        "(values are never stored), e.g. {'GITHUB_TOKEN': 'SATELLITE_GIT_GITHUB_TOKEN'}.",
    )

    @field_validator("mcp_env")
    @classmethod
    def _no_loader_variables(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(n for n in value if n in _UNSAFE_ENV or n.startswith(_UNSAFE_ENV_PREFIXES))
        if bad:
            raise ValueError(
                f"{', '.join(bad)} would change how the satellite's program is found or started, not what it reads; "
                "name only the variables the satellite itself reads (tokens, endpoints)"
            )
        return value


MESSAGE_TYPE_PATTERN = r"^[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+$"


class MessageParam(_Strict):
    """One documented parameter of a legacy app's message type (it becomes a field of the tool's schema)."""

    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$")]
    type: Literal["string", "integer", "number", "boolean", "object", "array", "date", "datetime"] = "string"
    required: bool = False
    description: LongText = ""


class MessageSpec(_Strict):
    """What a registration documents about one message type its handler accepts ('query.stock_level')."""

    type: Annotated[str, Field(pattern=MESSAGE_TYPE_PATTERN, max_length=200, examples=["query.stock_level"])]
    description: LongText = ""
    params: list[MessageParam] | None = Field(
        None,
        max_length=100,
        description="Documented parameters; null when undocumented (the tool takes a free 'params' object).",
    )


class StatusChange(_Strict):
    slug: Slug
    old_status: AppStatus | None
    new_status: AppStatus
    changed_by: ShortText
    reason: LongText = ""
    changed_at: datetime


class AppRecord(_Strict):
    """The canonical registry entry for one satellite app."""

    slug: Slug
    name: ShortText
    category: Annotated[str, Field(max_length=100)] = "uncategorised"
    description: LongText = ""
    version: Annotated[str, Field(max_length=50)] = "0.0.0"
    status: AppStatus = AppStatus.placeholder
    capabilities: list[Capability] = Field(default_factory=list, max_length=200)
    workflows: list[Workflow] = Field(default_factory=list, max_length=200)
    tools: list[AppTool] = Field(
        default_factory=list, max_length=500, description="MCP tools the app declared when it registered."
    )
    business_rules: list[Annotated[str, Field(max_length=2000)]] = Field(default_factory=list, max_length=500)
    integrations: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list, max_length=200)
    endpoints: AppEndpoints = Field(default_factory=AppEndpoints, validate_default=True)
    subscribes_to: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list, max_length=200, description="Event types this app wants webhooks for."
    )
    message_types: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list,
        max_length=200,
        description="Message types its handler accepts, e.g. 'query.customer_data'.",
    )
    message_specs: list[MessageSpec] = Field(
        default_factory=list,
        max_length=200,
        description="Documentation of message types (description, parameters), from the registration's Markdown.",
    )
    publishes: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list, max_length=200, description="Event types this app sends, e.g. 'rota.published'."
    )
    owner: Annotated[str, Field(max_length=200)] = ""
    tags: list[Annotated[str, Field(max_length=100)]] = Field(default_factory=list, max_length=100)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @field_validator("capabilities", mode="before")
    @classmethod
    def _capabilities_from_strings(cls, value: object) -> object:
        # Portfolios list capabilities as plain strings; accept both shapes.
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("workflows", mode="before")
    @classmethod
    def _workflows_from_strings(cls, value: object) -> object:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("endpoints")
    @classmethod
    def _reachable_when_live(cls, endpoints: AppEndpoints, info: ValidationInfo) -> AppEndpoints:
        # A field validator (status is declared before endpoints) so the error names `endpoints`.
        status = info.data.get("status")
        reachable = (
            endpoints.mcp_url is not None
            or bool(endpoints.mcp_command)
            or endpoints.health_url is not None
            or endpoints.message_handler_url is not None
        )
        if status in {AppStatus.active, AppStatus.degraded} and not reachable:
            raise ValueError(
                f"an app with status '{status.value}' needs endpoints.mcp_url, endpoints.mcp_command, "
                "endpoints.message_handler_url or endpoints.health_url so Nexus can reach it; "
                "register it as 'placeholder' or 'pending' until it is deployed"
            )
        return endpoints

    def capability_names(self) -> list[str]:
        return [c.name for c in self.capabilities]


def is_slug(text: str) -> bool:
    return bool(_SLUG_RE.match(text))


# -- registry wire models ------------------------------------------------------
class AppFilter(BaseModel):
    """Filters of ``Registry.list``: every filter given must match; results are sorted by slug
    (by relevance first when ``text`` is given)."""

    model_config = ConfigDict(extra="forbid")

    status: list[AppStatus] = Field(
        default_factory=list, max_length=7, description="Any of these statuses (empty: all)."
    )
    category: str | None = Field(None, max_length=100, description="Exact category, case-insensitive.")
    capability: str | None = Field(
        None, max_length=200, description="Words that must all appear in one capability name, e.g. 'quote'."
    )
    text: str | None = Field(
        None, max_length=200, description="Full-text words over name, description, capabilities, workflows, tags."
    )
    limit: int = Field(100, ge=1, le=500)
    offset: int = Field(0, ge=0, le=1_000_000_000)

    @field_validator("status", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("category", "capability", "text", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value


class AppPage(BaseModel):
    """One page of ``Registry.list``."""

    items: list[AppRecord]
    total: int = Field(description="Apps matching every filter.")
    limit: int
    offset: int
    next_offset: int | None = Field(None, description="Offset of the next page, or null on the last page.")
    status_counts: dict[str, int] = Field(
        description="Per status, the apps matching every filter except `status` (facet counts)."
    )


class FieldChange(BaseModel):
    """One changed top-level field of a registration (JSON values)."""

    old: Any = None
    new: Any = None


class RegisterResult(BaseModel):
    """What ``Registry.register`` did. ``unchanged``: same content re-registered, nothing written."""

    action: Literal["created", "updated", "unchanged"]
    app: AppRecord = Field(description="The record as stored now.")
    changed_fields: list[str] = Field(default_factory=list)
    changes: dict[str, FieldChange] = Field(default_factory=dict)
    status_change: StatusChange | None = None
    notes: list[str] = Field(default_factory=list, description="What was not applied, and why.")

    @property
    def created(self) -> bool:
        return self.action == "created"
