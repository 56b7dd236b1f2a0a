"""``tools/call`` throughput with one and with two ``nexus serve --http`` replicas on one PostgreSQL.

    python benchmarks/pg_replicas.py                 # throwaway cluster; 8 clients, 10 s per case
    python benchmarks/pg_replicas.py --clients 16 --seconds 20

Each client is a real MCP client over Streamable HTTP (protocol 2026-07-28, sessionless) that
calls one tool in a loop: ``memory_search`` (a read of the shared memory) or
``memory_remember`` (a committed write). With two replicas, clients are spread across both,
as a balancer would. Everything runs on this machine, so the replicas, PostgreSQL and the
clients share its cores: on 2 cores a second replica adds processes, not CPU.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nexus_agent.testing.postgres import ThrowawayCluster, create_database

TOKEN = "bench-owner-token-0123456789abcdef"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_replica(url: str, home: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEXUS_", "ANTHROPIC_"))}
    env |= {
        "NEXUS_HOME": str(home),
        "NEXUS_DATABASE_URL": url,
        "NEXUS_TOKENS": f"boss:owner={TOKEN}",
        "NEXUS_BACKUP_DIR": "off",
        "NEXUS_LOG_LEVEL": "WARNING",
    }
    home.mkdir(parents=True, exist_ok=True)
    log = (home / "serve.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "nexus_agent", "serve", "--http", f"127.0.0.1:{port}"], env=env, stdout=log, stderr=log
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1)
            return proc, f"http://127.0.0.1:{port}/mcp"
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"replica did not start; see {home / 'serve.log'}")


async def client_loop(url: str, tool: str, until: float, counts: list[int], worker: int) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        i = 0
        while time.monotonic() < until:
            args = {"query": "glazing bead"} if tool == "memory_search" else {"text": f"bench note {worker}-{i}"}
            result = await client.call_tool(tool, args)
            if result.is_error:
                raise SystemExit(f"{tool} failed: {result.content}")
            counts[worker] += 1
            i += 1


async def measure(urls: list[str], tool: str, clients: int, seconds: float) -> float:
    counts = [0] * clients
    until = time.monotonic() + seconds
    start = time.monotonic()
    async with anyio.create_task_group() as tg:
        for w in range(clients):
            tg.start_soon(client_loop, urls[w % len(urls)], tool, until, counts, w)
    return sum(counts) / (time.monotonic() - start)


async def run(args: argparse.Namespace) -> None:
    cluster = ThrowawayCluster.start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        url = create_database(cluster.url, "nexus_replicas_bench")
        root = Path(tempfile.mkdtemp(prefix="nexus-replicas-"))
        replicas = []
        for name in ("a", "b"):
            proc, mcp_url = start_replica(url, root / name)
            procs.append(proc)
            replicas.append(mcp_url)
        await measure(replicas[:1], "memory_remember", 2, 2.0)  # warm up, and something to find
        print(f"{os.cpu_count()} cores; {args.clients} clients; {args.seconds:.0f} s per case")
        for tool in ("memory_search", "memory_remember"):
            one = await measure(replicas[:1], tool, args.clients, args.seconds)
            two = await measure(replicas, tool, args.clients, args.seconds)
            print(f"{tool:<16} one replica {one:7.1f} calls/s | two replicas {two:7.1f} calls/s | x{two / one:.2f}")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    anyio.run(run, parser.parse_args())


if __name__ == "__main__":
    main()
