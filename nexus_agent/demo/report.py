"""What ``nexus demo`` prints: the satellites, the plan and its calls, what needs approval, where things are kept."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nexus_agent.planner.models import PlannedCall, PlanResult

if TYPE_CHECKING:
    from nexus_agent.demo._data import DemoBook
    from nexus_agent.demo.runner import RunningSatellite

__all__ = ["Links", "format_outcome", "format_satellites", "format_side_effects", "results_of"]

_MAX_ITEMS = 8
_MONEY = ("total", "amount", "total_overdue", "headroom")


@dataclass(frozen=True)
class Links:
    """Where the demo's Nexus keeps things, and the commands that show them."""

    home: Path
    db_path: Path
    truth_path: Path
    default_db: bool = True

    def command(self, *words: str) -> str:
        flags = ["--home", str(self.home)] + ([] if self.default_db else ["--db", str(self.db_path)])
        return "nexus " + " ".join(shlex.quote(w) for w in [*words, *flags])

    def where(self, plan_id: int | None = None) -> str:
        lines = [
            "Where it is kept:",
            f"  memory (SQLite)    {self.db_path}",
            f"    {self.command('memory', 'search', 'quote')}",
            f"    {self.command('memory', 'search', 'plan', '--kind', 'decision')}",
        ]
        if plan_id is not None:
            lines.append(f"    {self.command('plan', 'show', str(plan_id))}")
        lines += [
            f"  truth repository   {self.truth_path}",
            f"    git -C {shlex.quote(str(self.truth_path))} log --oneline",
            f"  registry           {self.command('registry', 'list')}",
        ]
        return "\n".join(lines)


def format_satellites(running: Sequence[RunningSatellite]) -> str:
    lines = [
        f"Started {len(running)} demo satellites (MCP over streamable HTTP on 127.0.0.1, "
        "each with its own random bearer token):"
    ]
    for r in running:
        tools = ", ".join(t.name + ("" if t.read_only else "*") for t in r.sat.tools)
        lines.append(f"  {r.sat.slug:<24} {r.base_url}/mcp  {tools}")
    lines.append("  (* changes something: runs only with your approval)")
    return "\n".join(lines)


