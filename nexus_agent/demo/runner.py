"""``nexus demo``: real satellites, the real registry, truth source, planner and memory, on one machine.

1. five satellites built with the kit serve MCP over streamable HTTP on 127.0.0.1
   (free ports; each with a bearer token made up now, handed to Nexus in memory and never shown);
2. a Nexus home (a fresh temporary folder unless ``--home``) gets them registered as active
   through ``registry_register``, which also commits them to the local git truth source;
3. the instruction goes through the planner exactly as ``nexus ask`` sends it;
4. what happened is printed, the satellites are shut down, and the exit code is ``nexus ask``'s.
"""

from __future__ import annotations

import contextlib
import secrets
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TextIO

import anyio
from pydantic import SecretStr

from nexus_agent.config import Settings
from nexus_agent.demo._data import DemoBook, sample_book
from nexus_agent.demo.legacy import StockBook, format_legacy, format_legacy_record, running_legacy_apps
from nexus_agent.demo.report import Links, format_outcome, format_satellites, format_side_effects, results_of
from nexus_agent.demo.satellites import build_satellites
from nexus_agent.services import NexusServices, open_services
from nexus_agent.testing.fake_legacy_app import FakeLegacyApp
from nexus_agent.testing.servers import serve_in_thread
from nexus_agent.wire.errors import NexusError
from nexus_agent.wire.models import AppRecord, AppStatus
from nexus_agent.wire.secret_env import app_env_prefix
from satellite_template import Satellite, SatelliteSettings

__all__ = ["DEMO_INSTRUCTION", "DemoOptions", "RunningSatellite", "demo_settings", "run_demo", "running_satellites"]

Say = Callable[[str], None]

DEMO_INSTRUCTION = (
    "Chase every quote over £25k that has been waiting more than a week and tell me which need my approval, "
    "and which extrusions are running low in the yards"
)


@dataclass(frozen=True)
class DemoOptions:
    instruction: str = DEMO_INSTRUCTION
    home: Path | None = None  # None: a fresh folder under the system temp dir
    db_path: Path | None = None  # None: HOME/nexus.db
    yes: bool = False  # approve side-effect calls without asking
    approve: int | None = None  # carry on with this waiting plan instead of planning anew
    serve: tuple[str, int] | None = None  # keep Nexus serving MCP over HTTP here afterwards
    max_seconds: float = 120.0


@dataclass(frozen=True)
class RunningSatellite:
    sat: Satellite
    base_url: str
    token_env: str

    def record(self) -> AppRecord:
        return self.sat.app_record(self.base_url, status=AppStatus.active, token_env=self.token_env)


@contextlib.contextmanager
def running_satellites(book: DemoBook) -> Iterator[tuple[list[RunningSatellite], dict[str, str]]]:
    """Serve the demo satellites on free 127.0.0.1 ports; yield them and the token mapping Nexus reads.

    Each satellite gets its own random bearer token; the mapping (``token_env`` -> token) is the
    only place it is kept. The servers stop, newest first, when the block ends.
    """
    tokens: dict[str, str] = {}
    running: list[RunningSatellite] = []
    with contextlib.ExitStack() as stack:
        for sat in build_satellites(book):
            token = secrets.token_urlsafe(32)
            token_env = f"{app_env_prefix(sat.slug)}TOKEN"  # an app may name only its own SATELLITE_<SLUG>_*
            app = sat.create_app(SatelliteSettings(tokens=(SecretStr(token),), log_level="WARNING"))
            base_url = stack.enter_context(serve_in_thread(app, host="127.0.0.1"))
            tokens[token_env] = token
            running.append(RunningSatellite(sat, base_url, token_env))
        yield running, tokens


def demo_settings(base: Settings, home: Path, db_path: Path | None = None) -> Settings:
    """``base`` moved to ``home``, on the embedded defaults: SQLite there, local git truth there, offline planner."""
    truth_path = home / "truth"
    truth = base.truth.model_copy(
        update={"kind": "local", "path": truth_path, "github_repo": None, "github_auth": None}
    )
    return base.model_copy(
        update={
            "home": home,
            "db_path": db_path or home / "nexus.db",
            "truth_path": truth_path,
            "truth": truth,
            "anthropic_api_key": None,  # the demo shows the embedded offline planner, whatever the environment says
            "auto_approve_tools": (),  # approval is --yes, a y/N at the terminal, or the plan waits
        }
    )


