"""``tools/call`` throughput with one and with two ``nexus serve --http`` replicas on one PostgreSQL.

    python benchmarks/pg_replicas.py                 # throwaway cluster; 8 clients, 10 s per case
    python benchmarks/pg_replicas.py --clients 16 --seconds 20

Each client is a real MCP client over Streamable HTTP (protocol 2026-07-28, sessionless) that
calls one tool in a loop: ``memory_search`` (a read of the shared memory) or
``memory_remember`` (a committed write). With two replicas, clients are spread across both,
as a balancer would. Everything runs on this machine, so the replicas, PostgreSQL and the
clients share its cores: on 2 cores a second replica adds processes, not CPU.

While each case runs, PostgreSQL's ``pg_stat_activity`` is sampled every 10 ms: the line under
it says what the database's busy connections were doing (``Lock:advisory`` is a write queuing
on an advisory lock; ``idle in transaction`` is a transaction waiting for its replica's next
statement), which does not depend on how busy the rest of the machine is. ``--rounds`` repeats
every case and prints the median.
"""

from __future__ import annotations

import argparse
import collections
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import anyio
import httpx
import httpx2
import psycopg
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


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far (Linux ``/proc``)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


class WaitSampler:
    """What the benchmark database's connections are doing, sampled every 10 ms in a thread."""

    QUERY = (
        "SELECT CASE WHEN state = 'idle in transaction' THEN 'idle in transaction' "
        "ELSE coalesce(wait_event_type || ':' || wait_event, 'running') END "
        "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND state IN ('active', 'idle in transaction')"
    )

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: collections.Counter[str] = collections.Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.wait(0.01):
                self.seen.update(row[0] for row in conn.execute(self.QUERY))

    def __enter__(self) -> WaitSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> str:
        total = sum(self.seen.values()) or 1
        return ", ".join(f"{what} {n / total:.0%}" for what, n in self.seen.most_common(4))


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
        pids = [p.pid for p in procs]
        idle = cpu_seconds(pids)
        await anyio.sleep(5)
        print(f"idle replicas use {(cpu_seconds(pids) - idle) / 5 / len(pids):.1%} of a core each")
        results: dict[tuple[str, int], list[float]] = collections.defaultdict(list)
        for _ in range(args.rounds):
            for tool in args.tools:
                for n in (1, 2):
                    load, cpu = os.getloadavg()[0], cpu_seconds(pids[:n])
                    with WaitSampler(url) as waits:
                        rate = await measure(replicas[:n], tool, args.clients, args.seconds)
                    per_call = (cpu_seconds(pids[:n]) - cpu) / (rate * args.seconds) * 1000
                    results[tool, n].append(rate)
                    print(
                        f"{tool:<16} {n} replica(s) {rate:7.1f} calls/s (load {load:.1f}; replica CPU "
                        f"{per_call:.1f} ms/call) | db: {waits.summary()}"
                    )
        for tool in args.tools:
            one, two = statistics.median(results[tool, 1]), statistics.median(results[tool, 2])
            print(f"median {tool:<16} one replica {one:7.1f} | two replicas {two:7.1f} calls/s | x{two / one:.2f}")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=1, help="repeat every case; the median is printed")
    parser.add_argument("--tools", nargs="+", default=["memory_search", "memory_remember"], help="tools to measure")
    anyio.run(run, parser.parse_args())


if __name__ == "__main__":
    main()
