"""Legacy bridge benchmark: a message-handler call through Nexus vs the same POST sent directly.

    PYTHONPATH=. python benchmarks/legacy_bridge.py                  # 3 runs of 200 calls each, fan-out to 50
    PYTHONPATH=. python benchmarks/legacy_bridge.py --calls 500 --apps 50 --rounds 5 --runs 5
    PYTHONPATH=. python benchmarks/legacy_bridge.py --apps 1 --no-fan-out       # the single-call ratio only
    PYTHONPATH=. python benchmarks/legacy_bridge.py --apps 1 --no-fan-out --app-work-ms 5   # an app that works

1. One fake legacy app (``nexus_agent.testing.FakeLegacyApp``, its own process, real HTTP
   on 127.0.0.1) answers ``query.stock_level``.
2. ``nexus serve --http`` (its own process, a fresh home) has the app registered, and
   ``ledger-000__query_stock_level`` is called through it one call at a time by two clients,
   each on one reused connection: a plain JSON-RPC client (one sessionless 2026-07-28
   ``tools/call`` POST, as any HTTP client may send it) and the SDK's ``Client`` over
   streamable HTTP. The direct figure is the same signed POST sent by a plain ``httpx``
   client with a kept-alive connection (as any other client of the app sends it). Target:
   ratio <= 1.5.
   For scale, the same run times a Nexus tool that contacts nothing (``registry_get`` with
   the SDK client: the MCP hop alone), the bare satellite pool calling the app in this
   process (the bridge alone), and the floor: the same JSON-RPC call through a bare relay
   (its own process: uvicorn with httptools, Nexus's kept-alive client, the message signed,
   and nothing else: no credential, role, schema, secret guard, metrics or middleware).
   The steps are alternated call by call, so load on the machine hits each alike; ``--runs``
   repeats the whole set and every run is reported (the machine is shared: look at the
   spread, not one figure). Each run also times every relayed step *paired* with the direct POST
   alone (the two alternated call by call, nothing else between them): the six-way alternation
   lets the other steps' code and processes push each step's out of the caches, which costs a
   three-process path more than the two-process direct one (the bare relay reads 1.3x paired and
   about 1.5x six-way in the same run), so the paired ratio is the issue's comparison as stated:
   the call through Nexus against the same POST sent directly. After each run, the direct
   POST and both clients through Nexus are run alone ``--calls`` times and the CPU each
   process spent per call (client, Nexus, app; from /proc) is reported too: under a
   varying load that is the steadier figure. Nexus runs as deployed over HTTP
   (``NEXUS_TOKENS`` set; the clients send a bearer token). The fake answers at once (the
   hardest case for the ratio: Nexus's own cost is all there is to see); ``--app-work-ms``
   makes each message wait as a real app's own I/O would.
3. Fan-out: ``--apps`` legacy apps (one process serving each under its own path) are
   registered in the same Nexus and ``satellite_fan_out`` calls ``query_stock_level`` on
   all of them through MCP; the median of ``--rounds`` is reported, with the same fan-out
   made by a bare ``SatellitePool`` in this process for reference.

Prints one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from nexus_agent.satellites import PoolSettings, SatellitePool
from nexus_agent.satellites.message_handler import build_message
from nexus_agent.wire.models import AppRecord
from nexus_agent.wire.signing import sign_body

SECRET = "bench-legacy-secret-0123456789abcdef"
TOKEN = "bench-owner-token-0123456789abcdef"  # Nexus over HTTP as deployed: clients send a bearer token
TOOL = "query_stock_level"
ARGS = {"sku": "EXT-6063-50x50", "yard": "north"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the legacy apps' process -----------------------------------------------------------------------------------------
def serve_apps(port: int, count: int, work_ms: float = 0.0, varying: bool = False) -> None:
    """Serve ``count`` fake legacy apps under /a{i}/ on one uvicorn (run as a child process).

    ``work_ms``: each message waits that long before it is answered (an app's own I/O, e.g. its database).
    ``varying``: each stock level answer also says when it was read (``as_of``, to the microsecond), so no two
    answers are alike, as a real app's are: the secret guard judges every one afresh."""
    import logging

    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from nexus_agent.testing.fake_legacy_app import FakeLegacyApp

    logging.disable(logging.WARNING)
    apps = [FakeLegacyApp(f"ledger-{i:03d}", SECRET) for i in range(count)]
    for app in apps if varying else []:
        app.handlers["query.stock_level"] = _with_as_of(app.handlers["query.stock_level"])
    routes = [Mount(f"/a{i}", app=_working(a.asgi_app(), work_ms / 1000)) for i, a in enumerate(apps)]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        print("READY", flush=True)
        yield

    uvicorn.run(Starlette(routes=routes, lifespan=lifespan), host="127.0.0.1", port=port, log_level="warning")


def _with_as_of(level: Any) -> Any:
    return lambda params: {**level(params), "as_of": datetime.now(UTC).isoformat()}


def _working(app: Any, seconds: float) -> Any:
    if not seconds:
        return app

    async def working(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].endswith("/api/messages/handle"):
            await anyio.sleep(seconds)
        await app(scope, receive, send)

    return working


@contextlib.contextmanager
def app_process(count: int, work_ms: float = 0.0, varying: bool = False) -> Iterator[tuple[str, int]]:
    port = free_port()
    cmd = [sys.executable, __file__, "--serve-apps", str(port), "--apps", str(count), "--app-work-ms", str(work_ms)]
    cmd += ["--varying-answers"] if varying else []
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        if "READY" not in proc.stdout.readline():
            raise RuntimeError("the legacy apps did not start")
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


# -- the bare relay's process: the floor of any HTTP relay in Python ------------------------------------------------
def serve_bare_relay(port: int, target: str) -> None:
    """A relay with nothing but the relay in it (run as a child process): uvicorn with httptools, as Nexus serves,
    reads the JSON-RPC call, signs the message, POSTs it on Nexus's own kept-alive client
    (``RelayConnections``) and answers the result. No credential, no role, no argument schema, no secret guard, no
    metrics, no middleware: what Nexus adds to a call is what it measures above this floor."""
    import logging

    import uvicorn

    from nexus_agent.outbound import OutboundPolicy
    from nexus_agent.satellites.relay_http import RelayConnections

    logging.disable(logging.WARNING)
    relay: list[RelayConnections] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        call = json.loads(body)
        if not relay:
            relay.append(RelayConnections(OutboundPolicy(), None, connect_timeout=5))
        request_id = uuid.uuid4().hex
        sent = build_message(
            "query.stock_level", call["params"]["arguments"], request_id=request_id, now=datetime.now(UTC)
        )
        headers = {"content-type": "application/json", "x-nexus-signature": sign_body(sent, SECRET)}
        result = json.loads((await relay[0].post(target, sent, headers, timeout=30)).body)["result"]
        content = [{"type": "text", "text": json.dumps(result)}]
        answer = {"content": content, "structuredContent": result, "isError": False}
        out = json.dumps({"jsonrpc": "2.0", "id": call["id"], "result": answer}).encode()
        start = [(b"content-type", b"application/json"), (b"content-length", str(len(out)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": start})
        await send({"type": "http.response.body", "body": out})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", http="httptools", lifespan="off")


@contextlib.contextmanager
def bare_relay_process(target: str) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve-bare-relay", str(port), target])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("the bare relay did not start")
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(10)


def record(base: str, i: int) -> AppRecord:
    from nexus_agent.testing.fake_legacy_app import stock_ledger_handlers

    handlers, specs = stock_ledger_handlers()
    return AppRecord.model_validate(
        {
            "slug": f"ledger-{i:03d}",
            "name": f"Ledger {i}",
            "status": "active",
            "capabilities": ["stock levels per yard"],
            "message_types": list(handlers),
            "message_specs": [s.model_dump() for s in specs],
            "endpoints": {
                "message_handler_url": f"{base}/a{i}/api/messages/handle",
                "health_url": f"{base}/a{i}/api/health",
            },
        }
    )


def secret_env(i: int) -> str:
    return f"SATELLITE_LEDGER_{i:03d}_WEBHOOK_SECRET"


# -- Nexus's process -----------------------------------------------------------------------------------------------
@contextlib.contextmanager
def nexus_process(base: str, count: int) -> Iterator[tuple[str, int]]:
    home = Path(tempfile.mkdtemp(prefix="nexus-bench-legacy-"))
    env = {**os.environ, "NEXUS_HOME": str(home), "NEXUS_DB_SYNC": "normal", "NEXUS_LOG_LEVEL": "WARNING"}
    env["NEXUS_TOKENS"] = TOKEN
    env.update({secret_env(i): SECRET for i in range(count)})
    nexus = [sys.executable, "-m", "nexus_agent"]
    for i in range(count):
        path = home / f"a{i}.json"
        path.write_text(record(base, i).model_dump_json())
        subprocess.run([*nexus, "registry", "register", str(path)], env=env, check=True, capture_output=True)
    port = free_port()
    log = (home / "serve.log").open("w")
    proc = subprocess.Popen([*nexus, "serve", "--http", f"127.0.0.1:{port}"], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code < 500:
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"nexus serve did not start; see {home / 'serve.log'}")
        yield f"http://127.0.0.1:{port}/mcp", proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


# -- measurements ---------------------------------------------------------------------------------------------------
async def _post(http: httpx.AsyncClient, url: str) -> None:
    request_id = uuid.uuid4().hex
    body = build_message("query.stock_level", ARGS, request_id=request_id, now=datetime.now(UTC))
    headers = {"Content-Type": "application/json", "X-Nexus-Signature": sign_body(body, SECRET)}
    answer = (await http.post(url, content=body, headers=headers)).json()
    if answer.get("request_id") != request_id or answer["result"]["qty"] != 42:
        raise RuntimeError(f"unexpected direct answer: {answer}")


def _jsonrpc_call(request_id: int) -> tuple[bytes, dict[str, str]]:
    """One sessionless 2026-07-28 ``tools/call`` as a plain HTTP client sends it (body, headers)."""
    name = f"ledger-000__{TOOL}"
    meta = {
        types.PROTOCOL_VERSION_META_KEY: "2026-07-28",
        types.CLIENT_CAPABILITIES_META_KEY: {},
        types.CLIENT_INFO_META_KEY: {"name": "bench", "version": "1"},
    }
    params = {"name": name, "arguments": ARGS, "_meta": meta}
    body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": name,
    }
    return json.dumps(body).encode(), headers


Step = Callable[[], Awaitable[None]]
STEPS = ("direct", "nexus_jsonrpc", "nexus_sdk", "own_tool", "pool", "bare_relay")


@contextlib.asynccontextmanager
async def single_steps(base: str, mcp_url: str, bare_url: str) -> AsyncIterator[dict[str, Step]]:
    """One reused client each: the direct POST, the call through Nexus by a plain JSON-RPC client and by the SDK
    client, a Nexus tool of its own (the MCP hop alone: Nexus reads its registry, contacts nothing), the bare
    pool in this process (the bridge alone) and the same JSON-RPC call through the bare relay (the floor: an HTTP
    hop in Python with nothing else in it). Every step checks its answer."""
    url = f"{base}/a0/api/messages/handle"
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=30))
        rpc_http = await stack.enter_async_context(httpx.AsyncClient(timeout=30, headers=bearer))
        mcp_http = await stack.enter_async_context(httpx2.AsyncClient(timeout=30, headers=bearer))
        client = await stack.enter_async_context(Client(streamable_http_client(mcp_url, http_client=mcp_http)))
        pool = await stack.enter_async_context(SatellitePool([record(base, 0)], secrets={secret_env(0): SECRET}))
        await client.list_tools()
        ids = iter(range(1, 10**9))

        async def plain(url: str = mcp_url) -> None:
            body, headers = _jsonrpc_call(next(ids))
            answer = (await rpc_http.post(url, content=body, headers=headers)).json()
            result = answer.get("result") or {}
            if result.get("isError") or (result.get("structuredContent") or {}).get("qty") != 42:
                raise RuntimeError(f"unexpected JSON-RPC answer through {url}: {answer}")

        async def floor() -> None:
            await plain(bare_url)

        async def through() -> None:
            result = await client.call_tool(f"ledger-000__{TOOL}", ARGS)
            if result.is_error or (result.structured_content or {}).get("qty") != 42:
                raise RuntimeError(f"unexpected answer through Nexus: {result.content}")

        async def own() -> None:
            result = await client.call_tool("registry_get", {"slug": "ledger-000"})
            if result.is_error:
                raise RuntimeError(f"registry_get failed: {result.content}")

        async def bare() -> None:
            await pool.call(f"ledger-000__{TOOL}", ARGS)

        async def direct() -> None:
            await _post(http, url)

        yield dict(zip(STEPS, (direct, plain, through, own, bare, floor), strict=True))


async def single_calls(steps: dict[str, Step], calls: int, warmup: int) -> dict[str, list[float]]:
    """Wall time of each step, alternated call by call (load on the machine hits each alike)."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    for n in range(warmup + calls):
        for name, step in steps.items():
            began = time.perf_counter()
            await step()
            if n >= warmup:
                times[name].append(time.perf_counter() - began)
    return times


def process_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) a process has used so far: this one's, or another's from /proc (Linux)."""
    if pid is None:
        return time.process_time()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def cpu_per_call(steps: dict[str, Step], pids: dict[str, int | None], calls: int) -> dict[str, Any]:
    """CPU milliseconds per call in each process (client, Nexus, app), each step run alone ``calls`` times.

    On a shared machine wall time swings with the load; the CPU each process spends is the steadier figure."""
    out: dict[str, Any] = {}
    for name in ("direct", "nexus_jsonrpc", "nexus_sdk"):
        before = {who: process_cpu(pid) for who, pid in pids.items()}
        for _ in range(calls):
            await steps[name]()
        used = {who: (process_cpu(pid) - before[who]) * 1000 / calls for who, pid in pids.items()}
        if name == "direct":
            used.pop("nexus")  # not involved
        out[name] = {who: round(ms, 3) for who, ms in used.items()} | {"total": round(sum(used.values()), 3)}
    return out


async def fan_out_through_nexus(url: str, count: int, rounds: int) -> list[float]:
    times: list[float] = []
    apps = [f"ledger-{i:03d}" for i in range(count)]
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        httpx2.AsyncClient(timeout=60, headers=bearer) as http,
        Client(streamable_http_client(url, http_client=http)) as c,
    ):
        for n in range(rounds + 1):
            began = time.perf_counter()
            result = await c.call_tool("satellite_fan_out", {"tool": TOOL, "arguments": ARGS, "apps": apps})
            elapsed = time.perf_counter() - began
            items = (result.structured_content or {}).get("items", [])
            ok = sum(1 for item in items if item.get("ok"))
            if result.is_error or ok != count:
                raise RuntimeError(f"fan-out through Nexus: {ok}/{count} ok: {str(result.content)[:300]}")
            if n:  # the first round opens the connections
                times.append(elapsed)
    return times


