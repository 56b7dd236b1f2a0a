"""How a Nexus tool is defined.

A tool is a typed async function ``handler(call, params) -> output`` plus a
pydantic input model, an output model and behaviour hints. The same
:class:`ToolSpec` serves the MCP server (``nexus_agent.server``) and the planner,
so a model sees exactly the schema that will validate its call.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from nexus_agent.auth import LOCAL_OWNER, Principal, Role
from nexus_agent.auth.policy import OWNER_ONLY, RolePolicy
from nexus_agent.services import NexusServices
from nexus_agent.wire.errors import InvalidInput
from tools.scope import ServicesLookup

__all__ = ["ProgressCallback", "ToolCall", "ToolInput", "ToolSpec", "check_argument_size"]

InT = TypeVar("InT", bound=BaseModel)
OutT = TypeVar("OutT", bound=BaseModel)

ProgressCallback = Callable[[float, float | None, str | None], Awaitable[None]]


class ToolInput(BaseModel):
    """Base for tool inputs: unknown fields are errors, strings are trimmed, numbers must fit.

    A number no field can hold (``limit=10**30``, ``inf``, ``nan``) is an error naming its field,
    not a crash where it meets SQLite's 64-bit integers.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _numbers_fit(cls, value: Any) -> Any:
        problem = _number_problem(value)
        if problem:
            raise ValueError(problem)
        return value


_INT_LIMIT = 2**63 - 1  # SQLite INTEGER, and what JSON peers can be expected to read


def _number_problem(value: Any, depth: int = 0) -> str | None:
    """Why a number in ``value`` (or nested in its lists and dicts) cannot be accepted; None when all fit."""
    if isinstance(value, bool) or depth > 32:
        return None
    if isinstance(value, int) and not -_INT_LIMIT <= value <= _INT_LIMIT:
        return f"the number {str(value)[:12]}… is too large (whole numbers must be within ±{_INT_LIMIT})"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a finite number"
    items = value.values() if isinstance(value, Mapping) else value if isinstance(value, list | tuple) else ()
    return next((p for p in (_number_problem(v, depth + 1) for v in items) if p), None)


def check_argument_size(name: str, arguments: Mapping[str, Any] | None, max_bytes: int | None) -> None:
    """Refuse arguments over ``max_bytes`` (``NEXUS_MAX_INPUT_BYTES``) as JSON: Nexus's tools and satellites'."""
    if max_bytes is None:
        return
    size = len(json.dumps(dict(arguments or {}), default=str).encode())
    if size > max_bytes:
        raise InvalidInput(
            f"the arguments to {name} are {size:,} bytes, over the {max_bytes:,}-byte limit",
            hint="Send less text per call (split it into several calls) or raise NEXUS_MAX_INPUT_BYTES.",
            details={"field": "arguments", "bytes": size, "limit": max_bytes},
        )


async def _no_progress(done: float, total: float | None, message: str | None) -> None:
    return None


@dataclass
class ToolCall:
    """What a tool handler gets besides its parameters: services, caller, progress."""

    services: NexusServices
    actor: str
    progress: ProgressCallback = field(default=_no_progress)
    #: The MCP request context when called through the server (elicitation); None from the CLI.
    context: Any = None
    #: Who is calling, with their role and app scope (the CLI and stdio server act as the owner).
    principal: Principal = LOCAL_OWNER


@dataclass(frozen=True)
class ToolSpec(Generic[InT, OutT]):
    name: str
    title: str
    description: str
    input_model: type[InT]
    output_model: type[OutT]
    handler: Callable[[ToolCall, InT], Awaitable[OutT]]
    read_only: bool = True
    idempotent: bool = False
    destructive: bool = False
    open_world: bool = False
    group: str = "nexus"
    #: Roles that may call it (``nexus_agent.auth.policy``; argument-dependent rules live there too).
    #: Undeclared: owner only, so a new tool is never opened up by accident.
    roles: frozenset[Role] = OWNER_ONLY
    #: The output schema published to MCP clients when it should be leaner than ``output_model``'s own:
    #: clients check every result against it (a 500-app page against the full nested schema costs the
    #: client ~0.5 s). None: the model's schema. Results are still built and checked from the model.
    published_output_schema: Callable[[], dict[str, Any]] | None = None

    def parse(self, arguments: Mapping[str, Any] | None, *, max_bytes: int | None = None) -> InT:
        """Validate raw arguments; raise InvalidInput naming every bad field."""
        arguments = dict(arguments or {})
        check_argument_size(self.name, arguments, max_bytes)
        try:
            return self.input_model.model_validate(arguments)
        except ValidationError as exc:
            raise InvalidInput.from_validation(exc, f"arguments to {self.name}") from exc

    async def invoke(
        self, call: ToolCall, arguments: Mapping[str, Any] | None, *, max_bytes: int | None = None
    ) -> OutT:
        """Check the caller's role, validate, apply the role policy's scope rule, then run."""
        policy = RolePolicy.from_settings(call.services.settings)
        policy.check(call.principal, self.name, self.roles)  # forbidden before any argument error
        params = self.parse(arguments, max_bytes=max_bytes)
        scoped = await policy.authorize(call.principal, self.name, self.roles, params, ServicesLookup(call.services))
        return await self.handler(call, scoped)  # type: ignore[arg-type]

    def input_schema(self) -> dict[str, Any]:
        return self.input_model.model_json_schema()
