"""Nexus's own heavy tools over real MCP: ``registry_list`` of 500 apps and ``gaps_analyse`` at 5,000 apps.

    PYTHONPATH=. python benchmarks/gateway_tools.py [--apps 500] [--gap-apps 5000] [--runs 15]

Each registry is filled in process (registrations with capabilities, workflows and tags, like
a real portfolio), then a real ``nexus serve --http`` is started on it and a real MCP client
(streamable HTTP, the SDK's ``Client``, which checks structured results against the tool's
output schema) calls the tool. The baseline in the same run is the same call in process
(``registry.list`` / ``analyse_gaps`` on already-open services): what the tool costs without
MCP. Calls interleave with the baseline so the machine's load hits both alike. The apps' health URLs
answer ``{"status": "ok"}`` (a small server in this process): a healthy portfolio, so Nexus's health
monitor does not mark 1,000 apps degraded (1,000 registry writes) while the calls are timed.
Targets: registry_list of 500 apps <= 100 ms, gaps_analyse at 5,000 apps <= 200 ms (medians).
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from nexus_agent.config import Settings
from nexus_agent.gaps import analyse_gaps
from nexus_agent.services import open_services_sync
from nexus_agent.wire.models import AppFilter, AppRecord

HERE = Path(__file__).resolve().parent
WORDS = [
    "quote",
    "invoice",
    "survey",
    "schedule",
    "stock",
    "install",
    "fabricate",
    "glazing",
    "delivery",
    "payment",
    "report",
    "approval",
]
CAPABILITIES = ["credit checks", "installation scheduling", "quote pricing", "stock control", "warranty repairs"]


SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "bu", "da", "fe", "gi", "ho", "ju"]


def word(n: int) -> str:
    """A made-up word per number (a real portfolio's vocabulary is wide: few apps share a capability)."""
    return "".join(SYLLABLES[(n // 15**k) % 15] for k in range(3)) + "x"


def record(i: int, health: str = "http://127.0.0.1:9") -> AppRecord:
    # one app in 50 speaks the owner's domain words; the rest have their own made-up vocabulary
    w = [WORDS[(i + k) % len(WORDS)] if i % 50 == 0 else word(i * 7 + k) for k in range(4)]
    return AppRecord.model_validate(
        {
            "slug": f"app-{i:05d}",
            "name": f"{w[0].title()} {w[1]} app {i}",
            "description": f"Handles {w[0]} and {w[1]} work for the {w[2]} team; links to {w[3]}.",
            "category": "operations",
            "status": ["active", "approved", "pending", "placeholder", "degraded"][i % 5],
            "capabilities": [{"name": f"{x} management", "description": f"Create and track {x} records"} for x in w],
            "workflows": [{"name": f"{w[0]} flow", "description": "From request to done", "steps": ["ask", "do"]}],
            "tags": w[:2],
            "endpoints": {"health_url": f"{health}/app-{i:05d}/health"},  # no MCP endpoint: never called
        }
    )


def fill(home: str, count: int, health: str = "http://127.0.0.1:9") -> None:
    settings = Settings.load({"NEXUS_HOME": home})
    with open_services_sync(settings) as services:
        for i in range(count):
            services.registry.register_sync(record(i, health), actor="bench")  # type: ignore[attr-defined]


class _Healthy(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve_healthy() -> None:
    """Every app's health URL (run as a child process): answers ``{"status": "ok"}`` to any GET."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Healthy)
    print(server.server_address[1], flush=True)
    server.serve_forever()


def start_health_server(stack: ExitStack) -> str:
    """The health endpoints in a process of their own: answering Nexus's health sweeps of thousands of apps
    in this process would take the GIL from the client being timed (and, answered late, turn apps degraded:
    registry writes while the calls are timed)."""
    proc = subprocess.Popen([sys.executable, __file__, "--serve-healthy"], stdout=subprocess.PIPE, text=True)
    stack.callback(proc.wait, 10)
    stack.callback(proc.terminate)
    assert proc.stdout is not None
    return f"http://127.0.0.1:{int(proc.stdout.readline())}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_nexus(stack: ExitStack, home: str) -> str:
    port = free_port()
    env = {**os.environ, "NEXUS_HOME": home, "NEXUS_LOG_LEVEL": "WARNING"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "nexus_agent", "serve", "--http", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stack.callback(proc.wait, 10)
    stack.callback(proc.terminate)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1).close()
            return f"http://127.0.0.1:{port}/mcp"
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("nexus serve --http did not start")


async def measure(url: str, home: str, runs: int, tool: str, args: dict[str, Any], local: Any) -> dict[str, Any]:
    settings = Settings.load({"NEXUS_HOME": home})
    over_mcp: list[float] = []
    in_process: list[float] = []
    size = 0
    with open_services_sync(settings) as services:
        async with Client(url) as client:
            await client.list_tools()  # the client learns the output schemas, as any client does first
            for _ in range(2):  # warm both paths
                await client.call_tool(tool, args)
                await local(services)
            for _ in range(runs):
                t = time.perf_counter()
                result = await client.call_tool(tool, args)
                over_mcp.append(time.perf_counter() - t)
                assert not result.is_error, result.content
                size = len(json.dumps(result.structured_content))
                t = time.perf_counter()
                await local(services)
                in_process.append(time.perf_counter() - t)
    mcp_ms, local_ms = statistics.median(over_mcp) * 1000, statistics.median(in_process) * 1000
    return {"tool": tool, "mcp_ms": round(mcp_ms, 1), "in_process_ms": round(local_ms, 1),
            "ratio": round(mcp_ms / local_ms, 2), "result_kib": round(size / 1024)}  # fmt: skip


async def bench_registry(apps: int, runs: int) -> dict[str, Any]:
    with ExitStack() as stack:
        home = stack.enter_context(tempfile.TemporaryDirectory())
        fill(home, apps, start_health_server(stack))
        url = start_nexus(stack, home)

        async def local(services: Any) -> None:
            await services.registry.list(AppFilter(limit=500))

        out = await measure(url, home, runs, "registry_list", {"limit": 500}, local)
        return {**out, "apps": apps, "target_ms": 100}


async def bench_gaps(apps: int, runs: int) -> dict[str, Any]:
    with ExitStack() as stack:
        home = stack.enter_context(tempfile.TemporaryDirectory())
        fill(home, apps, start_health_server(stack))
        url = start_nexus(stack, home)

        async def local(services: Any) -> None:
            analyse_gaps(CAPABILITIES, await services.registry.all())

        out = await measure(url, home, runs, "gaps_analyse", {"capabilities": CAPABILITIES}, local)
        return {**out, "apps": apps, "target_ms": 200}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--apps", type=int, default=500)
    parser.add_argument("--gap-apps", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--only", choices=["registry", "gaps"])
    args = parser.parse_args()
    if args.only != "gaps":
        print(json.dumps(await bench_registry(args.apps, args.runs)))
    if args.only != "registry":
        print(json.dumps(await bench_gaps(args.gap_apps, args.runs)))


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve-healthy"]:
        serve_healthy()
    else:
        anyio.run(main)
