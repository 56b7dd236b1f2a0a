"""Cold start: spawn `nexus serve` over stdio until its first `tools/list` is answered.

Usage: python benchmarks/cold_start.py [--runs 15]

Each run uses a fresh NEXUS_HOME (new database, migrations applied), so it
measures the worst case a desktop client sees on first launch; `--warm` reuses
one home to measure an ordinary launch. Each run is followed by one of a bare
SDK server with ten trivial tools (the baseline, interleaved so load hits both
alike). Target: median ratio to the baseline <= 1.5.
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

BARE = """
from mcp.server import MCPServer
server = MCPServer("bare")
for i in range(10):
    server.tool(name=f"noop_{i}")(lambda x: x)
server.run()
"""


async def one_run(home: str, *, bare: bool = False) -> float:
    env = {**os.environ, "NEXUS_HOME": home}
    args = ["-c", BARE] if bare else ["-m", "nexus_agent", "serve"]
    params = StdioServerParameters(command=sys.executable, args=args, env=env)
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
    bare: list[float] = []
    with tempfile.TemporaryDirectory() as shared_home:
        for i in range(args.runs):
            if args.warm:
                times.append(await one_run(shared_home))
            else:
                with tempfile.TemporaryDirectory() as home:
                    times.append(await one_run(home))
            bare.append(await one_run(shared_home, bare=True))
            print(f"run {i + 1}: {times[-1] * 1000:.0f} ms (bare SDK server {bare[-1] * 1000:.0f} ms)", file=sys.stderr)
    times.sort()
    ratio = statistics.median(times) / statistics.median(bare)
    print(f"cold start ({'warm home' if args.warm else 'fresh home'}), {args.runs} runs")
    print(
        f"  median {statistics.median(times) * 1000:.0f} ms   min {times[0] * 1000:.0f} ms   "
        f"max {times[-1] * 1000:.0f} ms; bare SDK server median {statistics.median(bare) * 1000:.0f} ms; "
        f"ratio {ratio:.2f} (target <= 1.5)"
    )


if __name__ == "__main__":
    anyio.run(main)
