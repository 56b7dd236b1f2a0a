"""Planner overhead per step, excluding model and tool latency, with 500 tools reachable.

    python benchmarks/planner_overhead.py                  # 500 tools, NEXUS_DB_SYNC=full and normal
    python benchmarks/planner_overhead.py --tools 5000 --runs 20

A zero-latency scripted model asks for two read-only calls per turn for three
turns, then answers; a zero-latency provider answers every call. For each
labelled instruction a fresh plan runs against a real SQLite memory store.
Reported, in milliseconds:

- ``step``: the planner's own work between the model answering one turn and
  being asked the next (logging the turn and its decision, validating both
  calls, policy, marking steps running/done in memory, saving the state,
  building the tool results): the per-step overhead. Target: median <= 20 ms.
- ``first``: from ``run()`` to the first model call (conversation turn,
  registry + memory recall, BM25 selection over the catalogue, plan creation,
  selection decision): paid once per plan.
- ``select``: BM25 selection alone (index cached), per instruction.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "planner")]

from planner_catalogue import StaticProvider, catalogue_tools, records  # noqa: E402

from nexus_agent.config import Settings  # noqa: E402
from nexus_agent.planner import (  # noqa: E402
    PLANNER_MIGRATIONS,
    Catalogue,
    ModelTurn,
    NexusToolProvider,
    OfferedTool,
    Planner,
    SqlitePlanStateStore,
    ToolCallRequest,
    ToolSelector,
)
from nexus_agent.services import open_services_sync  # noqa: E402

LABELLED = json.loads((ROOT / "tests" / "planner" / "labelled_instructions.json").read_text(encoding="utf-8"))


class TimedModel:
    """Asks for the two best read-only offered tools each turn, then answers; records when it is asked."""

    name = "benchmark"

    def __init__(self, turns: int) -> None:
        self.turns = turns
        self.asked: list[float] = []
        self.answered: list[float] = []

    async def next_turn(self, system: str, messages: Sequence[Any], tools: Sequence[OfferedTool]) -> ModelTurn:
        self.asked.append(time.perf_counter())
        step = len(self.asked)
        reads = [t for t in tools if t.descriptor.read_only][:2]
        if step > self.turns or not reads:
            turn = ModelTurn(text="done")
        else:
            turn = ModelTurn(tool_calls=[ToolCallRequest(f"c{step}_{i}", t.name, {}) for i, t in enumerate(reads)])
        self.answered.append(time.perf_counter())
        return turn


async def measure(n_tools: int, sync: str, runs: int, turns: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"step": [], "first": [], "select": []}
    with tempfile.TemporaryDirectory() as home:
        settings = Settings.load({"NEXUS_HOME": home, "NEXUS_DB_SYNC": sync})
        with open_services_sync(settings) as services:
            services.database.migrate([PLANNER_MIGRATIONS])
            for record in records():
                await services.registry.register(record, actor="benchmark")
            nexus = await NexusToolProvider(services).descriptors()
            provider = StaticProvider(catalogue_tools(n_tools, nexus))
            selector = ToolSelector()
            states = SqlitePlanStateStore(services.database)
            items = (LABELLED["items"] * (runs // len(LABELLED["items"]) + 1))[:runs]
            for item in items:
                model = TimedModel(turns)
                planner = Planner(
                    memory=services.memory,
                    registry=services.registry,
                    provider=provider,
                    model=model,
                    states=states,
                    selector=selector,
                )
                start = time.perf_counter()
                await planner.run(item["instruction"])
                out["first"].append((model.asked[0] - start) * 1000)
                out["step"] += [(a - b) * 1000 for a, b in zip(model.asked[1:], model.answered, strict=False)]
            catalogue = Catalogue(provider.tools)
            selector.index(catalogue)
            for item in LABELLED["items"]:
                start = time.perf_counter()
                selector.select(catalogue, item["instruction"])
                out["select"].append((time.perf_counter() - start) * 1000)
    return out


def summary(values: list[float]) -> str:
    q = statistics.quantiles(values, n=20)
    return f"median {statistics.median(values):6.2f}  p95 {q[18]:6.2f}  max {max(values):6.2f}  (n={len(values)})"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tools", type=int, default=500)
    parser.add_argument("--runs", type=int, default=38, help="plans to run (cycles through the labelled set)")
    parser.add_argument("--turns", type=int, default=3, help="tool-calling turns per plan")
    parser.add_argument("--sync", choices=["full", "normal", "both"], default="both")
    args = parser.parse_args()
    for sync in ["full", "normal"] if args.sync == "both" else [args.sync]:
        result = await measure(args.tools, sync, args.runs, args.turns)
        print(f"{args.tools} tools, NEXUS_DB_SYNC={sync}, {args.turns} turns x 2 calls per plan (ms)")
        for key in ("step", "first", "select"):
            print(f"  {key:<6} {summary(result[key])}")
        verdict = "meets" if statistics.median(result["step"]) <= 20 else "MISSES"
        print(f"  per-step overhead {verdict} the 20 ms median target\n")


if __name__ == "__main__":
    anyio.run(main)
