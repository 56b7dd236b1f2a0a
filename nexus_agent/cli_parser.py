"""The ``nexus`` argument parser: one builder function per command (group).

To add a command, write ``_add_<name>(sub, common)`` below and list it in
:data:`COMMANDS`. A command with sub-actions (``nexus registry list``) opens its
sub-parsers with :func:`_group`, so ``nexus registry`` alone prints the help.
``common`` carries the options every command that opens Nexus takes
(``--home``, ``--db``, ``--json``): pass it as ``parents=[common]``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeAlias

from nexus_agent import __version__
from nexus_agent.db_commands import add_db
from nexus_agent.key_commands import add_keys
from nexus_agent.ops.cli_args import add_backup, add_metrics, add_recover
from nexus_agent.tool_commands import add_tools

__all__ = ["COMMANDS", "build_parser"]

Parser: TypeAlias = argparse.ArgumentParser
Sub: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def build_parser() -> Parser:
    common = Parser(add_help=False)
    common.add_argument("--home", help="Nexus home folder (default: $NEXUS_HOME or ~/.nexus)")
    common.add_argument("--db", dest="db_path", help="SQLite database path (default: $NEXUS_HOME/nexus.db)")
    common.add_argument("--json", action="store_true", help="print machine-readable JSON")

    p = Parser(prog="nexus", description="Nexus: conductor of SFG Aluminium's satellite apps.")
    p.add_argument("--version", action="version", version=f"nexus {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub, common)
    return p


def _group(sub: Sub, name: str, text: str) -> Sub:
    """A command whose sub-actions land in ``args.action`` (``None`` when missing: the CLI prints help)."""
    group = sub.add_parser(name, help=text)
    group.set_defaults(needs_action=True)
    return group.add_subparsers(dest="action", metavar="ACTION")


def _add_serve(sub: Sub, common: Parser) -> None:
    s = sub.add_parser("serve", parents=[common], help="run the MCP server (stdio by default)")
    s.add_argument("--http", metavar="HOST:PORT", help="serve streamable HTTP at /mcp instead of stdio")
    s.add_argument("--token-file", help="file with bearer tokens, one per line (or $NEXUS_TOKEN_FILE)")
    s.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS (TLS 1.3 only) with this certificate chain (PEM)")
    s.add_argument("--tls-key", metavar="FILE", help="the private key (PEM) of --tls-cert")


def _add_doctor(sub: Sub, common: Parser) -> None:
    sub.add_parser("doctor", parents=[common], help="show what Nexus will use and whether each part is healthy")


def _add_registry(sub: Sub, common: Parser) -> None:
    reg = _group(sub, "registry", "the app registry")
    rl = reg.add_parser("list", parents=[common], help="list registered apps")
    rl.add_argument("--status", action="append", help="filter by status (repeatable)")
    rl.add_argument("--category")
    rl.add_argument("--capability")
    rl.add_argument("--text", help="full-text filter over names, descriptions and capabilities")
    rl.add_argument("--limit", type=int, default=100)
    rl.add_argument("--offset", type=int, default=0)
    rs = reg.add_parser("show", parents=[common], help="show one app")
    rs.add_argument("slug")
    rr = reg.add_parser("register", parents=[common], help="register or update an app from a JSON file")
    rr.add_argument("file", help="AppRecord JSON file ('-' for stdin)")
    rr.add_argument("--reason", default="")
    rst = reg.add_parser("set-status", parents=[common], help="change an app's status")
    rst.add_argument("slug")
    rst.add_argument("status")
    rst.add_argument("--reason", default="")
    ri = reg.add_parser("import", parents=[common], help="import a legacy portfolio laid out as apps/<slug>/...")
    ri.add_argument("path", help="folder holding apps/")
    ri.add_argument("--dry-run", action="store_true", help="report what would happen, change nothing")
    rsy = reg.add_parser("sync", parents=[common], help="reconcile the SQLite registry with the truth source")
    rsy.add_argument(
        "--direction",
        choices=["report", "push", "pull", "both"],
        default="report",
        help="report differences only (default), push SQLite -> truth, pull truth -> SQLite, or both (newer wins)",
    )
    rh = reg.add_parser("history", parents=[common], help="status history of one app")
    rh.add_argument("slug")


def _add_memory(sub: Sub, common: Parser) -> None:
    mem = _group(sub, "memory", "persistent memory")
    ms = mem.add_parser("search", parents=[common], help="full-text search over notes, decisions, messages, plans")
    ms.add_argument("query")
    ms.add_argument("--kind", action="append", help="note, decision, message or plan (repeatable)")
    ms.add_argument("--app")
    ms.add_argument("--tag")
    ms.add_argument("--limit", type=int, default=10)
    ms.add_argument("--offset", type=int, default=0)
    mr = mem.add_parser("remember", parents=[common], help="store a free note")
    mr.add_argument("text")
    mr.add_argument("--tag", action="append", default=[])
    mr.add_argument("--app", action="append", default=[])
    mem.add_parser("recent", parents=[common], help="recent activity")


def _add_ask(sub: Sub, common: Parser) -> None:
    ask = sub.add_parser("ask", parents=[common], help="have Nexus plan and carry out an instruction")
    ask.add_argument("instruction", help='e.g. "Chase every quote over £25k waiting more than a week"')
    ask.add_argument("--dry-run", action="store_true", help="show the plan and the calls it would make; run nothing")
    ask.add_argument("--max-steps", type=int, default=8, help="model turns at most (default 8)")
    ask.add_argument("--max-seconds", type=float, default=300.0, help="wall time at most (default 300)")


def _add_plan(sub: Sub, common: Parser) -> None:
    plan = _group(sub, "plan", "plans made by `nexus ask` / instruct")
    for name, text in (
        ("show", "show a plan, its calls and its outcome"),
        ("approve", "approve a plan's pending calls and carry on"),
        ("reject", "reject a plan's pending calls"),
        ("resume", "resume an interrupted plan (completed side effects are not repeated)"),
    ):
        pp = plan.add_parser(name, parents=[common], help=text)
        pp.add_argument("plan_id", type=int)
        if name in {"approve", "reject"}:
            pp.add_argument("--reason", default="", help="kept with the decision in memory")
        if name == "approve":
            pp.add_argument(
                "--call",
                dest="calls",
                action="append",
                default=[],
                metavar="CALL_ID",
                help="approve only this call (repeatable); a call that may already have taken effect runs again "
                "only when named",
            )


def _add_instructions(sub: Sub, common: Parser) -> None:
    ins = _group(sub, "instructions", "instructions for satellites")
    ic = ins.add_parser("create", parents=[common], help="write instructions and notify the satellites")
    ic.add_argument("--target", action="append", required=True, help="app slug (repeatable)")
    ic.add_argument("--do", dest="what", required=True, help="short action name, e.g. export.customers")
    ic.add_argument("--description", default="", help="what to do, in plain words")
    ic.add_argument("--inputs", default="{}", help="JSON object of parameters, or @FILE")
    ic.add_argument("--due-in-hours", type=float, help="deadline, in hours from now")
    ic.add_argument("--open-issue", action="store_true", help="also open a tracking issue in the truth source")
    il = ins.add_parser("list", parents=[common], help="list instructions")
    il.add_argument("--target")
    il.add_argument("--status", action="append", default=[])
    il.add_argument("--limit", type=int, default=50)
    il.add_argument("--offset", type=int, default=0)
    ish = ins.add_parser("show", parents=[common], help="one instruction and its history")
    ish.add_argument("id")
    ins.add_parser("refresh", parents=[common], help="redeliver pending, collect reports, expire overdue")


def _add_events(sub: Sub, common: Parser) -> None:
    ev = _group(sub, "events", "the outbox of signed webhooks to satellites")
    el = ev.add_parser("list", parents=[common], help="outbox rows, newest first")
    el.add_argument("--status", choices=["pending", "in_flight", "delivered", "dead"])
    el.add_argument("--target")
    el.add_argument("--limit", type=int, default=50)
    el.add_argument("--offset", type=int, default=0)
    es = ev.add_parser("show", parents=[common], help="one row, by id or delivery id")
    es.add_argument("key")
    er = ev.add_parser("replay", parents=[common], help="queue dead rows again (same delivery id)")
    er.add_argument("ids", nargs="*", type=int)
    er.add_argument("--all-dead", action="store_true")
    ev.add_parser("stats", parents=[common], help="rows per status")
    ev.add_parser("dispatch", parents=[common], help="send everything due now (when no server is running)")


def _add_registrations(sub: Sub, common: Parser) -> None:
    regs = _group(sub, "registrations", "satellite registrations in the truth source")
    regs.add_parser("process", parents=[common], help="review pending registration issues")
    ra = regs.add_parser("approve", parents=[common], help="approve a registration issue")
    ra.add_argument("issue", type=int)
    ra.add_argument("--reason", default="")
    rj = regs.add_parser("reject", parents=[common], help="ask for changes on a registration issue")
    rj.add_argument("issue", type=int)
    rj.add_argument("--problem", action="append", required=True, help="what must change (repeatable)")


def _add_satellite(sub: Sub, common: Parser) -> None:
    sat = _group(sub, "satellite", "satellite apps")
    sn = sat.add_parser("new", help="generate a new satellite project from the template")
    sn.add_argument("slug", help="the new app's slug, e.g. quote-engine")
    sn.add_argument("--dir", help="project folder to create (default: ./SLUG)")
    sn.add_argument("--json", action="store_true", help=argparse.SUPPRESS)


def _add_demo(sub: Sub, common: Parser) -> None:
    d = sub.add_parser("demo", parents=[common], help="see Nexus work: demo satellites, a real plan, approval, memory")
    d.add_argument("instruction", nargs="?", help="what to ask (default: chase quotes over £25k waiting over a week)")
    d.add_argument("--yes", action="store_true", help="approve calls with side effects without asking")
    d.add_argument("--approve", type=int, metavar="PLAN_ID", help="approve a plan an earlier demo left waiting")
    d.add_argument("--serve", metavar="HOST:PORT", help="afterwards keep serving Nexus over MCP at HOST:PORT")


def _add_gaps(sub: Sub, common: Parser) -> None:
    g = sub.add_parser("gaps", parents=[common], help="which apps cover each capability, and what nothing covers")
    g.add_argument("capabilities", nargs="*", metavar="CAPABILITY", help="none: what the owner asked for, uncovered")


#: Every ``nexus`` command, in the order ``nexus --help`` lists them.
COMMANDS: tuple[Callable[[Sub, Parser], None], ...] = (
    _add_serve,
    _add_doctor,
    _add_registry,
    _add_memory,
    _add_ask,
    _add_plan,
    _add_instructions,
    _add_events,
    _add_registrations,
    _add_satellite,
    _add_demo,
    _add_gaps,
    add_tools,
    add_metrics,
    add_backup,
    add_recover,
    add_keys,
    add_db,
)