async def fan_out_in_process(base: str, count: int, rounds: int) -> list[float]:
    times: list[float] = []
    secrets = {secret_env(i): SECRET for i in range(count)}
    settings = PoolSettings(fanout_concurrency=count, call_timeout=30)
    async with SatellitePool([record(base, i) for i in range(count)], secrets=secrets, settings=settings) as pool:
        for n in range(rounds + 1):
            began = time.perf_counter()
            result = await pool.fan_out(TOOL, ARGS, slugs=[f"ledger-{i:03d}" for i in range(count)])
            elapsed = time.perf_counter() - began
            if len(result.succeeded) != count:
                raise RuntimeError(f"in-process fan-out: {len(result.succeeded)}/{count} ok: {result.failed[:1]}")
            if n:
                times.append(elapsed)
    return times


def ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 2)


PAIRED = ("nexus_jsonrpc", "nexus_sdk", "bare_relay")


async def paired_ratios(steps: dict[str, Step], calls: int, warmup: int) -> dict[str, float]:
    """Each relayed step alternated with the direct POST alone: its median over the direct one's, same calls."""
    out: dict[str, float] = {}
    for name in PAIRED:
        times = await single_calls({"direct": steps["direct"], name: steps[name]}, calls, warmup)
        out[name] = round(ms(times[name]) / ms(times["direct"]), 3)
    return out


