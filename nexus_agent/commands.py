"""What each ``nexus`` subcommand does. Reads and writes go through the same
tool functions the MCP server exposes, so the CLI and MCP cannot disagree."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import anyio
from pydantic import BaseModel

from nexus_agent.config import Settings
from nexus_agent.errors import InvalidInput, NexusError
from nexus_agent.registry import load_app_record
from nexus_agent.services import NexusServices, open_services
from tools import tool_by_name
from tools.base import ToolCall

__all__ = ["dispatch", "format_table"]

EXIT_OK, EXIT_FAILED, EXIT_UNHEALTHY = 0, 1, 3


def format_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return "(none)"
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = "  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))
    out = [line.rstrip(), "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(out)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."


def _emit(args: argparse.Namespace, result: BaseModel | dict[str, Any], human: str) -> None:
    if args.json:
        data = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
        print(json.dumps(data, indent=2, default=str))
    else:
        print(human)


async def _tool(services: NexusServices, name: str, arguments: dict[str, Any]) -> Any:
    call = ToolCall(services=services, actor=services.settings.actor)
    return await tool_by_name(name).invoke(call, arguments, max_bytes=services.settings.max_input_bytes)


def _read_file(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise InvalidInput(f"file not found: {path}", hint="Check the path and try again.") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not UTF-8 text", hint="Save the registration as UTF-8 JSON.") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from exc


# -- registry ---------------------------------------------------------------
async def _registry(args: argparse.Namespace, services: NexusServices) -> int:
    if args.action == "list":
        page = await _tool(
            services,
            "registry_list",
            {
                "status": args.status or [],
                "category": args.category,
                "capability": args.capability,
                "text": args.text,
                "limit": args.limit,
                "offset": args.offset,
            },
        )
        rows = [
            {
                "slug": a.slug,
                "name": a.name,
                "status": a.status.value,
                "category": a.category,
                "capabilities": a.capability_names(),
            }
            for a in page.items
        ]
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(page.status_counts.items()))
        human = format_table(rows, ["slug", "name", "status", "category", "capabilities"])
        human += f"\n\n{page.total} matching app(s); registry by status: {counts or 'empty'}"
        if page.next_offset is not None:
            human += f"\nmore: --offset {page.next_offset}"
        _emit(args, page, human)
    elif args.action == "show":
        detail = await _tool(services, "registry_get", {"slug": args.slug})
        app = detail.app
        lines = [
            f"{app.name} ({app.slug})  status: {app.status.value}  version: {app.version}  category: {app.category}",
            app.description,
            "capabilities: " + (", ".join(app.capability_names()) or "(none)"),
            "workflows: " + (", ".join(w.name for w in app.workflows) or "(none)"),
            "integrations: " + (", ".join(app.integrations) or "(none)"),
            "endpoints: "
            + (", ".join(f"{k}={v}" for k, v in app.endpoints.model_dump(mode="json").items() if v) or "(none)"),
            "history:",
        ]
        lines += [
            f"  {c.changed_at:%Y-%m-%d %H:%M} {c.old_status or '-'} -> {c.new_status} by {c.changed_by}: {c.reason}"
            for c in detail.history
        ] or ["  (none)"]
        _emit(args, detail, "\n".join(line for line in lines if line is not None))
    elif args.action == "register":
        record = load_app_record(_read_file(args.file), args.file)
        result = await _tool(
            services, "registry_register", {"record": record.model_dump(mode="json"), "reason": args.reason}
        )
        verb = {"created": "registered", "updated": "updated", "unchanged": "unchanged:"}[result.action]
        human = f"{verb} {result.app.slug} ({result.app.status.value})"
        if result.action == "updated":
            human += "; changed: " + ", ".join(result.changed_fields)
        human += "".join(f"\nnote: {n}" for n in result.notes)
        _emit(args, result, human)
    elif args.action == "set-status":
        change = await _tool(
            services, "registry_set_status", {"slug": args.slug, "status": args.status, "reason": args.reason}
        )
        _emit(args, change, f"{change.slug}: {change.old_status or '-'} -> {change.new_status}")
    elif args.action == "import":
        from nexus_agent.portfolio import import_portfolio

        report = await import_portfolio(
            Path(args.path), services.registry, services.settings.actor, dry_run=args.dry_run
        )
        human = report.to_text()
        if not args.dry_run and services.truth is not None:
            # The registry in SQLite and the registry in the truth source stay in sync.
            from nexus_agent.truth import reconcile

            synced = await reconcile(services.registry, services.truth, direction="push", actor=services.settings.actor)
            human += f"\ntruth source: {len(synced.pushed)} app file(s) written"
        _emit(args, report, human)
        return EXIT_FAILED if any(a.outcome == "failed" for a in report.apps) else EXIT_OK
    elif args.action == "sync":
        from nexus_agent.truth import reconcile

        if services.truth is None:
            raise InvalidInput("no truth source is configured", hint="Set NEXUS_TRUTH=local or github.")
        sync_report = await reconcile(
            services.registry, services.truth, direction=args.direction, actor=services.settings.actor
        )
        _emit(args, sync_report, sync_report.summary())
        unresolved = sync_report.direction == "report" and (
            sync_report.only_in_registry
            or sync_report.only_in_truth
            or sync_report.differing
            or sync_report.invalid_in_truth
        )
        return EXIT_FAILED if unresolved else EXIT_OK
    elif args.action == "history":
        detail = await _tool(services, "registry_get", {"slug": args.slug})
        rows = [c.model_dump(mode="json") for c in detail.history]
        _emit(
            args,
            {"history": rows},
            format_table(rows, ["changed_at", "old_status", "new_status", "changed_by", "reason"]),
        )
    return EXIT_OK


# -- memory -----------------------------------------------------------------
async def _memory(args: argparse.Namespace, services: NexusServices) -> int:
    if args.action == "search":
        page = await _tool(
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
        _emit(args, page, human)
    elif args.action == "remember":
        note = await _tool(services, "memory_remember", {"text": args.text, "tags": args.tag, "apps": args.app})
        _emit(args, note, f"remembered note {note.id}")
    elif args.action == "recent":
        recent = await _tool(services, "memory_recent_activity", {})
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
        _emit(args, recent, format_table(rows, ["kind", "id", "when", "title", "summary"]))
    return EXIT_OK


async def _gaps(args: argparse.Namespace, services: NexusServices) -> int:
    report = await _tool(services, "gaps_analyse", {"capabilities": args.capabilities})
    _emit(args, report, report.to_text())
    return EXIT_OK


async def _doctor(args: argparse.Namespace, settings: Settings) -> int:
    from nexus_agent.doctor import run_doctor

    report = await run_doctor(settings)
    _emit(args, report, report.to_text())
    return EXIT_OK if report.healthy else EXIT_UNHEALTHY


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    if args.http:
        from nexus_agent.serve import serve_http

        host, _, port = args.http.rpartition(":")
        if not host or not port.isdigit():
            raise InvalidInput(f"--http expects HOST:PORT, got {args.http!r}", hint="e.g. --http 127.0.0.1:8765")
        serve_http(
            settings.model_copy(update={"http_host": host.strip("[]"), "http_port": int(port)}), secrets=os.environ
        )
    else:
        from nexus_agent.serve import serve_stdio

        anyio.run(serve_stdio, settings, dict(os.environ))
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
    from nexus_agent.planner.build import attach_planner
    from tools.planner_tools import Budget

    planner = attach_planner(services)
    return await run_ask(
        planner,
        args.instruction,
        dry_run=args.dry_run,
        budget=Budget(max_steps=args.max_steps, max_seconds=args.max_seconds),
        as_json=args.json,
        actor=services.settings.actor,
    )


async def _plan(args: argparse.Namespace, services: NexusServices) -> int:
    from nexus_agent.planner import format_plan
    from nexus_agent.planner.build import attach_planner

    attach_planner(services)
    arguments: dict[str, Any] = {"plan_id": args.plan_id}
    if args.action == "approve":
        arguments["note"] = args.reason
    elif args.action == "reject":
        arguments["reason"] = args.reason
    tool = {"show": "plan_get"}.get(args.action, f"plan_{args.action}")
    result = await _tool(services, tool, arguments)
    _emit(args, result, format_plan(result))
    return EXIT_OK


def _instruction_rows(items: list[Any]) -> str:
    rows = [
        {
            "id": i.id,
            "target": i.target,
            "action": i.action,
            "status": i.status.value,
            "deadline": f"{i.deadline:%Y-%m-%d %H:%M}" if i.deadline else "",
            "updated": f"{i.updated_at:%Y-%m-%d %H:%M}",
        }
        for i in items
    ]
    return format_table(rows, ["id", "target", "action", "status", "deadline", "updated"])


async def _instructions(args: argparse.Namespace, services: NexusServices) -> int:
    if args.action == "create":
        raw = _read_file(args.inputs[1:]) if args.inputs.startswith("@") else args.inputs
        try:
            inputs = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"--inputs is not JSON: {exc.msg} at line {exc.lineno}", hint='e.g. {"year": 2026}'
            ) from None
        made = await _tool(
            services,
            "instruction_create",
            {
                "targets": args.target,
                "action": args.what,
                "description": args.description,
                "inputs": inputs,
                "due_in_hours": args.due_in_hours,
                "open_issue": args.open_issue,
            },
        )
        human = _instruction_rows(made.instructions) + (
            f"\n\n{made.delivered} of {len(made.instructions)} queued for delivery as signed webhooks "
            "(sent by the running `nexus serve`, or now with `nexus events dispatch`)"
        )
        _emit(args, made, human)
    elif args.action == "list":
        page = await _tool(
            services,
            "instruction_list",
            {"target": args.target, "status": args.status, "limit": args.limit, "offset": args.offset},
        )
        _emit(args, page, _instruction_rows(page.items))
    elif args.action == "show":
        ins = await _tool(services, "instruction_get", {"id": args.id})
        lines = [f"{ins.id}  {ins.target}  {ins.action}  {ins.status.value}", ins.description, "history:"]
        lines += [f"  {h.at:%Y-%m-%d %H:%M} -> {h.to_status.value} by {h.by}: {h.reason}" for h in ins.history]
        _emit(args, ins, "\n".join(line for line in lines if line))
    elif args.action == "refresh":
        done = await _tool(services, "instructions_refresh", {})
        human = f"redelivered {len(done.redelivered)}, reports read {len(done.reports)}, expired {len(done.expired)}"
        _emit(args, done, human)
    return EXIT_OK


async def _registrations(args: argparse.Namespace, services: NexusServices) -> int:
    if args.action == "process":
        done = await _tool(services, "registrations_process", {})
        rows = [
            {
                "issue": o.issue_number,
                "slug": o.slug,
                "outcome": o.outcome,
                "problems": len(o.problems),
                "flags": len(o.flags),
                "message": o.message,
            }
            for o in done.outcomes
        ]
        _emit(args, done, format_table(rows, ["issue", "slug", "outcome", "problems", "flags", "message"]))
    elif args.action == "approve":
        out = await _tool(services, "registration_approve", {"issue_number": args.issue, "reason": args.reason})
        _emit(args, out, f"issue #{args.issue}: {out.outcome}")
    elif args.action == "reject":
        out = await _tool(
            services, "registration_request_changes", {"issue_number": args.issue, "problems": args.problem}
        )
        _emit(args, out, f"issue #{args.issue}: {out.outcome}")
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


async def _events(args: argparse.Namespace, services: NexusServices) -> int:
    outbox = services.outbox
    assert outbox is not None
    if args.action == "list":
        page = await outbox.list(args.status, args.limit, args.offset, target=args.target)
        _emit(args, page, page.to_text())
    elif args.action == "show":
        entry = await outbox.get(args.key)
        _emit(args, entry, entry.to_text())
    elif args.action == "replay":
        if not args.ids and not args.all_dead:
            raise InvalidInput("say which rows to replay", hint="Give row ids, or --all-dead.")
        result = await outbox.replay(args.ids, all_dead=args.all_dead)
        _emit(args, result, result.to_text())
    elif args.action == "stats":
        stats = await outbox.stats()
        _emit(args, stats, stats.to_text())
    elif args.action == "dispatch":
        import httpx

        from nexus_agent.events import Dispatcher, WebhookSecrets

        secrets = WebhookSecrets(dict(os.environ), await services.registry.all())
        async with httpx.AsyncClient(follow_redirects=False) as http:
            report = await Dispatcher(outbox, secrets, http).drain()
        _emit(args, report, report.to_text())
    return EXIT_OK


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "satellite":
        return _satellite(args)
    if args.command == "demo":
        return _demo(args, settings)
    if args.command == "serve":
        return _serve(args, settings)
    if args.command == "doctor":
        return anyio.run(_doctor, args, settings)

    handlers = {
        "registry": _registry,
        "memory": _memory,
        "gaps": _gaps,
        "ask": _ask,
        "plan": _plan,
        "instructions": _instructions,
        "registrations": _registrations,
        "events": _events,
    }
    # Only the planner reaches satellites from the CLI; the other commands need just the database.
    wants_satellites = args.command in {"ask", "plan"}

    async def run() -> int:
        async with open_services(settings, secrets=os.environ, satellites=wants_satellites) as services:
            return await handlers[args.command](args, services)

    try:
        return anyio.run(run)
    except NexusError:
        raise
