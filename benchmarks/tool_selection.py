"""Tool-selection recall@k on the labelled instructions, and the offline planner's accuracy.

    python benchmarks/tool_selection.py
    python benchmarks/tool_selection.py --sizes 0 500 5000 --verbose

The catalogue is the sixteen realistic satellites of ``tests/planner`` (58
tools) plus Nexus's own tools, padded with ``--sizes`` generated distractors
from unrelated back-office apps that share the generic verbs and nouns
(list, schedule, order, invoice, report...). For each instruction: recall@k of
the tools it must be offered, and whether the offline planner makes the
expected calls with the expected arguments. Both the labelled set (tuned on)
and the held-out set (not tuned on) are reported. Target: recall@24 >= 0.95.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "planner")]

from planner_catalogue import FakeSatellites, distractors, records  # noqa: E402

from nexus_agent.planner import (  # noqa: E402
    Catalogue,
    NexusToolProvider,
    OfferedTool,
    OfflineModel,
    ToolSelector,
    recall_at_k,
)

KS = (1, 3, 5, 10, 24)
APPS = {r.slug: (r.status.value, tuple(r.capability_names())) for r in records()}


def load(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "tests" / "planner" / name).read_text(encoding="utf-8"))


async def evaluate(data: dict[str, Any], extra: int, verbose: bool) -> dict[str, Any]:
    tools = await FakeSatellites().descriptors() + await NexusToolProvider(None).descriptors() + distractors(extra)
    catalogue = Catalogue(tools).with_apps(APPS)
    selector = ToolSelector()
    start = time.perf_counter()
    selector.index(catalogue)
    build_ms = (time.perf_counter() - start) * 1000
    now = datetime.fromisoformat(data["now"])
    model = OfflineModel(clock=lambda: now)
    recall = dict.fromkeys(KS, 0.0)
    correct, latencies = 0, []
    for item in data["items"]:
        start = time.perf_counter()
        ranked = selector.select(catalogue, item["instruction"], keep=lambda d: d.app_status != "suspended")
        latencies.append((time.perf_counter() - start) * 1000)
        names = [r.descriptor.name for r in ranked]
        for k in KS:
            recall[k] += recall_at_k(names, item["tools"], k)
        turn = model.plan(item["instruction"], [OfferedTool(r.descriptor, r.score, r.contributions) for r in ranked])
        got = {c.name: c.arguments for c in turn.tool_calls}
        ok = all(t in got and all(got[t].get(a) == v for a, v in args.items()) for t, args in item["offline"].items())
        correct += ok
        if verbose and (not ok or recall_at_k(names, item["tools"], 24) < 1):
            print(f"    miss: {item['instruction']!r}\n          offline made {got}")
    n = len(data["items"])
    return {
        "tools": len(catalogue),
        "n": n,
        "recall": {k: v / n for k, v in recall.items()},
        "offline": correct / n,
        "select_ms": statistics.median(latencies),
        "build_ms": build_ms,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 500, 5000], help="distractor tools added")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    for name in ("labelled_instructions.json", "heldout_instructions.json"):
        print(name)
        for extra in args.sizes:
            r = await evaluate(load(name), extra, args.verbose)
            recall = "  ".join(f"@{k} {v:.3f}" for k, v in r["recall"].items())
            print(
                f"  {r['tools']:>5} tools, {r['n']} instructions: recall {recall}  |  offline accuracy "
                f"{r['offline']:.3f}  |  select {r['select_ms']:.2f} ms median, index build {r['build_ms']:.0f} ms"
            )


if __name__ == "__main__":
    anyio.run(main)