def results_of(messages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Each settled call's result as the planner saw it, by call id (JSON decoded where it is JSON)."""
    out: dict[str, Any] = {}
    for m in messages:
        content = m.get("content")
        if m.get("role") != "user" or not isinstance(content, list):
            continue
        for block in content:
            if block.get("type") != "tool_result" or block.get("is_error"):
                continue
            text = block.get("content")
            if isinstance(text, list):
                text = "\n".join(c.get("text", "") for c in text if c.get("type") == "text")
            try:
                out[block["tool_use_id"]] = json.loads(text)
            except (TypeError, ValueError):
                out[block["tool_use_id"]] = text
    return out


def format_outcome(result: PlanResult, outputs: Mapping[str, Any], links: Links) -> str:
    u = result.usage
    cost = f"{result.backend} planner, {u.steps} model turn(s), {u.seconds:.1f} s"
    lines = [f"Plan {result.plan_id}: {result.status}  ({cost})", "", "Calls:"]
    for c in result.calls:
        kind = "read-only" if c.read_only else "side effect"
        lines.append(f"  turn {c.turn}  {_call(c)}  [{kind}] -> {c.status}")
        if c.id in outputs:
            lines += [f"          {line}" for line in _render(outputs[c.id])]
        elif c.error:
            lines.append(f"          {c.error.splitlines()[0][:200]}")
    if not result.calls:
        lines.append("  (none)")
    lines += ["", f"Nexus's answer (in full: {links.command('plan', 'show', str(result.plan_id))}):"]
    lines += [f"  {_clip(line, 160)}" for line in result.answer.splitlines() if line.strip()]
    lines += ["", *_approval(result, outputs, links)]
    return "\n".join(lines)


def format_side_effects(book: DemoBook) -> str:
    """What the satellites themselves recorded: proof of what was (and was not) done."""
    lines = ["What the satellites recorded:"]
    if book.chases:
        lines.append(f"  quote-engine emailed {len(book.chases)} chaser(s):")
        lines += [f"    {c.quote_id}  {c.customer} <{c.emailed_to}>  (chase {c.chase_number})" for c in book.chases]
    else:
        lines.append("  quote-engine emailed no chasers")
    if book.bookings:
        lines += [f"  installation-scheduler booked {b.crew} for {b.order_id} on {b.date}" for b in book.bookings]
    return "\n".join(lines)


def _approval(result: PlanResult, outputs: Mapping[str, Any], links: Links) -> list[str]:
    lines = ["Needs your approval:"]
    for c in result.calls:
        output = outputs.get(c.id)
        if c.tool.endswith("awaiting_approval") and isinstance(output, dict):
            held = output.get("quotes") or []
            lines.append(f"  {len(held)} quote(s) held for your approval before they are sent (from {c.tool}):")
            lines += [f"    {_item(q)}" for q in held]
    pending = result.pending
    if pending:
        pid = result.plan_id
        lines.append(f"  plan {pid} is waiting for your yes to {len(pending)} call(s) with side effects:")
        lines += [f"    {_call(c)}" for c in pending]
        lines += [
            "  Nothing with side effects was done. To approve these calls and carry on with the plan:",
            f"    {links.command('demo', '--approve', str(pid))}",
            f"  With satellites that keep running this is `{links.command('plan', 'approve', str(pid))}`;",
            "  the demo's satellites stop when `nexus demo` exits, and `--approve` starts them again first.",
            f"  To drop the plan instead: {links.command('plan', 'reject', str(pid))}",
        ]
    declined = [c for c in result.calls if c.status == "rejected"]
    if declined:
        lines.append("  you said no to: " + "; ".join(_call(c) for c in declined) + " (not made)")
    if len(lines) == 1:
        lines.append("  nothing")
    return lines


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _call(c: PlannedCall) -> str:
    args = json.dumps(c.arguments, ensure_ascii=False, default=str)
    return f"{c.tool}({args if len(args) <= 100 else args[:97] + '...'})"


def _render(output: Any) -> list[str]:
    """A tool result in a few readable lines: one per listed item, or one for a record."""
    if isinstance(output, dict):
        lists = {k: v for k, v in output.items() if isinstance(v, list) and all(isinstance(i, dict) for i in v)}
        if lists:
            key, items = next(iter(lists.items()))
            extra = [f"{k} {_money(k, v)}" for k, v in output.items() if k in _MONEY]
            head = f"{len(items)} {key}" + (f" ({', '.join(extra)})" if extra else "") + (":" if items else "")
            more = [f"... and {len(items) - _MAX_ITEMS} more"] if len(items) > _MAX_ITEMS else []
            return [head, *[f"  {_item(i)}" for i in items[:_MAX_ITEMS]], *more]
        return [_item(output)]
    text = " ".join(str(output).split())
    return [text if len(text) <= 200 else text[:197] + "..."]


def _flat(item: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in item.items():
        if isinstance(v, dict):
            out.update({kk: vv for kk, vv in v.items() if kk not in out})
        else:
            out.setdefault(k, v)
    return out


def _item(raw: Mapping[str, Any]) -> str:
    item = _flat(raw)
    parts = [str(v) for k, v in item.items() if k.endswith("_id")][:1]
    for key in ("customer", "crew", "date", "job", "summary"):
        if item.get(key):
            parts.append(str(item[key]))
    for key in _MONEY:
        if isinstance(item.get(key), int | float):
            parts.append(_money(key, item[key]) if key in {"total", "amount"} else f"{key} {_money(key, item[key])}")
    if item.get("rating"):
        parts.append(f"rating {item['rating']}")
    if item.get("status"):
        parts.append(str(item["status"]))
    if item.get("days_waiting") is not None:
        parts.append(f"waiting {item['days_waiting']} days")
    if item.get("days_overdue"):
        parts.append(f"{item['days_overdue']} days overdue")
    if item.get("emailed_to"):
        parts.append(f"emailed {item['emailed_to']} (chase {item.get('chase_number', 1)})")
    for key in ("reason", "verdict"):
        if item.get(key):
            parts.append(str(item[key]))
    if item.get("fitters"):
        parts.append(", ".join(map(str, item["fitters"])))
    return " · ".join(parts) or json.dumps(raw, ensure_ascii=False, default=str)[:200]


def _money(key: str, value: Any) -> str:
    return f"£{value:,.0f}" if isinstance(value, int | float) else str(value)