def run_demo(
    base: Settings,
    options: DemoOptions,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    today: date | None = None,
) -> int:
    """Run the demo; returns the exit code (0: the plan succeeded or waits for approval)."""
    out = out or sys.stdout
    fresh = options.home is None
    home = Path(tempfile.mkdtemp(prefix="nexus-demo-")) if options.home is None else options.home.expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    settings = demo_settings(base, home, options.db_path)
    links = Links(home=home, db_path=settings.db_path, truth_path=settings.truth_path, default_db=not options.db_path)

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    say("Nexus demo: embedded defaults (SQLite memory, local git truth source, offline planner, no API keys)")
    say(f"home: {home}" + ("  (a fresh folder; your own ~/.nexus is not touched)" if fresh else ""))
    book = sample_book(today or date.today())
    stock = StockBook()
    with running_satellites(book) as (running, tokens), running_legacy_apps(stock) as (legacy, signing):
        say("")
        say(format_satellites(running))
        say(format_legacy(legacy))
        tokens = {**tokens, **signing}  # bearer tokens of the kit satellites, HMAC secrets of the legacy apps
        try:
            code, plan_id = anyio.run(_plan, settings, options, (running, legacy), tokens, links, say, err)
        except BaseExceptionGroup as group:  # the services' task group wraps a NexusError; the CLI reports it
            inner = _single(group)
            if isinstance(inner, NexusError):
                raise inner from None
            raise
        say("")
        say(format_side_effects(book))
        say(format_legacy_record(legacy, stock))
        say("")
        say(links.where(plan_id))
        if options.serve is not None:
            _serve(settings, options.serve, tokens, say)
    say("The demo satellites are shut down.")
    return code


async def _plan(
    settings: Settings,
    options: DemoOptions,
    apps: tuple[list[RunningSatellite], list[FakeLegacyApp]],
    tokens: Mapping[str, str],
    links: Links,
    say: Say,
    err: TextIO | None,
) -> tuple[int, int]:
    from nexus_agent.planner import Approver, StaticApprover, StderrProgress, TerminalApprover, exit_code
    from nexus_agent.planner.build import planner_from_settings
    from nexus_agent.planner.loop import Planner
    from nexus_agent.planner.models import Budget

    # Who is recorded as deciding: with --yes the approvals in memory say they came from the flag.
    actor = f"{settings.actor} (nexus demo --yes)" if options.yes else settings.actor
    async with open_services(settings, secrets=tokens, satellites=True, planner=planner_from_settings) as services:
        say("")
        say(await _register(services, *apps))
        planner = services.planner
        assert isinstance(planner, Planner)  # planner_from_settings builds one
        progress = StderrProgress(err)
        say("")
        if options.approve is not None:
            say(f"Approving plan {options.approve} (you asked with --approve) and carrying on with it:")
            result = await planner.approve(options.approve, actor=actor, note="nexus demo --approve", progress=progress)
        else:
            say(f'Instruction: "{options.instruction}"')
            if options.yes:
                say("Approval: --yes given, so calls with side effects are approved automatically, as if you said yes.")
                approver: Approver = StaticApprover(True)
            else:
                say("Approval: calls with side effects need your yes (asked at a terminal; otherwise the plan waits).")
                approver = TerminalApprover(stream=err)
            result = await planner.run(
                options.instruction,
                approver=approver,
                progress=progress,
                actor=actor,
                budget=Budget(max_seconds=options.max_seconds),
            )
        state = await planner.states.load(result.plan_id)
        say("")
        say(format_outcome(result, results_of(state.messages), links))
        return exit_code(result), result.plan_id


async def _register(services: NexusServices, running: list[RunningSatellite], legacy: list[FakeLegacyApp]) -> str:
    """Register each satellite and legacy app as active through ``registry_register`` (registry, truth, pool)."""
    from nexus_agent.toolset import tool_by_name
    from tools.base import ToolCall

    spec = tool_by_name("registry_register")
    call = ToolCall(services=services, actor=services.settings.actor)
    lines = ["Registered in the app registry (status active) and committed to the truth source:"]
    records = [r.record() for r in running] + [app.record() for app in legacy]
    for record in records:
        arguments = {"record": record.model_dump(mode="json"), "reason": "nexus demo satellite"}
        result = await spec.invoke(call, arguments, max_bytes=services.settings.max_input_bytes)
        lines.append(f"  {result.app.slug:<24} {result.action} ({result.app.status.value})")
        lines += [f"    note: {n}" for n in result.notes]
    return "\n".join(lines)


def _single(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _serve(settings: Settings, where: tuple[str, int], tokens: Mapping[str, str], say: Say) -> None:
    from nexus_agent.serve import serve_http

    host, port = where
    say("")
    say(f"Serving Nexus over MCP at http://{host}:{port}/mcp with the demo satellites; press Ctrl-C to stop.")
    say("An MCP client can call plan_get, plan_approve, memory_search and the satellites' tools there.")
    with contextlib.suppress(KeyboardInterrupt):
        serve_http(settings.model_copy(update={"http_host": host, "http_port": port}), secrets=tokens)
