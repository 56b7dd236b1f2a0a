"""Proxy-cost benchmark: a trivial tool called through Nexus vs. called directly.

    PYTHONPATH=. python benchmarks/proxy_cost.py [--calls 300] [--sse]

Both paths use the same transport (streamable HTTP, over loopback) in the same
run: client -> satellite, and client -> Nexus -> satellite, where Nexus is the real
`nexus serve --http` (its own database, the satellite registered through
`nexus registry register`), calling the satellite's tool listed as `bench__ping`.
`--minimal` swaps in benchmarks/_proxy.py, a bare forwarding server, to show how
much of the cost is Nexus's own work.
Calls alternate between the two paths so drift hits both alike. Reports the
median latency of each and their ratio; target ratio <= 1.5 (issue #13).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import anyio
from mcp import Client

HERE = Path(__file__).resolve().parent
TARGET = 1.5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(stack: ExitStack, script: str, *args: str) -> None:
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), env.get("PYTHONPATH")]))
    proc = subprocess.Popen([sys.executable, str(HERE / script), *args], stdout=subprocess.PIPE, text=True, env=env)
    stack.callback(proc.wait, 10)
    stack.callback(proc.terminate)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "READY" not in line:
        raise RuntimeError(f"{script} did not start (got {line!r})")


def start_nexus(stack: ExitStack, port: int, satellite_url: str) -> None:
    home = stack.enter_context(tempfile.TemporaryDirectory())
    env = {**os.environ, "NEXUS_HOME": home, "NEXUS_LOG_LEVEL": "WARNING"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), env.get("PYTHONPATH")]))
    record = {"slug": "bench", "name": "Bench", "status": "active", "endpoints": {"mcp_url": satellite_url}}
    path = Path(home) / "bench.json"
    path.write_text(json.dumps(record))
    nexus = [sys.executable, "-m", "nexus_agent"]
    subprocess.run([*nexus, "registry", "register", str(path)], env=env, check=True, capture_output=True)
    proc = subprocess.Popen([*nexus, "serve", "--http", f"127.0.0.1:{port}"], env=env, stderr=subprocess.DEVNULL)
    stack.callback(proc.wait, 10)
    stack.callback(proc.terminate)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nexus serve --http did not start within 30 s")


async def measure(direct_url: str, nexus_url: str, calls: int) -> tuple[list[float], list[float]]:
    direct: list[float] = []
    proxied: list[float] = []
    async with Client(direct_url, cache=None) as sat, Client(nexus_url, cache=None) as nexus:
        await sat.list_tools()
        await nexus.list_tools()
        for _ in range(20):  # warm both paths
            await sat.call_tool("ping", {})
            await nexus.call_tool("bench__ping", {})
        for _ in range(calls):
            t = time.perf_counter()
            result = await sat.call_tool("ping", {})
            direct.append(time.perf_counter() - t)
            assert not result.is_error
            t = time.perf_counter()
            result = await nexus.call_tool("bench__ping", {})
            proxied.append(time.perf_counter() - t)
            assert not result.is_error, result.content
    return direct, proxied


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--sse", action="store_true", help="the satellite answers with SSE streams, not JSON bodies")
    parser.add_argument("--minimal", action="store_true", help="a bare forwarding server instead of real Nexus")
    args = parser.parse_args()
    sse = ["--sse"] if args.sse else []
    sat_port, nexus_port = free_port(), free_port()
    direct_url = f"http://127.0.0.1:{sat_port}/s0/mcp"
    with ExitStack() as stack:
        start(stack, "_serve.py", "--port", str(sat_port), "--count", "1", *sse)
        if args.minimal:
            start(stack, "_proxy.py", "--port", str(nexus_port), "--satellite", direct_url, *sse)
        else:
            start_nexus(stack, nexus_port, direct_url)
        direct, proxied = anyio.run(measure, direct_url, f"http://127.0.0.1:{nexus_port}/mcp", args.calls)
    d, p = statistics.median(direct), statistics.median(proxied)
    ratio = p / d
    print(f"transport: streamable HTTP ({'SSE' if args.sse else 'JSON'} responses), {args.calls} calls per path")
    print(f"direct  client -> satellite:          median {d * 1000:.2f} ms")
    via = "minimal proxy" if args.minimal else "Nexus"
    print(f"proxied client -> {via} -> satellite: median {p * 1000:.2f} ms")
    print(f"ratio {ratio:.2f} (target <= {TARGET}) {'OK' if ratio <= TARGET else 'OVER TARGET'}")
    sys.exit(0 if ratio <= TARGET else 1)


if __name__ == "__main__":
    main()
