"""Every tool the planner can reach, whoever runs it.

A :class:`ToolProvider` lists :class:`ToolDescriptor` objects and calls tools by
name. :class:`NexusToolProvider` serves Nexus's own tools (``tools.NEXUS_TOOLS``
minus the planner tools); the satellite pool and truth-source tools plug in as
more providers; :class:`CompositeProvider` routes each name to its provider.
A :class:`Catalogue` is one snapshot of all descriptors with a fingerprint, so
search indexes and schema validators are built once per catalogue version.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

from nexus_agent.wire.errors import NexusError, NotFound

__all__ = [
    "Catalogue",
    "CompositeProvider",
    "NexusToolProvider",
    "ToolDescriptor",
    "ToolOutcome",
    "ToolProvider",
    "summarise_content",
]

log = logging.getLogger("nexus.planner")


@dataclass(frozen=True)
class ToolDescriptor:
    """What the planner knows about one tool."""

    name: str
    description: str
    input_schema: Mapping[str, Any]
    read_only: bool = False
    idempotent: bool = False
    destructive: bool = False
    source: str = "nexus"  # "nexus" or the slug of the satellite that runs it
    app_capabilities: tuple[str, ...] = ()
    app_status: str | None = None
    title: str = ""
    #: Roles that may call a Nexus tool (its ``ToolSpec.roles``); satellite tools follow the proxy rule.
    roles: tuple[str, ...] = ()

    def key(self) -> tuple[Any, ...]:
        """What the search index depends on (the schema is fingerprinted separately)."""
        return (self.name, self.description, self.source, self.app_capabilities, self.app_status, self.title)


@dataclass
class ToolOutcome:
    """The result of one call: ``content`` is JSON-able; ``error`` says what went wrong."""

    ok: bool
    content: Any = None
    error: str = ""


@runtime_checkable
class ToolProvider(Protocol):
    async def descriptors(self) -> list[ToolDescriptor]: ...
    async def call(self, name: str, arguments: Mapping[str, Any]) -> ToolOutcome: ...

    def is_available(self, name: str) -> bool | str:
        """True, or a reason the tool cannot be called now (e.g. its satellite's circuit is open)."""
        ...


class Catalogue:
    """One snapshot of every reachable tool, by name, with a content fingerprint."""

    def __init__(self, descriptors: Iterable[ToolDescriptor]) -> None:
        self.tools: dict[str, ToolDescriptor] = {}
        for d in descriptors:
            if d.name in self.tools:
                log.warning("two providers offer a tool named %r; keeping the first", d.name)
                continue
            self.tools[d.name] = d
        self.fingerprint = hash(tuple(d.key() for d in self.tools.values()))

    def __len__(self) -> int:
        return len(self.tools)

    def __contains__(self, name: object) -> bool:
        return name in self.tools

    def get(self, name: str) -> ToolDescriptor | None:
        return self.tools.get(name)

    def with_apps(self, apps: Mapping[str, tuple[str, tuple[str, ...]]]) -> Catalogue:
        """A copy where each satellite tool carries its app's registry status and capabilities."""
        if not apps:
            return self
        out: list[ToolDescriptor] = []
        for d in self.tools.values():
            info = apps.get(d.source)
            if info is None or (d.app_status == info[0] and d.app_capabilities):
                out.append(d)
            else:
                out.append(replace(d, app_status=info[0], app_capabilities=d.app_capabilities or info[1]))
        return Catalogue(out)


# -- Nexus's own tools ------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return json.loads(json.dumps(value, default=str))


class NexusToolProvider:
    """Nexus's own tools (registry, memory, gaps, health) as planner tools."""

    def __init__(
        self,
        services: Any,
        *,
        specs: Sequence[Any] | None = None,
        exclude: Iterable[str] = (),
        actor: str = "nexus-planner",
    ) -> None:
        if specs is None:
            from tools import NEXUS_TOOLS  # Nexus's own tools; the planner's own (instruct, plan_*) are not among them

            specs = list(NEXUS_TOOLS)
        specs = [s for s in specs if s.name not in set(exclude)]
        self._services = services
        self._actor = actor
        self._specs = {s.name: s for s in specs}
        self._descriptors = [
            ToolDescriptor(
                name=s.name,
                title=s.title,
                description=s.description,
                input_schema=s.input_schema(),
                read_only=s.read_only,
                idempotent=s.idempotent,
                destructive=s.destructive,
                source="nexus",
                app_capabilities=(f"nexus {s.group}",),
                app_status="active",
                roles=tuple(sorted(r.value for r in getattr(s, "roles", ()))),
            )
            for s in self._specs.values()
        ]

    async def descriptors(self) -> list[ToolDescriptor]:
        return list(self._descriptors)

    def is_available(self, name: str) -> bool | str:
        return True if name in self._specs else f"Nexus has no tool named {name!r}"

    async def call(self, name: str, arguments: Mapping[str, Any]) -> ToolOutcome:
        from nexus_agent.planner.roles import acting_principal
        from tools.base import ToolCall

        spec = self._specs.get(name)
        if spec is None:
            return ToolOutcome(ok=False, error=f"Nexus has no tool named {name!r}")
        principal = acting_principal()  # whoever gave the instruction; the tool checks its role again
        if principal is None:
            call = ToolCall(services=self._services, actor=self._actor)
        else:
            call = ToolCall(services=self._services, actor=principal.name, principal=principal)
        settings = self._services.settings  # None in the planner's evaluation world (tests/planner/demo_world.py)
        max_bytes = settings.max_input_bytes if settings is not None else None
        try:
            result = await spec.invoke(call, arguments, max_bytes=max_bytes)
        except NexusError as exc:
            return ToolOutcome(ok=False, error=exc.user_message())
        return ToolOutcome(ok=True, content=_jsonable(result))


# -- several providers as one -------------------------------------------------------
@dataclass
class CompositeProvider:
    """Routes each tool name to the provider that listed it (first provider wins on a clash)."""

    providers: Sequence[ToolProvider]
    _owner: dict[str, ToolProvider] = field(default_factory=dict)

    async def descriptors(self) -> list[ToolDescriptor]:
        owner: dict[str, ToolProvider] = {}
        out: list[ToolDescriptor] = []
        for provider in self.providers:
            try:
                listed = await provider.descriptors()
            except Exception:  # one broken provider must not hide the others
                log.warning("a tool provider failed to list its tools", exc_info=True)
                continue
            for d in listed:
                if d.name not in owner:
                    owner[d.name] = provider
                    out.append(d)
        self._owner = owner
        return out

    def is_available(self, name: str) -> bool | str:
        provider = self._owner.get(name)
        return provider.is_available(name) if provider else f"no provider offers a tool named {name!r}"

    async def call(self, name: str, arguments: Mapping[str, Any]) -> ToolOutcome:
        provider = self._owner.get(name)
        if provider is None:
            raise NotFound(f"no provider offers a tool named {name!r}")
        return await provider.call(name, arguments)


# -- summaries ------------------------------------------------------------------
def summarise_content(content: Any, limit: int = 300) -> str:
    """A one-line summary of a tool result for logs: counts for lists, a JSON preview otherwise."""
    if isinstance(content, dict):
        lists = {k: v for k, v in content.items() if isinstance(v, list)}
        if lists:
            head = ", ".join(f"{len(v)} {k}" for k, v in lists.items())
            rest = {k: v for k, v in content.items() if k not in lists and not isinstance(v, dict)}
            text = head + (f"; {json.dumps(rest, ensure_ascii=False, default=str)}" if rest else "")
        else:
            text = json.dumps(content, ensure_ascii=False, default=str)
    elif isinstance(content, list):
        text = f"{len(content)} item(s): {json.dumps(content[:3], ensure_ascii=False, default=str)}"
    else:
        text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False, default=str)
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
