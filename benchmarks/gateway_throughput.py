"""Calls per second at 8 clients: a bare SDK server, a cheap Nexus tool, and a satellite tool proxied by Nexus.

    PYTHONPATH=. python benchmarks/gateway_throughput.py [--clients 8] [--seconds 5] [--rounds 3]

Three servers on 127.0.0.1, all streamable HTTP: a bare ``MCPServer`` with a trivial ``ping``
tool (the baseline, also registered as the satellite ``bench``), and a real ``nexus serve --http``
on its own home. Each phase runs ``--clients`` client *processes* (the SDK's ``Client``, one
reused connection each) calling as fast as they can for ``--seconds``:

- ``bare``: ``ping`` on the bare server;
- ``nexus-tool``: Nexus's own ``registry_get`` of the one registered app (a cheap read);
- ``proxied``: ``bench__ping`` through Nexus to the bare server.

Phases alternate for ``--rounds`` rounds so the machine's load hits each alike; reports the median
calls/s of each and its ratio to the bare server's in the same run. Targets (issue #13): a cheap
Nexus tool >= 0.8x and a proxied call >= 0.7x the bare server's calls/s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import anyio
from mcp import Client

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from proxy_cost import free_port, start, start_nexus  # noqa: E402  (the same servers as the proxy benchmark)

TARGETS = {"nexus-tool": 0.8, "proxied": 0.7}


async def worker(url: str, tool: str, arguments: dict[str, object], seconds: float) -> None:
    async with Client(url, cache=None) as client:
        for _ in range(5):  # warm: connection, tool list, caches
            await client.call_tool(tool, arguments)
        print("GO", flush=True)
        sys.stdin.readline()  # every client starts at once
        done, deadline = 0, time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            result = await client.call_tool(tool, arguments)
            assert not result.is_error, result.content
            done += 1
    print(done, flush=True)


def phase(url: str, tool: str, arguments: dict[str, object], clients: int, seconds: float) -> float:
    args = [sys.executable, __file__, "--worker", url, tool, json.dumps(arguments), str(seconds)]
    procs = [subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(clients)]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "GO", f"{tool}: a client failed"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("\n")
            proc.stdin.flush()
        counts = [int(proc.communicate(timeout=seconds + 60)[0].strip()) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    return sum(counts) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sat_port, nexus_port = free_port(), free_port()
    bare = f"http://127.0.0.1:{sat_port}/s0/mcp"
    nexus = f"http://127.0.0.1:{nexus_port}/mcp"
    phases: dict[str, tuple[str, str, dict[str, object]]] = {
        "bare": (bare, "ping", {}),
        "nexus-tool": (nexus, "registry_get", {"slug": "bench"}),
        "proxied": (nexus, "bench__ping", {}),
    }
    rates: dict[str, list[float]] = {name: [] for name in phases}
    with ExitStack() as stack:
        start(stack, "_serve.py", "--port", str(sat_port), "--count", "1")
        start_nexus(stack, nexus_port, bare)
        for _ in range(args.rounds):
            for name, (url, tool, arguments) in phases.items():
                rates[name].append(phase(url, tool, arguments, args.clients, args.seconds))
    base = statistics.median(rates["bare"])
    print(f"{args.clients} clients, {args.seconds:g} s per phase, {args.rounds} rounds (median calls/s)")
    for name, values in rates.items():
        ratio = statistics.median(values) / base
        target = TARGETS.get(name)
        verdict = "" if target is None else f" (target >= {target}) {'OK' if ratio >= target else 'UNDER TARGET'}"
        runs = ", ".join(f"{v:.0f}" for v in values)
        print(f"  {name:<11} {statistics.median(values):7.0f} calls/s  ratio {ratio:.2f}{verdict}   runs: {runs}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        url, tool, arguments, seconds = sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), float(sys.argv[5])
        anyio.run(worker, url, tool, arguments, seconds)
    else:
        os.environ.setdefault("PYTHONPATH", str(HERE.parent))
        main()
