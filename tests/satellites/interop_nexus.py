"""Helpers for the interop tests: a real `nexus serve` over stdio, as a desktop client launches it, with a
real SDK client that answers sampling, elicitation and roots requests the way a desktop client would."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mcp_types as types
from mcp import Client, StdioServerParameters

SAMPLED_ANSWER = "Forty-two, said the scripted model"
ELICITED = {"name": "Warren", "check": True, "email": "warren@example.test"}


@dataclass
class AnsweringClient:
    """The three answers a desktop client gives, and a record of what it was asked."""

    root: str = "file:///srv/sfg"
    sampled: list[str] = field(default_factory=list)
    elicited: list[str] = field(default_factory=list)
    roots_asked: int = 0

    @staticmethod
    def sampled_text(params: types.CreateMessageRequestParams) -> str:
        content = params.messages[0].content
        return content.text if isinstance(content, types.TextContent) else repr(content)

    async def sampling(self, context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        self.sampled.append(self.sampled_text(params))
        text = types.TextContent(type="text", text=SAMPLED_ANSWER)
        return types.CreateMessageResult(role="assistant", content=text, model="scripted-model")

    async def elicitation(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.elicited.append(params.message)
        if isinstance(params, types.ElicitRequestURLParams):
            return types.ElicitResult(action="accept")
        wanted = params.requested_schema.get("properties", {})
        return types.ElicitResult(action="accept", content={k: v for k, v in ELICITED.items() if k in wanted})

    async def list_roots(self, context: Any) -> types.ListRootsResult:
        self.roots_asked += 1
        return types.ListRootsResult(roots=[types.Root(uri=self.root, name="sfg-share")])

    def callbacks(self) -> dict[str, Any]:
        return {
            "sampling_callback": self.sampling,
            "elicitation_callback": self.elicitation,
            "list_roots_callback": self.list_roots,
        }


def nexus_over_stdio(home: Path) -> StdioServerParameters:
    env = {**os.environ, "NEXUS_HOME": str(home), "NEXUS_DB_SYNC": "normal"}
    return StdioServerParameters(command=sys.executable, args=["-m", "nexus_agent", "serve"], env=env)


@asynccontextmanager
async def nexus_client(
    home: Path, *, mode: str = "legacy", answers: AnsweringClient | None = None
) -> AsyncIterator[Client]:
    """A client of a fresh `nexus serve` subprocess; ``mode='legacy'`` speaks 2025-11-25, ``'auto'`` 2026-07-28."""
    callbacks = answers.callbacks() if answers is not None else {}
    async with Client(nexus_over_stdio(home), mode=mode, **callbacks) as client:
        yield client


async def register_stdio_satellite(client: Client, slug: str, command: list[str]) -> None:
    """Register (as the owner at this machine) and activate a stdio satellite through Nexus's own tool."""
    record = {"slug": slug, "name": slug.title(), "status": "active", "endpoints": {"mcp_command": command}}
    result = await client.call_tool("registry_register", {"record": record, "reason": "interop test"})
    assert not result.is_error, result.content


async def tools_of(client: Client, slug: str) -> dict[str, types.Tool]:
    """The satellite's tools as Nexus lists them, by the satellite's own names."""
    prefix = f"{slug}__"
    listed = (await client.list_tools()).tools
    return {t.name.removeprefix(prefix): t for t in listed if t.name.startswith(prefix)}


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))
