"""What the satellite client layer hands to the rest of Nexus (no I/O here).

Everything is a pydantic model so the edges can return it as structured tool
output or JSON unchanged. Tokens never appear in any of these.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import mcp_types as types
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from nexus_agent.wire.models import AppStatus

__all__ = [
    "BreakerState",
    "FanOutItem",
    "FanOutResult",
    "HealthState",
    "PoolSettings",
    "SatelliteCallResult",
    "SatelliteHealth",
    "SatelliteTool",
    "ToolListing",
]


class PoolSettings(BaseModel):
    """Tuning of the satellite pool. Built by the caller; nothing here reads the environment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    call_timeout: float = Field(30.0, gt=0, description="Default deadline of one call, discovery and retries included.")
    connect_timeout: float = Field(10.0, gt=0, description="Deadline for opening an MCP connection (handshake).")
    list_timeout: float = Field(10.0, gt=0, description="Deadline for fetching one satellite's tool list.")
    tools_ttl: float = Field(300.0, ge=0, description="Seconds a satellite's tool list is trusted before a refetch.")
    error_ttl: float = Field(15.0, ge=0, description="Seconds a failed tool listing is remembered before retrying.")
    watch_tool_changes: bool = Field(
        True, description="Listen for tools/list_changed (2026 `subscriptions/listen` or legacy notifications)."
    )
    retry_attempts: int = Field(3, ge=1, le=10, description="Attempts for read-only or idempotent tools.")
    retry_base_delay: float = Field(0.2, ge=0)
    retry_max_delay: float = Field(2.0, ge=0)
    breaker_threshold: int = Field(5, ge=1, description="Consecutive failures that open a satellite's breaker.")
    breaker_cooldown: float = Field(30.0, gt=0, description="Seconds an open breaker waits before a trial call.")
    fanout_concurrency: int = Field(64, ge=1, le=10_000)
    raw_fanout: bool = Field(
        True,
        description="Reach 2026-07-28 HTTP satellites with plain JSON-RPC: discovery, tool lists and the tool-change "
        "stream (raw_contact), and a fan-out's calls (raw_call); false: always the SDK client.",
    )
    health_timeout: float = Field(5.0, gt=0)
    health_interval: float = Field(60.0, gt=0)
    health_path: str = Field("/api/health", description="Probed on the MCP URL's origin when no health_url is set.")
    shutdown_timeout: float = Field(5.0, gt=0, description="How long closing the pool waits for connections.")
    callable_statuses: frozenset[AppStatus] = Field(
        frozenset({AppStatus.approved, AppStatus.active, AppStatus.degraded}),
        description="Registry statuses whose satellites the pool connects to; others are ignored.",
    )


class BreakerState(StrEnum):
    closed = "closed"
    open = "open"
    half_open = "half_open"


class HealthState(StrEnum):
    up = "up"
    degraded = "degraded"
    down = "down"
    unknown = "unknown"


class SatelliteTool(BaseModel):
    """One satellite tool as Nexus exposes it: ``<slug>__<tool>`` plus the satellite's own schema."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    slug: str
    name: str = Field(description="The tool's name on the satellite.")
    qualified_name: str = Field(description="Unique across satellites: '<slug>__<tool>', MCP tool-name characters.")
    title: str | None = None
    description: str | None = None
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None = None
    annotations: types.ToolAnnotations | None = None
    _validator: Any = PrivateAttr(default=None)
    _quick: Any = PrivateAttr(default=None)  # quick_schema.quick_accept: a certain yes before the validator

    @property
    def read_only(self) -> bool:
        return bool(self.annotations and self.annotations.read_only_hint)

    @property
    def idempotent(self) -> bool:
        return bool(self.annotations and self.annotations.idempotent_hint)

    @property
    def retryable(self) -> bool:
        """Safe to send twice: annotated read-only or idempotent."""
        return self.read_only or self.idempotent

    def to_mcp_tool(self) -> types.Tool:
        """The tool as Nexus's own MCP server lists it."""
        return types.Tool(
            name=self.qualified_name,
            title=self.title,
            description=self.description,
            input_schema=self.input_schema,
            output_schema=self.output_schema,
            annotations=self.annotations,
        )


class ToolListing(BaseModel):
    """The tools of many satellites; one satellite failing never hides the others."""

    tools: list[SatelliteTool] = Field(default_factory=list)
    errors: dict[str, str] = Field(
        default_factory=dict, description="Satellites whose tool list could not be fetched or parsed: slug -> why."
    )
    warnings: dict[str, list[str]] = Field(
        default_factory=dict, description="Single tools skipped (e.g. an invalid input schema): slug -> problems."
    )


class SatelliteCallResult(BaseModel):
    """What a satellite tool answered. A tool error is a result with ``is_error``, not an exception."""

    slug: str
    tool: str
    qualified_name: str
    is_error: bool = False
    content: list[types.ContentBlock] = Field(default_factory=list)
    structured_content: dict[str, Any] | None = None
    attempts: int = 1
    duration_ms: float = 0.0

    @property
    def text(self) -> str:
        """The text blocks of the answer, joined."""
        return "\n".join(block.text for block in self.content if isinstance(block, types.TextContent))

    def to_mcp_result(self) -> types.CallToolResult:
        return types.CallToolResult(
            content=list(self.content), structured_content=self.structured_content, is_error=self.is_error
        )


class FanOutItem(BaseModel):
    """One satellite's share of a fan-out: a result or an error, never both missing."""

    slug: str
    ok: bool
    result: SatelliteCallResult | None = None
    error: dict[str, Any] | None = Field(None, description="NexusError.to_dict() of what went wrong, if anything.")
    duration_ms: float = 0.0


class FanOutResult(BaseModel):
    tool: str
    items: list[FanOutItem] = Field(default_factory=list)
    skipped: dict[str, str] = Field(
        default_factory=dict, description="Satellites not called because their tool list is unavailable: slug -> why."
    )
    duration_ms: float = 0.0

    @property
    def succeeded(self) -> list[FanOutItem]:
        return [item for item in self.items if item.ok]

    @property
    def failed(self) -> list[FanOutItem]:
        return [item for item in self.items if not item.ok]


class SatelliteHealth(BaseModel):
    slug: str
    state: HealthState
    breaker: BreakerState
    detail: str = ""
    http_status: int | None = None
    latency_ms: float | None = None
    url: str | None = None
    checked_at: datetime

    @property
    def app_status(self) -> AppStatus | None:
        """The registry status this health implies; None when nothing is known."""
        if self.state is HealthState.up:
            return AppStatus.active
        if self.state in (HealthState.degraded, HealthState.down):
            return AppStatus.degraded
        return None
