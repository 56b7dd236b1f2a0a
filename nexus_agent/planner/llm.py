"""Planner models: a Protocol and the Anthropic Messages API backend.

The transcript is kept in the Messages API shape (``role`` + content blocks:
``text``, ``tool_use``, ``tool_result``) with Nexus's own tool names; a backend
translates at its edge. :class:`AnthropicModel` maps names onto the API's
``^[a-zA-Z0-9_-]{1,64}$`` alphabet, sends tools sorted by name (a stable
prefix) and marks the last tool definition and the system prompt with
``cache_control: ephemeral`` so turns after the first read them from the cache.
The offline backend lives in :mod:`nexus_agent.planner.offline`.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from nexus_agent.planner.catalogue import ToolDescriptor
from nexus_agent.wire.errors import UpstreamError

__all__ = [
    "DEFAULT_MODEL",
    "AnthropicModel",
    "ModelTurn",
    "OfferedTool",
    "PlannerModel",
    "ToolCallRequest",
    "Usage",
    "tool_definition",
    "wire_name",
]

DEFAULT_MODEL = "claude-sonnet-4-6"
MAX_DESCRIPTION_CHARS = 1024
_WIRE_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_CACHE = {"type": "ephemeral"}

Message = dict[str, Any]


@dataclass(frozen=True)
class ToolCallRequest:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass(frozen=True)
class ModelTurn:
    text: str = ""
    tool_calls: list[ToolCallRequest] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    stop_reason: str = ""
    #: A question for the owner instead of a guess (the plan ends ``needs_input``).
    question: str = ""
    #: Capabilities asked for that no reachable tool has (recorded for ``nexus gaps``).
    unmet: tuple[str, ...] = ()


@dataclass(frozen=True)
class OfferedTool:
    """A tool shown to the model this plan, with its selection score (best first)."""

    descriptor: ToolDescriptor
    score: float = 0.0
    contributions: Mapping[str, float] = field(default_factory=dict)  # score per instruction term

    @property
    def name(self) -> str:
        return self.descriptor.name


@runtime_checkable
class PlannerModel(Protocol):
    name: str

    async def next_turn(self, system: str, messages: Sequence[Message], tools: Sequence[OfferedTool]) -> ModelTurn: ...


def wire_name(name: str) -> str:
    """A name the Messages API accepts: the same name when it already fits, else a readable hash-suffixed one."""
    if _WIRE_NAME.match(name):
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return re.sub(r"[^a-zA-Z0-9_-]", "_", name)[:55] + "_" + digest


def tool_definition(d: ToolDescriptor) -> dict[str, Any]:
    """One tool as the Messages API wants it."""
    description = d.description or d.title or d.name
    if d.source != "nexus":
        description = f"[{d.source}] {description}"
    if not d.read_only:
        description += " (Has side effects: runs only after the owner approves.)"
    if len(description) > MAX_DESCRIPTION_CHARS:
        description = description[: MAX_DESCRIPTION_CHARS - 3] + "..."
    schema = dict(d.input_schema) if d.input_schema else {"type": "object", "properties": {}}
    schema.setdefault("type", "object")
    return {"name": wire_name(d.name), "description": description, "input_schema": schema}


def _rename_blocks(messages: Sequence[Message], names: Mapping[str, str]) -> list[Message]:
    out: list[Message] = []
    for message in messages:
        content = message["content"]
        if isinstance(content, list) and any(b.get("type") == "tool_use" for b in content):
            content = [
                {**b, "name": names.get(b["name"], wire_name(b["name"]))} if b.get("type") == "tool_use" else b
                for b in content
            ]
        out.append({"role": message["role"], "content": content})
    return out


class AnthropicModel:
    """The Messages API with tool use, through ``anthropic.AsyncAnthropic``."""

    def __init__(
        self, client: Any, model: str = DEFAULT_MODEL, *, max_tokens: int = 4096, cache_messages: bool = True
    ) -> None:
        self._client = client
        self.model = model
        self.max_tokens = max_tokens
        self.cache_messages = cache_messages
        self.name = f"anthropic:{model}"

    def request(self, system: str, messages: Sequence[Message], tools: Sequence[OfferedTool]) -> dict[str, Any]:
        """The keyword arguments of ``messages.create`` for this turn (also used to measure prompt size)."""
        defs = sorted((tool_definition(t.descriptor) for t in tools), key=lambda t: t["name"])
        if defs:
            defs[-1]["cache_control"] = dict(_CACHE)
        names = {t.name: wire_name(t.name) for t in tools}
        wire_messages = _rename_blocks(messages, names)
        if self.cache_messages and wire_messages and isinstance(wire_messages[-1]["content"], list):
            last = copy.copy(wire_messages[-1])
            blocks = [dict(b) for b in last["content"]]
            if blocks:
                blocks[-1]["cache_control"] = dict(_CACHE)
            last["content"] = blocks
            wire_messages[-1] = last
        request: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "system": [{"type": "text", "text": system, "cache_control": dict(_CACHE)}],
            "messages": wire_messages,
        }
        if defs:
            request["tools"] = defs
        return request

    async def next_turn(self, system: str, messages: Sequence[Message], tools: Sequence[OfferedTool]) -> ModelTurn:
        import anthropic

        back = {wire_name(t.name): t.name for t in tools}
        try:
            response = await self._client.messages.create(**self.request(system, messages, tools))
        except anthropic.APIStatusError as exc:
            raise UpstreamError(
                f"the Anthropic API refused the planning request ({exc.status_code}): {exc.message}",
                hint="Check ANTHROPIC_API_KEY and NEXUS_MODEL, or unset the key to use the offline planner.",
            ) from exc
        except anthropic.APIError as exc:
            raise UpstreamError(
                f"the Anthropic API could not be reached: {exc}",
                hint="Check the network, or unset ANTHROPIC_API_KEY to use the offline planner.",
            ) from exc
        texts: list[str] = []
        calls: list[ToolCallRequest] = []
        for block in response.content:
            if block.type == "text":
                texts.append(block.text)
            elif block.type == "tool_use":
                arguments = block.input if isinstance(block.input, dict) else {"input": block.input}
                calls.append(ToolCallRequest(id=block.id, name=back.get(block.name, block.name), arguments=arguments))
        u = response.usage
        usage = Usage(
            input_tokens=(u.input_tokens or 0)
            + (getattr(u, "cache_read_input_tokens", 0) or 0)
            + (getattr(u, "cache_creation_input_tokens", 0) or 0),
            output_tokens=u.output_tokens or 0,
            cache_read_tokens=getattr(u, "cache_read_input_tokens", 0) or 0,
            cache_write_tokens=getattr(u, "cache_creation_input_tokens", 0) or 0,
        )
        return ModelTurn(text="\n".join(texts).strip(), tool_calls=calls, usage=usage, stop_reason=response.stop_reason)
