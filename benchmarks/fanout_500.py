"""Fan-out through Nexus's MCP endpoint: `satellite_fan_out` to N satellites, first and warm.

    PYTHONPATH=. python benchmarks/fanout_500.py [--satellites 500] [--processes 2] [--rounds 3]

The satellites are real MCP servers over real HTTP (benchmarks/_serve.py, ``work`` sleeps 100 ms),
registered in a fresh Nexus home; a real ``nexus serve --http`` runs with its default settings
(tool lists within NEXUS_SATELLITE_LIST_TIMEOUT_S, NEXUS_FANOUT_CONCURRENCY at once) and a real MCP
client calls ``satellite_fan_out``. The first call connects to every satellite and lists its tools;
the next ones are warm. The baseline in the same run is one satellite call through Nexus. Next to the wall
times it reports the CPU seconds Nexus and the satellite processes spent on each fan-out: on a shared
2-core machine their sum is what the wall time of a first fan-out is made of.
Targets: first <= 3 s with no failures, warm <= 1.5 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from contextlib import ExitStack

import anyio
from fanout import start_servers  # this folder: the script is run as benchmarks/fanout_500.py
from gateway_tools import start_nexus
from mcp import Client

from nexus_agent.config import Settings
from nexus_agent.services import open_services_sync
from nexus_agent.wire.models import AppEndpoints, AppRecord, AppStatus


def register(home: str, urls: list[str]) -> None:
    with open_services_sync(Settings.load({"NEXUS_HOME": home})) as services:
        for i, url in enumerate(urls):
            record = AppRecord(
                slug=f"s{i}", name=f"Satellite {i}", status=AppStatus.active, endpoints=AppEndpoints(mcp_url=url)
            )
            services.registry.register_sync(record, actor="bench")  # type: ignore[attr-defined]


def cpu_seconds(match: str) -> float:
    """CPU time (user + system) so far of this process's children whose command line holds ``match``.

    Wall times on a shared machine swing with its load; the CPU Nexus spends per fan-out is steadier."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat[1]) == os.getpid() and match in cmdline:
            total += (int(stat[11]) + int(stat[12])) / tick
    return total


async def measure(url: str, count: int, rounds: int) -> dict[str, float]:
    args = {"tool": "work", "apps": [f"s{i}" for i in range(count)], "timeout_s": 60}
    async with Client(url) as client:
        cpu, sat_cpu = cpu_seconds("nexus_agent serve"), cpu_seconds("_serve.py")
        t = time.perf_counter()
        first = await client.call_tool("satellite_fan_out", args)
        first_s, first_cpu = time.perf_counter() - t, cpu_seconds("nexus_agent serve") - cpu
        first_sat_cpu = cpu_seconds("_serve.py") - sat_cpu
        items = first.structured_content["items"] if first.structured_content else []
        failures = sum(1 for i in items if not i["ok"])
        warm, single, warm_cpu, warm_sat_cpu = [], [], [], []
        for _ in range(rounds):
            cpu, sat_cpu = cpu_seconds("nexus_agent serve"), cpu_seconds("_serve.py")
            t = time.perf_counter()
            result = await client.call_tool("satellite_fan_out", args)
            warm.append(time.perf_counter() - t)
            warm_cpu.append(cpu_seconds("nexus_agent serve") - cpu)
            warm_sat_cpu.append(cpu_seconds("_serve.py") - sat_cpu)
            assert result.structured_content, result.content
            failures += sum(1 for i in result.structured_content["items"] if not i["ok"])
            t = time.perf_counter()
            await client.call_tool("s0__work", {})
            single.append(time.perf_counter() - t)
    return {"first_s": first_s, "warm_s": statistics.median(warm), "single_s": statistics.median(single),
            "failures": failures, "first_cpu_s": first_cpu, "warm_cpu_s": statistics.median(warm_cpu),
            "first_sat_cpu_s": first_sat_cpu, "warm_sat_cpu_s": statistics.median(warm_sat_cpu)}  # fmt: skip


def one_run(satellites: int, processes: int, rounds: int) -> dict[str, float]:
    """A fresh set of satellites, a fresh Nexus home and ``nexus serve``: one first fan-out, then warm ones."""
    with ExitStack() as stack:
        urls = start_servers(stack, satellites, processes, 100.0)
        home = stack.enter_context(tempfile.TemporaryDirectory())
        register(home, urls)
        nexus = start_nexus(stack, home)
        return anyio.run(measure, nexus, satellites, rounds)


def report(figures: dict[str, float], label: str) -> None:
    print(
        f"{label}first fan-out: {figures['first_s'] * 1000:.0f} ms (target <= 3000 ms), failures: "
        f"{figures['failures']:.0f}; Nexus CPU {figures['first_cpu_s'] * 1000:.0f} ms, "
        f"satellites' CPU {figures['first_sat_cpu_s'] * 1000:.0f} ms"
    )
    print(
        f"{label}warm fan-out:  median {figures['warm_s'] * 1000:.0f} ms (target <= 1500 ms); one call through Nexus "
        f"{figures['single_s'] * 1000:.0f} ms; ratio {figures['warm_s'] / figures['single_s']:.1f}; "
        f"Nexus CPU {figures['warm_cpu_s'] * 1000:.0f} ms, satellites' CPU {figures['warm_sat_cpu_s'] * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--satellites", type=int, default=500)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="warm fan-outs per run")
    parser.add_argument("--runs", type=int, default=1, help="fresh starts, each with one first fan-out (medians)")
    parser.add_argument(
        "--no-watch", action="store_true", help="NEXUS_SATELLITE_WATCH_TOOLS=false: no tool-change stream per satellite"
    )
    args = parser.parse_args()
    if args.no_watch:
        os.environ["NEXUS_SATELLITE_WATCH_TOOLS"] = "false"  # nexus serve inherits this process's environment
    runs = [one_run(args.satellites, args.processes, args.rounds) for _ in range(args.runs)]
    streams = "no tool-change streams" if args.no_watch else "a tool-change stream per satellite (the default)"
    print(
        f"{args.satellites} satellites in {args.processes} process(es), tool delay 100 ms, through nexus serve "
        f"--http; {streams}"
    )
    if len(runs) > 1:
        for i, figures in enumerate(runs, 1):
            report(figures, f"run {i}: ")
        medians = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        medians["failures"] = sum(r["failures"] for r in runs)
        report(medians, f"median of {len(runs)} runs (failures: all runs): ")
    else:
        report(runs[0], "")
    print(f"machine load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
