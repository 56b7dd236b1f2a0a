"""``nexus`` command line: the only place that reads the environment.

It builds one :class:`~nexus_agent.config.Settings` from ``NEXUS_*`` variables
and flags, opens the services and calls the same tool functions the MCP server
exposes. A :class:`~nexus_agent.wire.errors.NexusError` becomes a message on stderr
and a non-zero exit code here, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from nexus_agent import __version__
from nexus_agent.config import Settings
from nexus_agent.wire.errors import InvalidInput, NexusError, NotFound

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNHEALTHY = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", help="Nexus home folder (default: $NEXUS_HOME or ~/.nexus)")
    common.add_argument("--db", dest="db_path", help="SQLite database path (default: $NEXUS_HOME/nexus.db)")
    common.add_argument("--json", action="store_true", help="print machine-readable JSON")

    p = argparse.ArgumentParser(prog="nexus", description="Nexus: conductor of SFG Aluminium's satellite apps.")
    p.add_argument("--version", action="version", version=f"nexus {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("serve", parents=[common], help="run the MCP server (stdio by default)")
    s.add_argument("--http", metavar="HOST:PORT", help="serve streamable HTTP at /mcp instead of stdio")
    s.add_argument("--token-file", help="file with bearer tokens, one per line (or $NEXUS_TOKEN_FILE)")

    sub.add_parser("doctor", parents=[common], help="show what Nexus will use and whether each part is healthy")

    reg = sub.add_parser("registry", help="the app registry").add_subparsers(dest="action", metavar="ACTION")
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

    mem = sub.add_parser("memory", help="persistent memory").add_subparsers(dest="action", metavar="ACTION")
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

    ask = sub.add_parser("ask", parents=[common], help="have Nexus plan and carry out an instruction")
    ask.add_argument("instruction", help='e.g. "Chase every quote over £25k waiting more than a week"')
    ask.add_argument("--dry-run", action="store_true", help="show the plan and the calls it would make; run nothing")
    ask.add_argument("--max-steps", type=int, default=8, help="model turns at most (default 8)")
    ask.add_argument("--max-seconds", type=float, default=300.0, help="wall time at most (default 300)")

    plan = sub.add_parser("plan", help="plans made by `nexus ask` / instruct").add_subparsers(
        dest="action", metavar="ACTION"
    )
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

    ins = sub.add_parser("instructions", help="instructions for satellites").add_subparsers(
        dest="action", metavar="ACTION"
    )
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

    ev = sub.add_parser("events", help="the outbox of signed webhooks to satellites").add_subparsers(
        dest="action", metavar="ACTION"
    )
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

    regs = sub.add_parser("registrations", help="satellite registrations in the truth source").add_subparsers(
        dest="action", metavar="ACTION"
    )
    regs.add_parser("process", parents=[common], help="review pending registration issues")
    ra = regs.add_parser("approve", parents=[common], help="approve a registration issue")
    ra.add_argument("issue", type=int)
    ra.add_argument("--reason", default="")
    rj = regs.add_parser("reject", parents=[common], help="ask for changes on a registration issue")
    rj.add_argument("issue", type=int)
    rj.add_argument("--problem", action="append", required=True, help="what must change (repeatable)")

    sat = sub.add_parser("satellite", help="satellite apps").add_subparsers(dest="action", metavar="ACTION")
    sn = sat.add_parser("new", help="generate a new satellite project from the template")
    sn.add_argument("slug", help="the new app's slug, e.g. quote-engine")
    sn.add_argument("--dir", help="project folder to create (default: ./SLUG)")
    sn.add_argument("--json", action="store_true", help=argparse.SUPPRESS)

    d = sub.add_parser("demo", parents=[common], help="see Nexus work: demo satellites, a real plan, approval, memory")
    d.add_argument("instruction", nargs="?", help="what to ask (default: chase quotes over £25k waiting over a week)")
    d.add_argument("--yes", action="store_true", help="approve calls with side effects without asking")
    d.add_argument("--approve", type=int, metavar="PLAN_ID", help="approve a plan an earlier demo left waiting")
    d.add_argument("--serve", metavar="HOST:PORT", help="afterwards keep serving Nexus over MCP at HOST:PORT")

    g = sub.add_parser("gaps", parents=[common], help="which apps cover each capability, and what nothing covers")
    g.add_argument("capabilities", nargs="+", metavar="CAPABILITY")
    return p


def _settings(args: argparse.Namespace, env: dict[str, str]) -> Settings:
    overrides: dict[str, Any] = {"home": getattr(args, "home", None), "db_path": getattr(args, "db_path", None)}
    if getattr(args, "token_file", None):
        overrides["token_file"] = args.token_file
    return Settings.load(env, **overrides)


def main(argv: Sequence[str] | None = None, env: dict[str, str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    environ = dict(os.environ if env is None else env)
    if args.command is None or (
        args.command in {"registry", "memory", "satellite", "plan", "instructions", "registrations", "events"}
        and getattr(args, "action", None) is None
    ):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        settings = _settings(args, environ)
        logging.basicConfig(
            level=settings.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        from nexus_agent.wire.secret_guard import install_log_redaction

        install_log_redaction()
        from nexus_agent import commands  # late import keeps `nexus --version` fast

        return commands.dispatch(args, settings)
    except (NexusError, BaseExceptionGroup) as raised:
        exc = _nexus_error_in(raised)
        if exc is None:
            raise
        print(f"error: {exc.user_message()}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, InvalidInput | NotFound) else EXIT_FAILED
    except KeyboardInterrupt:
        return 130


def _nexus_error_in(exc: BaseException) -> NexusError | None:
    """The NexusError itself, or the one inside task-group ExceptionGroups (anyio wraps them)."""
    if isinstance(exc, NexusError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _nexus_error_in(inner)
            if found is not None:
                return found
    return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
