"""CLI commands of the registry: ``nexus registry list|show|register|set-status|import|sync|history``.

One function per action, each calling the same tool functions the MCP server exposes.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from pathlib import Path

from nexus_agent.cli_output import EXIT_FAILED, EXIT_OK, call_tool, emit, format_table, read_text_file
from nexus_agent.registry import load_app_record
from nexus_agent.services import NexusServices
from nexus_agent.wire.errors import InvalidInput

__all__ = ["registry_command"]

Action = Callable[[argparse.Namespace, NexusServices], Awaitable[int]]


async def registry_command(args: argparse.Namespace, services: NexusServices) -> int:
    return await _ACTIONS[args.action](args, services)


async def _list(args: argparse.Namespace, services: NexusServices) -> int:
    query = {
        "status": args.status or [],
        "category": args.category,
        "capability": args.capability,
        "text": args.text,
        "limit": args.limit,
        "offset": args.offset,
        "detail": "full",  # --json prints whole records, as it always did (in process: no MCP page to trim)
    }
    page = await call_tool(services, "registry_list", query)
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
    emit(args, page, human)
    return EXIT_OK


async def _show(args: argparse.Namespace, services: NexusServices) -> int:
    detail = await call_tool(services, "registry_get", {"slug": args.slug})
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
    emit(args, detail, "\n".join(line for line in lines if line is not None))
    return EXIT_OK


async def _register(args: argparse.Namespace, services: NexusServices) -> int:
    record = load_app_record(read_text_file(args.file), args.file)
    result = await call_tool(
        services, "registry_register", {"record": record.model_dump(mode="json"), "reason": args.reason}
    )
    verb = {"created": "registered", "updated": "updated", "unchanged": "unchanged:"}[result.action]
    human = f"{verb} {result.app.slug} ({result.app.status.value})"
    if result.action == "updated":
        human += "; changed: " + ", ".join(result.changed_fields)
    human += "".join(f"\nnote: {n}" for n in result.notes)
    emit(args, result, human)
    return EXIT_OK


async def _set_status(args: argparse.Namespace, services: NexusServices) -> int:
    change = await call_tool(
        services, "registry_set_status", {"slug": args.slug, "status": args.status, "reason": args.reason}
    )
    emit(args, change, f"{change.slug}: {change.old_status or '-'} -> {change.new_status}")
    return EXIT_OK


async def _import(args: argparse.Namespace, services: NexusServices) -> int:
    from nexus_agent.portfolio import import_portfolio

    # The registry is written all at once (or not at all), then pushed to the truth source so both stay in
    # step; a truth-source failure is part of the report, which is printed whatever happened.
    report = await import_portfolio(
        Path(args.path), services.registry, services.settings.actor, dry_run=args.dry_run, truth=services.truth
    )
    emit(args, report, report.to_text())
    return EXIT_OK if report.ok else EXIT_FAILED


async def _sync(args: argparse.Namespace, services: NexusServices) -> int:
    from nexus_agent.truth import reconcile

    if services.truth is None:
        raise InvalidInput("no truth source is configured", hint="Set NEXUS_TRUTH=local or github.")
    report = await reconcile(services.registry, services.truth, direction=args.direction, actor=services.settings.actor)
    truth = services.settings.truth
    import_from = str(truth.path) if truth.kind == "local" else f"<a clone of {truth.github_repo or 'the repository'}>"
    emit(args, report, report.summary(import_from))
    unresolved = report.direction == "report" and not report.in_sync
    return EXIT_FAILED if unresolved else EXIT_OK


async def _history(args: argparse.Namespace, services: NexusServices) -> int:
    detail = await call_tool(services, "registry_get", {"slug": args.slug})
    rows = [c.model_dump(mode="json") for c in detail.history]
    table = format_table(rows, ["changed_at", "old_status", "new_status", "changed_by", "reason"])
    emit(args, {"history": rows}, table)
    return EXIT_OK


_ACTIONS: dict[str, Action] = {
    "list": _list,
    "show": _show,
    "register": _register,
    "set-status": _set_status,
    "import": _import,
    "sync": _sync,
    "history": _history,
}
