"""Operations: /metrics scrape time, backup and verify time, status page server time.

    python benchmarks/ops.py                      # 500 apps, a day of history, a 1 GB database
    python benchmarks/ops.py --db-gb 0.25 --apps 2000 --calls-per-day 500000

Set-up (in a temporary folder): a registry of ``--apps`` apps, a day of history in the
call log (``--calls-per-day`` tool calls spread over 24 h across the apps and their tools,
with a few per cent errors), 2,000 instructions through their states, 5,000 outbox rows.
The same calls are fed to the in-memory counters and histograms, so the scrape carries
the label series a busy day leaves (per app and tool).

Reported:

- ``metrics``: median server time to build the Prometheus text (``NexusMetrics.render``
  with the database collector), and the same scrape end to end over HTTP on 127.0.0.1;
- ``status``: median server time to render ``/status`` (seven days of figures, 500 rows);
- ``backup`` / ``verify``: one ``create_backup`` and one ``verify_backup`` of a database
  grown to ``--db-gb`` (notes of mixed text, so it compresses like real data).
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

import httpx  # noqa: E402

from nexus_agent.config import Settings  # noqa: E402
from nexus_agent.ops.backup import create_backup  # noqa: E402
from nexus_agent.ops.metrics import DatabaseCollector, NexusMetrics  # noqa: E402
from nexus_agent.ops.observer import OpsObserver  # noqa: E402
from nexus_agent.ops.restore import verify_backup  # noqa: E402
from nexus_agent.ops.status_page import StatusPage  # noqa: E402
from nexus_agent.services import open_services_sync  # noqa: E402
from nexus_agent.toolset import ALL_TOOLS  # noqa: E402
from nexus_agent.wire.models import AppRecord  # noqa: E402

WORDS = [
    "quote",
    "window",
    "door",
    "aluminium",
    "anodised",
    "bronze",
    "lintel",
    "survey",
    "install",
    "invoice",
    "fabricate",
    "stock",
    "order",
    "customer",
    "Leeds",
    "Harrogate",
    "York",
    "depot",
    "site",
    "glazing",
    "frame",
    "powder",
    "coat",
    "RAL",
    "7016",
    "chase",
    "paid",
    "due",
]


def _populate(settings: Settings, apps: int, calls: int, rng: random.Random) -> list[tuple[str, str]]:
    with open_services_sync(settings) as services:
        for i in range(apps):
            record = AppRecord.model_validate(
                {"slug": f"app-{i:04d}", "name": f"App {i}", "category": "ops", "status": "active",
                 "endpoints": {"mcp_url": f"http://127.0.0.1:9/app-{i:04d}/mcp"}}
            )  # fmt: skip
            services.registry.register_sync(record, actor="bench")  # type: ignore[attr-defined]
    conn = sqlite3.connect(settings.db_path)
    now = time.time()
    tools = [(f"app-{i % apps:04d}", f"tool_{i % 5}") for i in range(apps * 5)]
    rows = []
    for _ in range(calls):
        app, tool = rng.choice(tools)
        ok = rng.random() > 0.03
        rows.append((now - rng.random() * 86_400, "tool", app, tool, "ok" if ok else "error",
                     "" if ok else "upstream_error", rng.lognormvariate(-3.5, 0.8)))  # fmt: skip
    conn.executemany(
        "INSERT INTO ops_calls (at, kind, app, tool, outcome, error_kind, seconds) VALUES (?, ?, ?, ?, ?, ?, ?)", rows
    )
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(now - 3600))
    states = ["completed"] * 6 + ["failed", "expired", "pending", "acknowledged"]
    for i in range(2000):
        state = rng.choice(states)
        conn.execute(
            "INSERT INTO instructions (id, target, action, status, created_by, created_at, updated_at, document) "
            "VALUES (?, ?, 'export.customers', ?, 'bench', ?, ?, '{}')",
            [f"ins-{i}", f"app-{i % apps:04d}", state, stamp, stamp],
        )
        conn.execute(
            "INSERT INTO instruction_history (instruction_id, from_status, to_status, actor, at) "
            "VALUES (?, ?, ?, ?, ?)",
            [f"ins-{i}", "acknowledged", state, "bench", stamp],
        )
    for i in range(5000):
        status = rng.choice(["delivered"] * 8 + ["pending", "dead"])
        conn.execute(
            "INSERT INTO outbox (delivery_id, event, target, url, payload, status, next_attempt_at, created_at) "
            "VALUES (?, 'instruction.created', ?, 'http://127.0.0.1:9/hook', '{}', ?, ?, ?)",
            [f"d-{i}", f"app-{i % apps:04d}", status, now + 30 * 86_400, now],  # pending: not due during the run
        )
    conn.commit()
    conn.close()
    return [(app, tool) for _, _, app, tool, *_ in rows]


def _median_ms(fn: Any, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


def bench_metrics(settings: Settings, calls: list[tuple[str, str]], apps: int, runs: int) -> dict[str, Any]:
    with open_services_sync(settings) as services:
        metrics = NexusMetrics()
        known = frozenset(f"app-{i:04d}" for i in range(apps))
        observer = OpsObserver(metrics, None, nexus_tools=[s.name for s in ALL_TOOLS], known_apps=lambda: known)
        for app, tool in calls:
            with observer.tool_call(f"{app}__{tool}"):
                pass
            observer.satellite_call(app, tool, "ok", "", 0.05)
        metrics.registry.register(DatabaseCollector(services.database))
        body = metrics.render()
        render_ms = _median_ms(metrics.render, runs)
    from nexus_agent.testing import serve_nexus_in_thread

    token = "bench-owner-token-0123456789abcdef"
    http_settings = Settings.load({"NEXUS_HOME": str(settings.home), "NEXUS_TOKENS": f"bench={token}",
                                   "NEXUS_DB_SYNC": "normal", "NEXUS_BACKUP_DIR": "off"})  # fmt: skip
    with serve_nexus_in_thread(http_settings, timeout=60) as base, httpx.Client(timeout=30) as client:
        headers = {"Authorization": f"Bearer {token}"}
        http_ms = _median_ms(lambda: client.get(f"{base}/metrics", headers=headers).raise_for_status(), runs)
    return {
        "series_lines": body.count(b"\n"),
        "bytes": len(body),
        "render_median_ms": render_ms,
        "http_scrape_median_ms (DB gauges only)": http_ms,
    }


def bench_status(settings: Settings, runs: int) -> dict[str, Any]:
    page = StatusPage()

    async def main() -> dict[str, Any]:
        with open_services_sync(settings) as services:
            html = await page.render(services, "bench")
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                await page.render(services, "bench")
                times.append((time.perf_counter() - started) * 1000)
        return {"median_ms": round(statistics.median(times), 1), "html_bytes": len(html)}

    return anyio.run(main)


def grow_database(settings: Settings, gigabytes: float, rng: random.Random) -> float:
    started = time.perf_counter()
    conn = sqlite3.connect(settings.db_path)
    conn.execute("PRAGMA synchronous = OFF")
    target = int(gigabytes * 1024**3)
    batch = 5000
    while settings.db_path.stat().st_size < target:
        conn.executemany(
            "INSERT INTO notes (title, text, author, created_at) VALUES (?, ?, 'bench', 0)",
            [(" ".join(rng.choices(WORDS, k=6)), " ".join(rng.choices(WORDS, k=160)) + f" {rng.random()}")
             for _ in range(batch)],
        )  # fmt: skip
        conn.commit()
    conn.close()
    return round(time.perf_counter() - started, 1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=500)
    parser.add_argument("--calls-per-day", type=int, default=200_000)
    parser.add_argument("--db-gb", type=float, default=1.0, help="database size for backup/verify (0: skip)")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)
    rng = random.Random(7)
    out: dict[str, Any] = {"apps": args.apps, "calls_per_day": args.calls_per_day}
    with tempfile.TemporaryDirectory(prefix="nexus-bench-ops-") as tmp:
        settings = Settings.load({"NEXUS_HOME": str(Path(tmp) / "home"), "NEXUS_DB_SYNC": "normal"})
        calls = _populate(settings, args.apps, args.calls_per_day, rng)
        out["metrics"] = bench_metrics(settings, calls, args.apps, args.runs)
        out["status"] = bench_status(settings, args.runs)
        if args.db_gb > 0:
            out["grow_s"] = grow_database(settings, args.db_gb, rng)
            out["db_bytes"] = settings.db_path.stat().st_size
            started = time.perf_counter()
            result = create_backup(settings, Path(tmp) / "backups")
            out["backup_s"] = round(time.perf_counter() - started, 1)
            out["backup_bytes"] = result.bytes
            started = time.perf_counter()
            report = verify_backup(Path(result.path))
            out["verify_s"] = round(time.perf_counter() - started, 1)
            out["verify_ok"] = report.ok
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
