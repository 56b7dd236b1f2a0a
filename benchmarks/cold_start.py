"""Cold start: spawn `nexus serve` over stdio until its first `tools/list` is answered.

Usage: python benchmarks/cold_start.py [--runs 15]

Each run uses a fresh NEXUS_HOME (new database, migrations applied), so it
measures the worst case a desktop client sees on first launch; `--warm` reuses
one home to measure an ordinary launch. Target: median <= 1.5 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import anyio
from mcp import Client, StdioServerParameters


async def one_run(home: str) -> float:
    env = {**os.environ, "NEXUS_HOME": home}
    params = StdioServerParameters(command=sys.executable, args=["-m", "nexus_agent", "serve"], env=env)
    start = time.perf_counter()
    async with Client(params) as client:
        tools = await client.list_tools()
        elapsed = time.perf_counter() - start
    assert tools.tools, "no tools listed"
    return elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--warm", action="store_true", help="reuse one NEXUS_HOME (database already migrated)")
    args = parser.parse_args()
    times: list[float] = []
    with tempfile.TemporaryDirectory() as shared_home:
        for i in range(args.runs):
            if args.warm:
                times.append(await one_run(shared_home))
            else:
                with tempfile.TemporaryDirectory() as home:
                    times.append(await one_run(home))
            print(f"run {i + 1}: {times[-1] * 1000:.0f} ms", file=sys.stderr)
    times.sort()
    print(f"cold start ({'warm home' if args.warm else 'fresh home'}), {args.runs} runs")
    print(
        f"  median {statistics.median(times) * 1000:.0f} ms   min {times[0] * 1000:.0f} ms   "
        f"max {times[-1] * 1000:.0f} ms   target <= 1500 ms"
    )


if __name__ == "__main__":
    anyio.run(main)
