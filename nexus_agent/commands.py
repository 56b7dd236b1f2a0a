"""What each ``nexus`` subcommand does. Reads and writes go through the same
tool functions the MCP server exposes, so the CLI and MCP cannot disagree."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio

from nexus_agent.cli_output import EXIT_OK, EXIT_UNHEALTHY, call_tool, emit, format_table
from nexus_agent.config import Settings
from nexus_agent.flow_commands import events_command, instructions_command, registrations_command
from nexus_agent.registry_commands import registry_command
from nexus_agent.runtime import PlannerFactory
from nexus_agent.services import NexusServices, open_services
from nexus_agent.tool_commands import tools_command
from nexus_agent.wire.errors import InvalidInput, NexusError
from nexus_agent.wire.secret_env import SatelliteSecrets

__all__ = ["dispatch"]


# -- memory -----------------------------------------------------------------
async def _memory(args: argparse.Namespace, services: NexusServices) -> int:
    if args.action == "search":
        page = await call_tool(
            services,
            "memory_search",
            {
                "query": args.query,
                "kinds": args.kind or [],
                "app": args.app,
                "tag": args.tag,
                "limit": args.limit,
                "offset": args.offset,
            },
        )
        rows = [
            {
                "kind": h.kind,
                "id": h.id,
                "when": f"{h.created_at:%Y-%m-%d %H:%M}",
                "title": h.title,
                "snippet": h.snippet,
                "apps": h.apps,
            }
            for h in page.hits
        ]
        human = format_table(rows, ["kind", "id", "when", "title", "snippet", "apps"])
        if page.next_offset is not None:
            human += f"\nmore: --offset {page.next_offset}"
        emit(args, page, human)
    elif args.action == "remember":
        note = await call_tool(services, "memory_remember", {"text": args.text, "tags": args.tag, "apps": args.app})
        emit(args, note, f"remembered note {note.id}")
    elif args.action == "recent":
        recent = await call_tool(services, "memory_recent_activity", {})
        rows = [
            {
                "kind": i.kind,
                "id": i.id,
                "when": f"{i.created_at:%Y-%m-%d %H:%M}",
                "title": i.title,
                "summary": i.summary,
            }
            for i in recent.items
        ]
        emit(args, recent, format_table(rows, ["kind", "id", "when", "title", "summary"]))
    return EXIT_OK


async def _gaps(args: argparse.Namespace, services: NexusServices) -> int:
    report = await call_tool(services, "gaps_analyse", {"capabilities": args.capabilities})
    emit(args, report, report.to_text())
    return EXIT_OK


async def _doctor(args: argparse.Namespace, settings: Settings, secrets: Mapping[str, str]) -> int:
    from nexus_agent.doctor import run_doctor

    report = await run_doctor(settings, secrets)
    emit(args, report, report.to_text())
    return EXIT_OK if report.healthy else EXIT_UNHEALTHY


def _serve(args: argparse.Namespace, settings: Settings, secrets: Mapping[str, str]) -> int:
    if args.http:
        from nexus_agent.serve import serve_http

        host, _, port = args.http.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise InvalidInput(
                f"--http expects HOST:PORT with a port from 1 to 65535, got {args.http!r}",
                hint="e.g. --http 127.0.0.1:8765",
            )
        serve_http(settings.model_copy(update={"http_host": host.strip("[]"), "http_port": int(port)}), secrets=secrets)
    else:
        from nexus_agent.serve import serve_stdio

        anyio.run(serve_stdio, settings, secrets)
    return EXIT_OK


def _satellite(args: argparse.Namespace) -> int:
    from nexus_agent.scaffold import find_nexus_source, render_satellite

    dest = render_satellite(
        args.slug, Path(args.dir) if args.dir else Path.cwd() / args.slug, nexus_source=find_nexus_source()
    )
    print(f"created {dest}\nnext: cd {dest} and follow its README (install and serve, or run its tests)")
    return EXIT_OK


async def _ask(args: argparse.Namespace, services: NexusServices) -> int:
    from nexus_agent.planner import run_ask
    from nexus_agent.planner.models import Budget
    from nexus_agent.planner.tools import runtime_planner

    return await run_ask(
        runtime_planner(services),  # the runtime's: dispatch builds it for `ask`
        args.instruction,
        dry_run=args.dry_run,
        budget=Budget(max_steps=args.max_steps, max_seconds=args.max_seconds),
        as_json=args.json,
        actor=services.settings.actor,
    )


async def _plan(args: argparse.Namespace, services: NexusServices) -> int:
    from nexus_agent.planner import format_plan

    arguments: dict[str, Any] = {"plan_id": args.plan_id}
    if args.action == "approve":
        arguments["note"] = args.reason
        if args.calls:
            arguments["call_ids"] = args.calls
    elif args.action == "reject":
        arguments["reason"] = args.reason
    tool = {"show": "plan_get"}.get(args.action, f"plan_{args.action}")
    result = await call_tool(services, tool, arguments)
    emit(args, result, format_plan(result))
    return EXIT_OK


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from nexus_agent.demo import DEMO_INSTRUCTION, DemoOptions, run_demo

    if args.approve is not None and args.instruction:
        raise InvalidInput("give an instruction or --approve PLAN_ID, not both", hint="--approve carries on a plan.")
    serve = None
    if args.serve:
        host, _, port = args.serve.rpartition(":")
        if not host or not port.isdigit():
            raise InvalidInput(f"--serve expects HOST:PORT, got {args.serve!r}", hint="e.g. --serve 127.0.0.1:8765")
        serve = (host.strip("[]"), int(port))
    options = DemoOptions(
        instruction=args.instruction or DEMO_INSTRUCTION,
        home=Path(args.home) if args.home else None,
        db_path=Path(args.db_path) if args.db_path else None,
        yes=args.yes,
        approve=args.approve,
        serve=serve,
    )
    if settings.log_level == "INFO":  # the demo says what happens; INFO logs of every request would bury it
        logging.getLogger().setLevel(logging.WARNING)
    return run_demo(settings, options)


def dispatch(args: argparse.Namespace, settings: Settings, secrets: Mapping[str, str] | None = None) -> int:
    """Run one command. ``secrets``: the satellite variables the CLI resolved (never the whole environment)."""
    secrets = secrets if secrets is not None else SatelliteSecrets()
    if args.command == "satellite":
        return _satellite(args)
    if args.command == "demo":
        return _demo(args, settings)
    if args.command == "serve":
        return _serve(args, settings, secrets)
    if args.command == "doctor":
        return anyio.run(_doctor, args, settings, secrets)
    if args.command == "keys":
        from nexus_agent.key_commands import run_keys_command

        return run_keys_command(args, settings)
    if args.command == "db":
        from nexus_agent.db_commands import run_db_command

        return run_db_command(args, settings)
    if args.command in {"metrics", "backup", "recover"}:
        from nexus_agent.ops.commands import run_ops_command

        return run_ops_command(args, settings, secrets=secrets)

    handlers = {
        "registry": registry_command,
        "memory": _memory,
        "gaps": _gaps,
        "ask": _ask,
        "plan": _plan,
        "instructions": instructions_command,
        "registrations": registrations_command,
        "events": events_command,
        "tools": tools_command,
    }
    # Only the planner reaches satellites from the CLI; the other commands need just the database.
    wants_planner = args.command in {"ask", "plan", "tools"}

    async def run() -> int:
        planner: PlannerFactory | None = None
        if wants_planner:  # the planner loads only for the commands that use it
            from nexus_agent.planner.build import planner_from_settings

            planner = planner_from_settings
        async with open_services(settings, secrets=secrets, satellites=wants_planner, planner=planner) as services:
            return await handlers[args.command](args, services)

    try:
        return anyio.run(run)
    except NexusError:
        raise
