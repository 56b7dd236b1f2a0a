"""Fan-out benchmark: one Nexus fan-out call to N satellites whose tool takes 100 ms.

    PYTHONPATH=. python benchmarks/fanout.py                 # 50 and 500 satellites
    PYTHONPATH=. python benchmarks/fanout.py --sizes 50 --processes 2 --rounds 5

Satellites are real MCP servers reached over real HTTP: ``--processes`` uvicorn
processes each serve a share of the endpoints (``/s{i}/mcp``). The pool is
warmed first (connections opened and tool lists fetched, as in a running
Nexus); each size is then measured ``--rounds`` times and the median reported,
next to one single call for reference. Targets: 50 satellites <= 300 ms,
500 satellites <= 1.5 s.
"""

from __future__ import annotations

import argparse
import math
import os
import socket
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import anyio

from nexus_agent.satellites import PoolSettings, SatellitePool
from nexus_agent.wire.models import AppEndpoints, AppRecord, AppStatus

HERE = Path(__file__).resolve().parent
TARGETS = {50: 0.300, 500: 1.5}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_servers(stack: ExitStack, total: int, processes: int, delay_ms: float) -> list[str]:
    """Start the satellite processes; return one MCP URL per satellite."""
    per = math.ceil(total / processes)
    urls: list[str] = []
    procs = []
    for p in range(processes):
        first, count = p * per, min(per, total - p * per)
        if count <= 0:
            break
        port = free_port()
        cmd = [sys.executable, str(HERE / "_serve.py"), "--port", str(port), "--first", str(first)]
        cmd += ["--count", str(count), "--delay-ms", str(delay_ms)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=os.environ.copy())
        stack.callback(proc.wait, 10)
        stack.callback(proc.terminate)
        procs.append(proc)
        urls += [f"http://127.0.0.1:{port}/s{i}/mcp" for i in range(first, first + count)]
    for proc in procs:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "READY" not in line:
            raise RuntimeError(f"a satellite process did not start (got {line!r})")
    return urls


def records(urls: list[str]) -> list[AppRecord]:
    return [
        AppRecord(slug=f"s{i}", name=f"Satellite {i}", status=AppStatus.active, endpoints=AppEndpoints(mcp_url=url))
        for i, url in enumerate(urls)
    ]


async def measure(urls: list[str], sizes: list[int], rounds: int, watch: bool, concurrency: int) -> dict[str, float]:
    settings = PoolSettings(fanout_concurrency=concurrency or max(sizes), watch_tool_changes=watch, call_timeout=30)
    figures: dict[str, float] = {}
    async with SatellitePool(records(urls), settings=settings) as pool:
        started = time.perf_counter()
        warm = await pool.fan_out("work", {}, slugs=[f"s{i}" for i in range(len(urls))])
        figures["cold_fanout_all_s"] = time.perf_counter() - started
        failed = [i for i in warm.items if not i.ok]
        if failed:
            raise RuntimeError(f"{len(failed)} satellites failed during warm-up: {failed[0].error}")
        singles = []
        for _ in range(rounds):
            t = time.perf_counter()
            await pool.call("s0__work", {})
            singles.append(time.perf_counter() - t)
        figures["single_call_s"] = statistics.median(singles)
        for size in sizes:
            slugs = [f"s{i}" for i in range(size)]
            times = []
            for _ in range(rounds):
                t = time.perf_counter()
                result = await pool.fan_out("work", {}, slugs=slugs)
                times.append(time.perf_counter() - t)
                assert len(result.succeeded) == size, result.failed[:1]
            figures[f"fanout_{size}_s"] = statistics.median(times)
            figures[f"fanout_{size}_max_s"] = max(times)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 500])
    parser.add_argument("--processes", type=int, default=4, help="satellite server processes")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--delay-ms", type=float, default=100.0)
    parser.add_argument("--no-watch", action="store_true", help="do not open tools/list_changed streams")
    parser.add_argument(
        "--concurrency", type=int, default=0, help="satellites at once (Nexus's default is 64; 0: all of them)"
    )
    args = parser.parse_args()
    with ExitStack() as stack:
        urls = start_servers(stack, max(args.sizes), args.processes, args.delay_ms)
        figures = anyio.run(measure, urls, args.sizes, args.rounds, not args.no_watch, args.concurrency)
    print(f"satellites served by {args.processes} process(es); tool delay {args.delay_ms:g} ms")
    print(
        f"cold fan-out to all {max(args.sizes)} (connect + list + call): {figures['cold_fanout_all_s'] * 1000:.0f} ms"
    )
    print(f"single call (warm):                 {figures['single_call_s'] * 1000:.0f} ms")
    ok = True
    for size in args.sizes:
        median, worst = figures[f"fanout_{size}_s"], figures[f"fanout_{size}_max_s"]
        target = TARGETS.get(size)
        verdict = "" if target is None else (" OK" if median <= target else " OVER TARGET")
        ok &= target is None or median <= target
        ratio = median / figures["single_call_s"]
        print(
            f"fan-out to {size:4d} (warm): median {median * 1000:6.0f} ms, worst {worst * 1000:6.0f} ms, "
            f"{ratio:.1f}x one call{'' if target is None else f', target {target * 1000:.0f} ms'}{verdict}"
        )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
