"""``nexus tools search "TEXT"``: which tools Nexus would rank for an instruction, and why.

It asks the planner's own catalogue and selector (the same BM25F ranking ``nexus ask``
uses, over Nexus's tools, every MCP satellite's and every legacy app's message types), so
the owner can see what a plain question would reach, and a planner change can be checked.
"""

from __future__ import annotations

import argparse
from typing import Any

from pydantic import BaseModel, Field

from nexus_agent.auth.principal import LOCAL_OWNER
from nexus_agent.cli_output import EXIT_OK, emit, format_table
from nexus_agent.services import NexusServices
from nexus_agent.wire.errors import InvalidInput

__all__ = ["RankedToolRow", "ToolSearch", "add_tools", "search_tools", "tools_command"]

MAX_LIMIT = 100


class RankedToolRow(BaseModel):
    rank: int
    tool: str
    score: float
    app: str = Field(description="'nexus' for Nexus's own tools, else the slug of the app that runs it.")
    app_status: str | None = None
    read_only: bool
    needs_approval: bool = Field(description="Whether the planner would ask the owner before calling it.")
    matched: list[str] = Field(default_factory=list, description="Instruction terms the tool matched.")
    description: str = ""


class ToolSearch(BaseModel):
    query: str
    catalogue_size: int = Field(description="Tools Nexus can reach now.")
    tools: list[RankedToolRow] = Field(default_factory=list)
    unavailable: dict[str, str] = Field(
        default_factory=dict, description="Apps whose tools ranked but cannot be called now: slug -> why."
    )
    not_listed: dict[str, str] = Field(
        default_factory=dict, description="Satellites whose tools could not be listed: slug -> why."
    )


def add_tools(sub: Any, common: argparse.ArgumentParser) -> None:
    """``nexus tools search TEXT [--limit N] [--json]`` (a builder for ``cli_parser.COMMANDS``)."""
    group = sub.add_parser("tools", help="the tools Nexus can reach (its own, satellites', legacy apps')")
    group.set_defaults(needs_action=True)
    actions = group.add_subparsers(dest="action", metavar="ACTION")
    s = actions.add_parser("search", parents=[common], help="which tools Nexus would rank for an instruction")
    s.add_argument("text", help='an instruction or question, e.g. "how much EXT-6063 is in the north yard"')
    s.add_argument("--limit", type=int, default=10, help=f"tools to show (1..{MAX_LIMIT}, default 10)")


async def search_tools(services: NexusServices, text: str, limit: int = 10) -> ToolSearch:
    """The planner's ranking of every reachable tool for ``text`` (top ``limit``)."""
    from nexus_agent.planner.build import planner_from_settings
    from nexus_agent.planner.context import load_catalogue, offer_tools
    from nexus_agent.planner.loop import Planner

    if not text.strip():
        raise InvalidInput("give some text to rank the tools for", hint='e.g. nexus tools search "stock levels"')
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"--limit must be 1..{MAX_LIMIT}, not {limit}", hint="e.g. --limit 10")
    # The runtime's planner (the CLI builds one for `tools`); else one over these services, for this ranking only.
    planner = services.planner if isinstance(services.planner, Planner) else planner_from_settings(services)
    catalogue, _ = await load_catalogue(planner.provider, services.registry, LOCAL_OWNER)
    offer = offer_tools(planner.selector, catalogue, planner.provider, text, limit)
    rows = [
        RankedToolRow(
            rank=r.rank,
            tool=r.descriptor.name,
            score=round(r.score, 3),
            app=r.descriptor.source,
            app_status=r.descriptor.app_status,
            read_only=r.descriptor.read_only,
            needs_approval=planner.policy.needs_approval(r.descriptor),
            matched=sorted(r.matched),
            description=" ".join(r.descriptor.description.split())[:300],
        )
        for r in offer.tools
    ]
    not_listed = (await services.pool.list_tools()).errors if services.pool is not None else {}
    return ToolSearch(
        query=text,
        catalogue_size=len(catalogue),
        tools=rows,
        unavailable=offer.unavailable,
        not_listed=dict(not_listed),
    )


def _human(result: ToolSearch) -> str:
    rows = [
        {
            "#": r.rank,
            "score": f"{r.score:.2f}",
            "tool": r.tool,
            "app": r.app + (f" ({r.app_status})" if r.app_status and r.app != "nexus" else ""),
            "kind": "read-only" if r.read_only else ("side effect, asks first" if r.needs_approval else "side effect"),
            "matched": ", ".join(r.matched),
        }
        for r in result.tools
    ]
    lines = [f'Tools Nexus would rank for "{result.query}" (of {result.catalogue_size} it can reach):']
    lines.append(format_table(rows, ["#", "score", "tool", "app", "kind", "matched"]) if rows else "  (none matched)")
    lines += [f"not offered now: {slug}: {why}" for slug, why in sorted(result.unavailable.items())]
    lines += [f"tools not listed: {slug}: {why}" for slug, why in sorted(result.not_listed.items())]
    return "\n".join(lines)


async def tools_command(args: argparse.Namespace, services: NexusServices) -> int:
    result = await search_tools(services, args.text, args.limit)
    emit(args, result, _human(result))
    return EXIT_OK
