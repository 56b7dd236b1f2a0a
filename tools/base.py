"""How a Nexus tool is defined.

A tool is a typed async function ``handler(call, params) -> output`` plus a
pydantic input model, an output model and behaviour hints. The same
:class:`ToolSpec` serves the MCP server (``nexus_agent.server``) and the planner,
so a model sees exactly the schema that will validate its call.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from nexus_agent.auth import LOCAL_OWNER, Principal
from nexus_agent.services import NexusServices
from nexus_agent.wire.errors import InvalidInput

__all__ = ["ProgressCallback", "ToolCall", "ToolInput", "ToolSpec"]

InT = TypeVar("InT", bound=BaseModel)
OutT = TypeVar("OutT", bound=BaseModel)

ProgressCallback = Callable[[float, float | None, str | None], Awaitable[None]]


class ToolInput(BaseModel):
    """Base for tool inputs: unknown fields are errors, strings are trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


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

    def parse(self, arguments: Mapping[str, Any] | None, *, max_bytes: int | None = None) -> InT:
        """Validate raw arguments; raise InvalidInput naming every bad field."""
        arguments = dict(arguments or {})
        if max_bytes is not None:
            size = len(json.dumps(arguments, default=str).encode())
            if size > max_bytes:
                raise InvalidInput(
                    f"the arguments to {self.name} are {size:,} bytes, over the {max_bytes:,}-byte limit",
                    hint="Send less text per call (split it into several calls) or raise NEXUS_MAX_INPUT_BYTES.",
                )
        try:
            return self.input_model.model_validate(arguments)
        except ValidationError as exc:
            raise InvalidInput.from_validation(exc, f"arguments to {self.name}") from exc

    async def invoke(
        self, call: ToolCall, arguments: Mapping[str, Any] | None, *, max_bytes: int | None = None
    ) -> OutT:
        return await self.handler(call, self.parse(arguments, max_bytes=max_bytes))

    def input_schema(self) -> dict[str, Any]:
        return self.input_model.model_json_schema()
