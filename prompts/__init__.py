"""Prompt files: Markdown with a small front matter, loaded and rendered by name.

A prompt file ``prompts/<name>.md`` looks like::

    ---
    title: Find capability gaps
    description: What the prompt is for (shown to MCP clients).
    argument: capabilities | required | Comma-separated capabilities to check
    argument: focus | optional | Area to focus on
    ---
    Body text with {{capabilities}} and {{focus}} placeholders.

Every ``{{name}}`` in the body must be a declared argument; optional arguments
render as empty text when absent. Files are read once and cached per process.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from nexus_agent.wire.errors import InvalidInput, NotFound

__all__ = ["PromptArgumentSpec", "PromptTemplate", "as_mcp_prompt", "list_prompts", "load_prompt", "render_prompt"]

_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class PromptArgumentSpec:
    name: str
    required: bool
    description: str


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    title: str
    description: str
    arguments: tuple[PromptArgumentSpec, ...]
    body: str

    def render(self, values: dict[str, Any] | None = None) -> str:
        values = {k: v for k, v in (values or {}).items() if v is not None}
        known = {a.name for a in self.arguments}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InvalidInput(
                f"prompt {self.name!r} has no argument(s) {', '.join(unknown)}",
                hint=f"Its arguments are: {', '.join(sorted(known)) or 'none'}.",
            )
        missing = [a.name for a in self.arguments if a.required and not str(values.get(a.name, "")).strip()]
        if missing:
            raise InvalidInput(
                f"prompt {self.name!r} needs argument(s) {', '.join(missing)}",
                hint="Pass a value for each required argument.",
            )
        return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), "")), self.body).strip() + "\n"


def parse_prompt(name: str, text: str) -> PromptTemplate:
    if not text.startswith("---\n"):
        raise ValueError(f"prompt {name}: missing front matter (file must start with '---')")
    head, sep, body = text[4:].partition("\n---\n")
    if not sep:
        raise ValueError(f"prompt {name}: front matter is not closed with '---'")
    meta: dict[str, str] = {}
    arguments: list[PromptArgumentSpec] = []
    for line in head.splitlines():
        if not line.strip():
            continue
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "argument":
            parts = [p.strip() for p in value.split("|")]
            if len(parts) != 3 or parts[1] not in {"required", "optional"} or not _NAME.match(parts[0]):
                raise ValueError(f"prompt {name}: bad argument line {line!r} (want 'name | required | text')")
            arguments.append(PromptArgumentSpec(parts[0], parts[1] == "required", parts[2]))
        else:
            meta[key] = value
    declared = {a.name for a in arguments}
    used = set(_PLACEHOLDER.findall(body))
    if used - declared:
        raise ValueError(f"prompt {name}: placeholders {sorted(used - declared)} are not declared arguments")
    return PromptTemplate(
        name=name,
        title=meta.get("title", name),
        description=meta.get("description", ""),
        arguments=tuple(arguments),
        body=body,
    )


@functools.cache
def _catalogue() -> dict[str, PromptTemplate]:
    found: dict[str, PromptTemplate] = {}
    for entry in sorted(resources.files(__name__).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".md") and not entry.name.startswith(("_", "README")):
            name = entry.name[:-3]
            found[name] = parse_prompt(name, entry.read_text(encoding="utf-8"))
    return found


def list_prompts() -> list[PromptTemplate]:
    return list(_catalogue().values())


def load_prompt(name: str) -> PromptTemplate:
    try:
        return _catalogue()[name]
    except KeyError:
        raise NotFound(
            f"there is no prompt named {name!r}",
            hint=f"Known prompts: {', '.join(sorted(_catalogue()))}.",
        ) from None


def render_prompt(name: str, **values: Any) -> str:
    return load_prompt(name).render(values)


def as_mcp_prompt(template: PromptTemplate) -> Any:
    """The same template as an MCP prompt for ``MCPServer.add_prompt``."""
    from mcp.server.mcpserver.prompts.base import Prompt, PromptArgument

    def render(**values: Any) -> str:
        return template.render(values)

    return Prompt(
        name=template.name,
        title=template.title,
        description=template.description,
        arguments=[
            PromptArgument(name=a.name, description=a.description, required=a.required) for a in template.arguments
        ],
        fn=render,
    )
