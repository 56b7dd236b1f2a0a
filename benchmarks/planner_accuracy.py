"""The offline planner's accuracy on the owner's instructions, per category and per split.

    python benchmarks/planner_accuracy.py                 # both splits
    python benchmarks/planner_accuracy.py --split tuning  # only the set the planner may be tuned on
    python benchmarks/planner_accuracy.py --verbose       # every miss, with what the planner did

Each instruction runs end to end through the real :class:`~nexus_agent.planner.Planner` against the demo
world (``tests/planner/demo_world.py``): the demo's five satellites, Nexus's own tools, a registry with apps
nobody can call yet, and the notes the item seeds in memory. Side effects are never made: no approver is
given, so they wait for approval and are counted as *proposed*.

Figures: **tool** (the expected tools proposed and no unexpected write), **args** (and their stated
arguments), **can't** (impossible asks answered with no call and status ``no_action``), **ask**
(ambiguous asks answered with a question, status ``needs_input``), **writes?** (side-effect calls proposed
for questions; must be 0). Targets on the held-out split: tool >= 0.9, args >= 0.85, can't >= 0.9,
ask >= 0.8, writes 0. The held-out split (``heldout_demo.json``) was written before the planner was tuned
and is not to be read while tuning; ``labelled_demo.json`` is the tuning split.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "planner")]

from demo_world import load_set, open_world  # noqa: E402

SPLITS = {"heldout": "heldout_demo.json", "tuning": "labelled_demo.json"}
CATEGORIES = ("status", "filtered_list", "action", "multi_step", "impossible", "ambiguous", "registry", "memory")


def value_matches(expected: Any, actual: Any) -> bool:
    """'~x': contains x (case-insensitive); lists: every expected item matches some actual item."""
    if isinstance(expected, list):
        items = actual if isinstance(actual, list) else [actual]
        return all(any(value_matches(e, a) for a in items) for e in expected)
    if isinstance(expected, str) and expected.startswith("~"):
        return isinstance(actual, str) and expected[1:].lower() in actual.lower()
    if isinstance(expected, str):
        return isinstance(actual, str) and expected.lower() == actual.lower()
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return abs(expected - actual) < 1e-9
    return bool(expected == actual)


def args_match(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> bool:
    for key, value in expected.items():
        keys = key.split("|")  # 'capability|text': either key may carry it
        if not any(k in actual and value_matches(value, actual[k]) for k in keys):
            return False
    return True


def score(item: Mapping[str, Any], status: str, proposed: Sequence[tuple[str, dict[str, Any], bool]]) -> dict[str, Any]:
    """One item's marks from the plan status and the calls proposed (tool, arguments, read_only)."""
    writes = [name for name, _, read_only in proposed if not read_only]
    out: dict[str, Any] = {"writes_for_question": len(writes) if item.get("question") else 0}
    expect = item["expect"]
    if expect == "cant":
        out["tool"] = out["args"] = out["cant"] = not proposed and status == "no_action"
    elif expect == "ask":
        out["tool"] = out["args"] = out["ask"] = not writes and status == "needs_input"
    else:
        wanted = item.get("calls", [])
        names = {name for name, _, _ in proposed}
        expected_names = {c["tool"] for c in wanted}
        out["tool"] = expected_names <= names and not (set(writes) - expected_names)
        free = list(proposed)
        ok = out["tool"]
        for c in wanted:
            hit = next((p for p in free if p[0] == c["tool"] and args_match(c["args"], p[1])), None)
            if hit is None:
                ok = False
                break
            free.remove(hit)
        out["args"] = ok
    return out


async def run_item(item: Mapping[str, Any], now: datetime, home: Path) -> tuple[str, list[Any], str]:
    world = await open_world(now, home=home, notes=list(item.get("memory", [])))
    try:
        result = await world.planner.run(item["instruction"])
        tools = {d.name: d for d in await world.planner.provider.descriptors()}
        proposed = [
            (c.tool, dict(c.arguments), bool(tools[c.tool].read_only) if c.tool in tools else False)
            for c in result.calls
        ]
        return str(result.status), proposed, result.answer
    finally:
        world.database.close()


async def evaluate(split: str, verbose: int | bool) -> dict[str, dict[str, list[Any]]]:
    data = load_set(SPLITS[split])
    now = datetime.fromisoformat(data["now"])
    marks: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    with tempfile.TemporaryDirectory(prefix="nexus-bench-") as tmp:
        for i, item in enumerate(data["items"]):
            home = Path(tmp) / str(i)
            home.mkdir()
            status, proposed, answer = await run_item(item, now, home)
            got = score(item, status, proposed)
            for key, value in got.items():
                marks[item["category"]][key].append(value)
                marks["ALL"][key].append(value)
            if verbose and (not (got["tool"] and got["args"]) or got["writes_for_question"]):
                made = ", ".join(f"{n}{_short(a)}" for n, a, _ in proposed) or "no call"
                print(f"  miss [{item['category']}] {item['instruction']!r}: {status}; {made}")
                if verbose > 1:
                    print("     " + answer.replace("\n", "\n     ")[:800])
    return marks


def _short(args: Mapping[str, Any]) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in args.items())
    return f"({text[:120]})"


def _rate(values: list[Any]) -> str:
    return f"{sum(bool(v) for v in values) / len(values):.2f}" if values else "  - "


def report(split: str, marks: Mapping[str, Mapping[str, list[Any]]]) -> None:
    print(f"\n{split} split ({len(marks['ALL']['tool'])} instructions)")
    print(f"  {'category':<14} {'n':>3}  tool  args  can't  ask  writes?")
    for cat in [*CATEGORIES, "ALL"]:
        m = marks.get(cat)
        if not m:
            continue
        writes = sum(m["writes_for_question"])
        print(
            f"  {cat:<14} {len(m['tool']):>3}  {_rate(m['tool'])}  {_rate(m['args'])}  {_rate(m.get('cant', [])):>5}"
            f"  {_rate(m.get('ask', [])):>4}  {writes:>3}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--split", choices=[*SPLITS, "both"], default="both")
    parser.add_argument("--verbose", "-v", action="count", default=0)
    args = parser.parse_args(argv)
    for split in SPLITS if args.split == "both" else [args.split]:
        marks = anyio.run(evaluate, split, args.verbose)
        report(split, marks)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
