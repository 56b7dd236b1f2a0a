"""``GET /metrics``: Nexus in the Prometheus text format.

:class:`NexusMetrics` owns a ``CollectorRegistry`` (never the process-wide default,
so two apps in one test process do not collide). Counters and histograms of what
happens in this process (tool calls, satellite calls, planner steps, HTTP requests,
errors) live in memory; what the database knows (apps, registrations, instructions,
the outbox, backups) is read at scrape time by :class:`DatabaseCollector`, so those
figures are right after a restart and include changes made by the CLI.

Labels are bounded: an app is a registered slug or ``nexus``, a tool a known name,
an error a NexusError code; anything else collapses to ``other`` (see ``observer``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import platform
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, Info, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from memory.database import Database
from nexus_agent import __version__

__all__ = ["CONTENT_TYPE", "DatabaseCollector", "NexusMetrics", "PoolSnapshot"]

log = logging.getLogger("nexus.ops")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Seconds: MCP calls are mostly milliseconds; satellites and planner steps can take up to a minute.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
REGISTRATION_OUTCOMES = ("approved", "waiting", "changes_requested")


@dataclass
class PoolSnapshot:
    """What the satellite pool knows, copied on the event loop before a scrape."""

    breakers: dict[str, int] = field(default_factory=dict)
    health: dict[str, int] = field(default_factory=dict)
    #: Apps by status from the registry itself (it may live in PostgreSQL); None: count the SQLite table.
    apps: dict[str, int] | None = None


class NexusMetrics:
    """Every metric family of one Nexus process, on its own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        disable_created_metrics()  # no *_created series: they double the output and nobody graphs them
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.tool_calls = Counter(
            "nexus_tool_calls", "Calls to Nexus's MCP tools, by app (nexus or a satellite), tool and outcome.",
            ["app", "tool", "outcome"], registry=r,
        )  # fmt: skip
        self.tool_seconds = Histogram(
            "nexus_tool_call_duration_seconds", "Time to answer an MCP tool call: Nexus's own tools or a satellite's.",
            ["source"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.satellite_calls = Counter(
            "nexus_satellite_calls", "Calls Nexus made to satellite tools (server, planner, fan-out), by outcome.",
            ["app", "outcome"], registry=r,
        )  # fmt: skip
        self.satellite_seconds = Histogram(
            "nexus_satellite_call_duration_seconds", "Time a satellite took to answer, by app.",
            ["app"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.planner_steps = Counter(
            "nexus_planner_steps", "Tool calls the planner carried out, by source and outcome.",
            ["source", "outcome"], registry=r,
        )  # fmt: skip
        self.planner_seconds = Histogram(
            "nexus_planner_step_duration_seconds", "Time of one planner step (one planned tool call).",
            ["source"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.http_seconds = Histogram(
            "nexus_http_request_duration_seconds", "HTTP requests by route, method and status class.",
            ["route", "method", "status"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.errors = Counter(
            "nexus_errors", "Errors by kind (NexusError code, internal, timeout) and where they happened.",
            ["kind", "source"], registry=r,
        )  # fmt: skip
        self.dropped_calls = Counter(
            "nexus_call_log_dropped", "Call records dropped because the call log could not keep up.", registry=r
        )
        build = Info("nexus_build", "Version of Nexus and Python.", registry=r)
        build.info({"version": __version__, "python": platform.python_version()})

    def render(self) -> bytes:
        return generate_latest(self.registry)


class DatabaseCollector(Collector):
    """Families computed from the database at scrape time (a few indexed GROUP BYs).

    ``shared``: the PostgreSQL database (``NEXUS_DATABASE_URL``); registrations, plans, instructions
    and the outbox are read there, since every replica writes them there. Backups are this
    replica's own (its SQLite file)."""

    def __init__(self, database: Database, *, shared: Any = None) -> None:
        self.database = database
        self.shared = shared
        self.snapshot = PoolSnapshot()

    def describe(self) -> list[Metric]:
        return []  # computed at scrape time; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        with self.database.read() as db, self._shared_read() as shared:
            conn = db.conn
            yield from self._apps(conn)
            yield from self._registrations(shared or conn)
            yield from self._instructions(shared or conn)
            yield from self._outbox(shared or conn)
            yield from self._plans(shared or conn)
            yield from self._backups(conn)
        yield from self._pool()

    def _shared_read(self) -> contextlib.AbstractContextManager[Any]:
        return self.shared.read() if self.shared is not None else contextlib.nullcontext()

    @staticmethod
    def _rows(conn: sqlite3.Connection, sql: str) -> list[tuple[str, float]]:
        try:
            return [(str(k), float(v or 0)) for k, v in conn.execute(sql).fetchall()]
        except sqlite3.OperationalError as exc:  # a table this database does not have (yet)
            log.debug("metrics query skipped: %s", exc)
            return []

    def _apps(self, conn: sqlite3.Connection) -> Iterator[Metric]:
        apps = GaugeMetricFamily("nexus_apps", "Registered apps by registry status.", labels=["status"])
        counted = self.snapshot.apps
        rows = (
            counted.items()
            if counted is not None
            else self._rows(conn, "SELECT status, count(*) FROM apps GROUP BY status")
        )
        for status, count in rows:
            apps.add_metric([status], count)
        yield apps

    def _registrations(self, conn: sqlite3.Connection) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "nexus_registrations",
            "Registrations by outcome: registered (new in the registry), and reviews approved / waiting / "
            "changes_requested.",
            labels=["outcome"],
        )
        created = self._rows(conn, "SELECT 'registered', count(*) FROM app_status_history WHERE old_status IS NULL")
        family.add_metric(["registered"], created[0][1] if created else 0)
        counts = dict.fromkeys(REGISTRATION_OUTCOMES, 0)
        for tags, _ in self._rows(
            conn, "SELECT tags, 1 FROM memory_index WHERE kind = 'decision' AND tags LIKE '%\"registration\"%'"
        ):
            for tag in json.loads(tags):
                if tag in counts:
                    counts[tag] += 1
        for outcome, count in counts.items():
            family.add_metric([outcome], count)
        yield family

    def _instructions(self, conn: sqlite3.Connection) -> Iterator[Metric]:
        by_state = dict(self._rows(conn, "SELECT status, count(*) FROM instructions GROUP BY status"))
        gauge = GaugeMetricFamily("nexus_instructions", "Instructions by state.", labels=["state"])
        for state in ("pending", "delivered", "acknowledged", "completed", "failed", "expired"):
            gauge.add_metric([state], by_state.get(state, 0))
        yield gauge
        created = CounterMetricFamily("nexus_instructions_created", "Instructions written for satellites.")
        created.add_metric([], sum(by_state.values()))
        yield created
        finished = sum(by_state.get(s, 0) for s in ("completed", "failed", "expired"))
        ratio = GaugeMetricFamily(
            "nexus_instruction_completion_ratio", "Completed instructions out of those that reached a final state."
        )
        ratio.add_metric([], by_state.get("completed", 0) / finished if finished else 0.0)
        yield ratio

    def _outbox(self, conn: sqlite3.Connection) -> Iterator[Metric]:
        by_status = dict(self._rows(conn, "SELECT status, count(*) FROM outbox GROUP BY status"))
        events = GaugeMetricFamily("nexus_outbox_events", "Outbox webhook events by status.", labels=["status"])
        for status in ("pending", "in_flight", "delivered", "dead"):
            events.add_metric([status], by_status.get(status, 0))
        yield events
        yield GaugeMetricFamily(
            "nexus_outbox_backlog",
            "Webhook events not delivered yet (pending or in flight).",
            value=by_status.get("pending", 0) + by_status.get("in_flight", 0),
        )
        yield GaugeMetricFamily(
            "nexus_outbox_dead_letters", "Webhook events that gave up (replay with `nexus events replay`).",
            value=by_status.get("dead", 0),
        )  # fmt: skip

    def _plans(self, conn: sqlite3.Connection) -> Iterator[Metric]:
        plans = GaugeMetricFamily("nexus_plans", "Planner plans by status.", labels=["status"])
        for status, count in self._rows(conn, "SELECT status, count(*) FROM plans GROUP BY status"):
            plans.add_metric([status], count)
        yield plans

    def _backups(self, conn: sqlite3.Connection) -> Iterator[Metric]:
        total = CounterMetricFamily("nexus_backups", "Backups taken, by outcome.", labels=["outcome"])
        by_ok = dict(self._rows(conn, "SELECT ok, count(*) FROM ops_backups GROUP BY ok"))
        total.add_metric(["ok"], by_ok.get("1", 0))
        total.add_metric(["failed"], by_ok.get("0", 0))
        yield total
        last = self._rows(conn, "SELECT finished_at, bytes FROM ops_backups WHERE ok = 1 ORDER BY id DESC LIMIT 1")
        yield GaugeMetricFamily(
            "nexus_backup_last_success_timestamp_seconds", "When the last good backup finished (Unix time; 0: never).",
            value=float(last[0][0]) if last else 0.0,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "nexus_backup_last_size_bytes", "Size of the last good backup.", value=last[0][1] if last else 0.0
        )

    def _pool(self) -> Iterator[Metric]:
        breakers = GaugeMetricFamily(
            "nexus_satellite_breakers", "Satellites by circuit-breaker state.", labels=["state"]
        )
        for state in ("closed", "open", "half_open"):
            breakers.add_metric([state], self.snapshot.breakers.get(state, 0))
        yield breakers
        health = GaugeMetricFamily("nexus_satellite_health", "Satellites by their last health check.", labels=["state"])
        for state in ("up", "degraded", "down", "unknown"):
            health.add_metric([state], self.snapshot.health.get(state, 0))
        yield health