def single_figures(single: dict[str, list[float]]) -> dict[str, float]:
    direct, plain, sdk = ms(single["direct"]), ms(single["nexus_jsonrpc"]), ms(single["nexus_sdk"])
    return {
        "direct_post_median_ms": direct,
        "through_nexus_jsonrpc_median_ms": plain,
        "ratio_jsonrpc": round(plain / direct, 2),
        "through_nexus_sdk_median_ms": sdk,
        "ratio_sdk": round(sdk / direct, 2),
        "nexus_own_tool_sdk_median_ms": ms(single["own_tool"]),
        "pool_in_process_median_ms": ms(single["pool"]),
        "pool_in_process_ratio": round(ms(single["pool"]) / direct, 2),
        "bare_relay_median_ms": ms(single["bare_relay"]),
        "bare_relay_ratio": round(ms(single["bare_relay"]) / direct, 2),
    }


async def measure(
    args: argparse.Namespace, base: str, mcp_url: str, bare_url: str, pids: dict[str, int | None]
) -> dict[str, Any]:
    runs, cpu, paired = [], [], []
    async with single_steps(base, mcp_url, bare_url) as steps:
        for _ in range(args.runs):
            runs.append(single_figures(await single_calls(steps, args.calls, args.warmup)))
            paired.append(await paired_ratios(steps, args.calls, args.warmup))
            if pids.get("nexus") is not None and Path("/proc/self/stat").exists():
                cpu.append(await cpu_per_call(steps, pids, args.calls))
    figures: dict[str, Any] = {
        "calls_per_run": args.calls,
        "app_work_ms": args.app_work_ms,
        "ratio_target": 1.5,
        "ratio_jsonrpc_median_of_runs": statistics.median(r["ratio_jsonrpc"] for r in runs),
        "ratio_sdk_median_of_runs": statistics.median(r["ratio_sdk"] for r in runs),
        "bare_relay_ratio_median_of_runs": statistics.median(r["bare_relay_ratio"] for r in runs),
        "paired_ratio_median_of_runs": {n: statistics.median(p[n] for p in paired) for n in PAIRED},
        "paired_runs": paired,
        "runs": runs,
    }
    if cpu:
        figures["cpu_ms_per_call"] = cpu
        figures["cpu_ratio_jsonrpc_median_of_runs"] = statistics.median(
            round(c["nexus_jsonrpc"]["total"] / c["direct"]["total"], 2) for c in cpu
        )
    if args.fan_out:
        fan_nexus = await fan_out_through_nexus(mcp_url, args.apps, args.rounds)
        fan_pool = await fan_out_in_process(base, args.apps, args.rounds)
        figures |= {
            "fan_out_apps": args.apps,
            "fan_out_through_nexus_median_ms": ms(fan_nexus),
            "fan_out_in_process_pool_median_ms": ms(fan_pool),
            "rounds": args.rounds,
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--apps", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3, help="how many times the single-call set is repeated")
    parser.add_argument("--no-fan-out", dest="fan_out", action="store_false", help="the single-call ratio only")
    parser.add_argument(
        "--app-work-ms",
        type=float,
        default=0.0,
        help="the fake app waits this long on each message, as a real app does its own I/O (default 0: the "
        "fake answers at once, the hardest case for the ratio)",
    )
    parser.add_argument(
        "--varying-answers",
        action="store_true",
        help="every answer differs (an as_of timestamp), as a real app's do: no verdict of the secret guard is "
        "reused (default: the fake's answer is the same each call)",
    )
    parser.add_argument("--serve-apps", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--serve-bare-relay", nargs=2, metavar=("PORT", "TARGET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_apps:
        serve_apps(args.serve_apps, args.apps, args.app_work_ms, args.varying_answers)
        return
    if args.serve_bare_relay:
        serve_bare_relay(int(args.serve_bare_relay[0]), args.serve_bare_relay[1])
        return
    with (
        app_process(args.apps, args.app_work_ms, args.varying_answers) as (base, app_pid),
        nexus_process(base, args.apps) as (mcp_url, nexus_pid),
        bare_relay_process(f"{base}/a0/api/messages/handle") as bare_url,
    ):
        pids: dict[str, int | None] = {"client": None, "nexus": nexus_pid, "app": app_pid}
        figures = anyio.run(measure, args, base, mcp_url, bare_url, pids)
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
