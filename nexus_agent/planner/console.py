"""Terminal helpers for ``nexus ask``: progress on stderr, approval at a prompt, a readable report."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

import anyio.to_thread

from nexus_agent.planner.approval import approval_message
from nexus_agent.planner.models import Budget, PlannedCall, PlanResult, PlanRunner, ProgressEvent

__all__ = ["StderrProgress", "TerminalApprover", "exit_code", "format_plan", "run_ask"]


class StderrProgress:
    """Prints one line per planner stage: ``[plan 1/8] asking the offline planner (turn 1)``."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    async def __call__(self, event: ProgressEvent) -> None:
        stream = self._stream or sys.stderr
        where = f" {event.step}/{event.max_steps}" if event.step else ""
        print(f"[{event.stage}{where}] {event.message}", file=stream, flush=True)


class TerminalApprover:
    """Asks y/N at the terminal; without a terminal it cannot ask (``None``: the plan waits)."""

    def __init__(
        self,
        *,
        ask: Callable[[str], str] = input,
        interactive: Callable[[], bool] = lambda: sys.stdin.isatty(),
        stream: TextIO | None = None,
    ) -> None:
        self._ask = ask
        self._interactive = interactive
        self._stream = stream

    async def confirm(self, plan: PlanResult, calls: Sequence[PlannedCall]) -> bool | None:
        if not self._interactive():
            return None
        print(approval_message(plan, calls), file=self._stream or sys.stderr, flush=True)
        try:
            answer = await anyio.to_thread.run_sync(self._ask, "Run them? [y/N] ")
        except (EOFError, KeyboardInterrupt):
            return None
        return answer.strip().lower() in {"y", "yes"}


def format_plan(result: PlanResult) -> str:
    """The plan as people read it on a terminal."""
    lines = [
        f"plan {result.plan_id}: {result.status}"
        + (" (dry run)" if result.dry_run else "")
        + f"  [{result.backend}, {result.usage.steps} step(s), {result.usage.tokens:,} tokens, "
        f"{result.usage.seconds:.1f} s]",
        "",
        result.answer,
    ]
    if result.calls:
        lines += ["", "calls:"]
        for c in result.calls:
            args = json.dumps(c.arguments, ensure_ascii=False, default=str)
            lines.append(f"  {c.id:<14} {c.status:<17} {c.tool}({args[:100]})")
    if result.question:
        lines += ["", f"Nexus asks: {result.question}", "Say it again with the answer to go ahead."]
    if result.unmet:
        lines += ["", "Not covered by any reachable tool (see `nexus gaps`): " + "; ".join(result.unmet)]
    if result.next_action:
        lines += ["", result.next_action]
    return "\n".join(lines)


def exit_code(result: PlanResult) -> int:
    """0 when the plan did what it could or waits for the owner (approval, or an answer to its question);
    1 when nothing could be done, it failed, was cancelled or ran out."""
    return 0 if result.status in {"succeeded", "dry_run", "awaiting_approval", "needs_input"} else 1


async def run_ask(
    planner: PlanRunner,
    instruction: str,
    *,
    dry_run: bool = False,
    budget: Budget | None = None,
    as_json: bool = False,
    actor: str = "owner",
    approver: TerminalApprover | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """``nexus ask "..."``: progress on stderr, approval at the terminal, the plan on stdout."""
    result = await planner.run(
        instruction,
        dry_run=dry_run,
        budget=budget,
        approver=approver or TerminalApprover(stream=err),
        progress=StderrProgress(err),
        actor=actor,
    )
    text = result.model_dump_json(indent=2) if as_json else format_plan(result)
    print(text, file=out or sys.stdout)
    return exit_code(result)
