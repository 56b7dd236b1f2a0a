"""CLI commands of the flows: instructions for satellites, registrations, the event outbox."""

from __future__ import annotations

import argparse
import json
from typing import Any

from nexus_agent.cli_output import EXIT_OK, call_tool, emit, format_table, read_text_file
from nexus_agent.services import NexusServices
from nexus_agent.wire.errors import InvalidInput

__all__ = ["events_command", "instructions_command", "registrations_command"]


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


async def instructions_command(args: argparse.Namespace, services: NexusServices) -> int:
    if args.action == "create":
        raw = read_text_file(args.inputs[1:]) if args.inputs.startswith("@") else args.inputs
        try:
            inputs = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"--inputs is not JSON: {exc.msg} at line {exc.lineno}", hint='e.g. {"year": 2026}'
            ) from None
        made = await call_tool(
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
        emit(args, made, human)
    elif args.action == "list":
        page = await call_tool(
            services,
            "instruction_list",
            {"target": args.target, "status": args.status, "limit": args.limit, "offset": args.offset},
        )
        emit(args, page, _instruction_rows(page.items))
    elif args.action == "show":
        ins = await call_tool(services, "instruction_get", {"id": args.id})
        lines = [f"{ins.id}  {ins.target}  {ins.action}  {ins.status.value}", ins.description, "history:"]
        lines += [f"  {h.at:%Y-%m-%d %H:%M} -> {h.to_status.value} by {h.by}: {h.reason}" for h in ins.history]
        emit(args, ins, "\n".join(line for line in lines if line))
    elif args.action == "refresh":
        done = await call_tool(services, "instructions_refresh", {})
        human = f"redelivered {len(done.redelivered)}, reports read {len(done.reports)}, expired {len(done.expired)}"
        emit(args, done, human)
    return EXIT_OK


async def registrations_command(args: argparse.Namespace, services: NexusServices) -> int:
    if args.action == "process":
        done = await call_tool(services, "registrations_process", {})
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
        emit(args, done, format_table(rows, ["issue", "slug", "outcome", "problems", "flags", "message"]))
    elif args.action == "approve":
        out = await call_tool(services, "registration_approve", {"issue_number": args.issue, "reason": args.reason})
        emit(args, out, f"issue #{args.issue}: {out.outcome}")
    elif args.action == "reject":
        out = await call_tool(
            services, "registration_request_changes", {"issue_number": args.issue, "problems": args.problem}
        )
        emit(args, out, f"issue #{args.issue}: {out.outcome}")
    return EXIT_OK


async def events_command(args: argparse.Namespace, services: NexusServices) -> int:
    outbox = services.outbox
    assert outbox is not None
    if args.action == "list":
        page = await outbox.list(args.status, args.limit, args.offset, target=args.target)
        emit(args, page, page.to_text())
    elif args.action == "show":
        entry = await outbox.get(args.key)
        emit(args, entry, entry.to_text())
    elif args.action == "replay":
        if not args.ids and not args.all_dead:
            raise InvalidInput("say which rows to replay", hint="Give row ids, or --all-dead.")
        result = await outbox.replay(args.ids, all_dead=args.all_dead)
        emit(args, result, result.to_text())
    elif args.action == "stats":
        stats = await outbox.stats()
        emit(args, stats, stats.to_text())
    elif args.action == "dispatch":
        from nexus_agent.events import Dispatcher, WebhookSecrets
        from nexus_agent.outbound import OutboundPolicy, httpx_client

        secrets = WebhookSecrets(services.secrets, await services.registry.all())
        async with httpx_client(OutboundPolicy.from_settings(services.settings)) as http:
            report = await Dispatcher(outbox, secrets, http).drain()
        emit(args, report, report.to_text())
    return EXIT_OK
