"""Prompt size as the ecosystem grows: what the planner sends the model with 50, 500 and 5,000 tools.

    python benchmarks/prompt_size.py
    python benchmarks/prompt_size.py --sizes 50 500 5000 20000

For every labelled instruction the planner's selection (BM25F, top-24) picks
the tools to offer and :class:`AnthropicModel` builds the exact first request
(system prompt, tool definitions, context + instruction). Reported per
catalogue size, averaged over the instructions: tools sent, characters of tool
definitions, characters of the whole request, and tokens estimated at four
characters each. The same request with *every* tool is shown for contrast.
Target: flat as the catalogue grows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "planner")]

from planner_catalogue import catalogue_tools, records  # noqa: E402

import prompts  # noqa: E402
from nexus_agent.planner import AnthropicModel, Catalogue, NexusToolProvider, OfferedTool, ToolSelector  # noqa: E402
from nexus_agent.planner.context import first_message  # noqa: E402
from nexus_agent.planner.llm import tool_definition  # noqa: E402

LABELLED = json.loads((ROOT / "tests" / "planner" / "labelled_instructions.json").read_text(encoding="utf-8"))
APPS = {r.slug: (r.status.value, tuple(r.capability_names())) for r in records()}


async def measure(size: int, nexus: list[Any]) -> dict[str, float]:
    catalogue = Catalogue(catalogue_tools(size, nexus)).with_apps(APPS)
    selector = ToolSelector()
    model = AnthropicModel(client=None, model="claude-sonnet-4-6")
    system = prompts.render_prompt("planner_system", owner="The owner")
    sent, tool_chars, request_chars = [], [], []
    for item in LABELLED["items"]:
        offered = [OfferedTool(r.descriptor, r.score) for r in selector.select(catalogue, item["instruction"])]
        context = prompts.render_prompt("planner_context", apps="- (apps of the offered tools)", memory="(none)")
        request = model.request(system, [first_message(context, item["instruction"])], offered)
        sent.append(len(request.get("tools", [])))
        tool_chars.append(len(json.dumps(request.get("tools", []), ensure_ascii=False)))
        request_chars.append(len(json.dumps(request, ensure_ascii=False)))
    everything = len(json.dumps([tool_definition(d) for d in catalogue.tools.values()], ensure_ascii=False))
    return {
        "tools sent": statistics.mean(sent),
        "tool chars": statistics.mean(tool_chars),
        "request chars": statistics.mean(request_chars),
        "request tokens~": statistics.mean(request_chars) / 4,
        "all-tools tokens~": everything / 4,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 500, 5000])
    args = parser.parse_args()
    nexus = await NexusToolProvider(None).descriptors()
    rows = {size: await measure(size, nexus) for size in args.sizes}
    columns = list(next(iter(rows.values())))
    print(f"{'tools':>7}  " + "  ".join(f"{c:>17}" for c in columns))
    for size, row in rows.items():
        print(f"{size:>7}  " + "  ".join(f"{row[c]:>17,.0f}" for c in columns))
    first, last = rows[args.sizes[0]], rows[args.sizes[-1]]
    growth = last["request chars"] / first["request chars"]
    print(f"\nrequest size x{growth:.2f} from {args.sizes[0]:,} to {args.sizes[-1]:,} tools "
          f"(sending every tool would be x{last['all-tools tokens~'] / first['all-tools tokens~']:.0f})")  # fmt: skip


if __name__ == "__main__":
    anyio.run(main)
