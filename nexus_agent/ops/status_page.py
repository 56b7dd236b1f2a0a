"""``GET /status``: one server-rendered page the owner reads on a laptop or a phone.

Apps by status with their health, circuit breaker and last contact; instructions by
state; the seed's four figures for the last 24 hours with a 7-day chart each; the last
backup; recent decisions. The page refreshes itself (``<meta http-equiv=refresh>``);
it has no JavaScript. Jinja2 autoescapes every value; charts are inline SVG built by
:mod:`nexus_agent.ops.charts` from escaped text.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from nexus_agent import __version__
from nexus_agent.ops.charts import sparkline
from nexus_agent.ops.figures import DayFigures, SeedFigures, compute_figures, daily_series
from nexus_agent.ops.scheduler import DAY, LastBackup, last_backup
from nexus_agent.services import NexusServices

__all__ = ["REFRESH_S", "StatusPage"]

REFRESH_S = 60
_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
#: Apps needing attention first.
_ORDER = {"degraded": 0, "suspended": 1, "pending": 2, "active": 3, "approved": 4, "placeholder": 5, "retired": 6}


@dataclass
class _Data:
    figures: SeedFigures
    series: list[DayFigures]
    instructions: list[tuple[str, int]]
    backup: LastBackup | None


def _fmt_time(value: datetime | float | None) -> str:
    if value is None:
        return "never"
    if isinstance(value, float | int):
        value = datetime.fromtimestamp(value, UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


class StatusPage:
    def __init__(self, *, clock: Any = time.time) -> None:
        self._clock = clock
        self._page = _TEMPLATES.get_template("status.html")
        self._past_days: dict[float, DayFigures] = {}  # figures of days that are over do not change

    def login(self, error: str = "") -> str:
        return _TEMPLATES.get_template("login.html").render(error=error)

    async def render(self, services: NexusServices, viewer: str) -> str:
        data = await services.database.run(self._read, services)
        apps = await self._apps(services)
        decisions = await services.memory.recent_activity(limit=8, kinds=["decision"])
        counts: dict[str, int] = {}
        for app in apps:
            counts[app["status"]] = counts.get(app["status"], 0) + 1
        return self._page.render(
            version=__version__,
            now=_fmt_time(self._clock()),
            refresh_s=REFRESH_S,
            viewer=viewer,
            alerts=self._alerts(data.backup, services),
            metrics=self._metrics(data.figures, data.series),
            apps=apps,
            apps_by_status=sorted(counts.items(), key=lambda kv: _ORDER.get(kv[0], 9)),
            instructions=data.instructions,
            backup=self._backup(data.backup),
            decisions=[
                {"title": d.title, "summary": d.summary[:300], "when": _fmt_time(d.created_at)} for d in decisions
            ],
        )

    def _read(self, services: NexusServices) -> _Data:
        now = self._clock()
        shared_db = services.shared.database if services.shared is not None else None  # figures and instructions
        with services.database.read() as db, shared_db.read() if shared_db else contextlib.nullcontext() as shared:
            conn = db.conn
            figures = compute_figures(conn, now - DAY, now, shared=shared)
            series = daily_series(conn, 7, now, cache=self._past_days, shared=shared)
            rows = (shared or conn).execute("SELECT status, count(*) FROM instructions GROUP BY status").fetchall()
        return _Data(figures, series, [(str(s), int(n)) for s, n in rows], last_backup(services.database))

    async def _apps(self, services: NexusServices) -> list[dict[str, str]]:
        pool = services.pool
        in_pool = pool.records if pool is not None else {}
        rows = []
        for record in await services.registry.all():
            health = pool.last_health.get(record.slug) if pool is not None else None
            breaker = pool.breaker_state(record.slug).value if pool is not None and record.slug in in_pool else "n/a"
            rows.append(
                {
                    "slug": record.slug,
                    "name": record.name,
                    "status": record.status.value,
                    "health": health.state.value if health else "unknown",
                    "breaker": breaker,
                    "last_contact": _fmt_time(health.checked_at) if health else "not checked yet",
                    "detail": (health.detail if health else "")[:160],
                }
            )
        rows.sort(key=lambda r: (_ORDER.get(r["status"], 9), r["slug"]))
        return rows

    def _alerts(self, backup: LastBackup | None, services: NexusServices) -> list[str]:
        alerts = []
        if backup is not None and not backup.ok:
            alerts.append(f"the last backup FAILED at {_fmt_time(backup.finished_at)} UTC: {backup.error[:300]}")
        elif backup is not None and backup.last_ok_at is not None and self._clock() - backup.last_ok_at > 2 * DAY:
            alerts.append(f"no good backup since {_fmt_time(backup.last_ok_at)} UTC")
        return alerts

    @staticmethod
    def _backup(backup: LastBackup | None) -> dict[str, Any] | None:
        if backup is None:
            return None
        return {
            "ok": backup.ok,
            "when": _fmt_time(backup.finished_at),
            "size": f"{backup.bytes / 1e6:.1f} MB",
            "path": backup.path,
            "error": backup.error[:300],
        }

    @staticmethod
    def _metrics(f: SeedFigures, series: list[DayFigures]) -> list[dict[str, Any]]:
        days = [d.day for d in series]

        def chart(values: list[float | None], title: str, unit: str = "") -> Any:
            return sparkline(values, days, title=title, unit=unit)

        def pct_series(values: list[float | None]) -> list[float | None]:
            return [None if v is None else round(v * 100, 1) for v in values]

        return [
            {
                "name": "App registration rate",
                "value": f"{f.registration_rate_per_day:.1f}/day",
                "sub": f"{f.registrations} registered in 24 h",
                "chart": chart([float(d.registrations) for d in series], "Apps registered per day, 7 days"),
            },
            {
                "name": "Instruction completion rate",
                "value": _pct(f.instruction_completion_rate),
                "sub": f"{f.instructions_completed} of {f.instructions_finished} finished",
                "chart": chart(pct_series([d.completion_rate for d in series]), "Completion rate per day", "%"),
            },
            {
                "name": "Error rate",
                "value": _pct(f.error_rate),
                "sub": f"{f.tool_errors} of {f.tool_calls} tool calls",
                "chart": chart(pct_series([d.error_rate for d in series]), "Error rate per day", "%"),
            },
            {
                "name": "Response time (p50)",
                "value": "n/a" if f.response_ms_p50 is None else f"{f.response_ms_p50:.0f} ms",
                "sub": "p95 " + ("n/a" if f.response_ms_p95 is None else f"{f.response_ms_p95:.0f} ms"),
                "chart": chart([d.response_ms_p50 for d in series], "Median response time per day", " ms"),
            },
        ]
