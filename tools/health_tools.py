"""``nexus_health``: is Nexus itself healthy, and what does it hold.

Filesystem paths (the database file, a backup folder) appear only for the owner at the machine
(the CLI or the stdio server), where they help local debugging. Every other caller — any role
over HTTP, the owner included, as ``GET /api/health`` — gets the report with each path replaced
by ``<path>`` (:func:`without_paths`).
"""

from __future__ import annotations

import re
import time
from typing import Any, Literal

from pydantic import BaseModel, Field

from nexus_agent import __version__
from nexus_agent.auth.policy import LISTING
from nexus_agent.services import ALL_MIGRATIONS, NexusServices
from nexus_agent.wire.errors import NexusError
from tools.base import ToolCall, ToolInput, ToolSpec

__all__ = ["HEALTH_TOOLS", "HealthCheck", "HealthReport", "collect_health", "without_paths"]


class HealthCheck(BaseModel):
    name: str
    status: Literal["ok", "warn", "fail"]
    detail: str = ""
    latency_ms: float | None = None


class HealthReport(BaseModel):
    status: Literal["ok", "degraded", "down"]
    version: str
    uptime_s: float
    checks: list[HealthCheck]
    apps_by_status: dict[str, int] = Field(default_factory=dict)
    memory_counts: dict[str, int] = Field(default_factory=dict)


async def collect_health(services: NexusServices) -> HealthReport:
    checks: list[HealthCheck] = []
    apps: dict[str, int] = {}
    counts: dict[str, int] = {}

    start = time.perf_counter()
    try:
        pending = await services.database.run(services.database.pending_migrations, ALL_MIGRATIONS)
        counts = await services.memory.stats()
        checks.append(
            HealthCheck(
                name="database",
                status="ok" if not pending else "warn",
                detail=f"{services.database.path}" + (f"; pending migrations: {', '.join(pending)}" if pending else ""),
                latency_ms=round((time.perf_counter() - start) * 1000, 2),
            )
        )
    except NexusError as exc:
        checks.append(HealthCheck(name="database", status="fail", detail=exc.message))

    start = time.perf_counter()
    try:
        apps = await services.registry.count_by_status()
        checks.append(
            HealthCheck(
                name="registry",
                status="ok",
                detail=f"{sum(apps.values())} apps",
                latency_ms=round((time.perf_counter() - start) * 1000, 2),
            )
        )
    except NexusError as exc:
        checks.append(HealthCheck(name="registry", status="fail", detail=exc.message))

    backup = await services.database.run(_backup_check, services)
    if backup is not None:  # a failed backup is an alert (degraded), not an outage
        checks.append(backup)
    worst = {c.status for c in checks}
    status: Literal["ok", "degraded", "down"] = "down" if "fail" in worst else "degraded" if "warn" in worst else "ok"
    return HealthReport(
        status=status,
        version=__version__,
        uptime_s=round(services.uptime_s(), 3),
        checks=checks,
        apps_by_status=apps,
        memory_counts=counts,
    )


def _backup_check(services: NexusServices) -> HealthCheck | None:
    """The last backup (``ops_backups``, written by ``nexus backup create`` and the daily backup)."""
    try:
        with services.database.read() as db:
            row = db.execute("SELECT finished_at, ok, error FROM ops_backups ORDER BY id DESC LIMIT 1").fetchone()
    except NexusError:
        return None
    if row is None:
        return None
    finished, ok, error = row
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(finished))
    if not ok:
        return HealthCheck(name="backup", status="warn", detail=f"the last backup FAILED at {when}: {error[:300]}")
    stale = services.settings.backup_dir is not None and time.time() - finished > 2 * 86_400
    return HealthCheck(name="backup", status="warn" if stale else "ok", detail=f"last good backup {when}")


class HealthInput(ToolInput):
    """No arguments."""


async def nexus_health(call: ToolCall, params: HealthInput) -> HealthReport:
    report = await collect_health(call.services)
    caller = call.principal
    return report if caller.is_owner and caller.is_local else without_paths(report)


_PATH = re.compile(r"(?<![\w.:/])(?:~|[A-Za-z]:)?(?:/[\w.@+-]+){2,}/?")


def without_paths(report: HealthReport) -> HealthReport:
    """The report with every filesystem path replaced by ``<path>``: what callers beyond the local owner see."""
    return HealthReport.model_validate(_strip(report.model_dump(mode="json")))


def _strip(value: Any) -> Any:
    if isinstance(value, str):
        return _PATH.sub("<path>", value)
    if isinstance(value, list):
        return [_strip(v) for v in value]
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items()}
    return value


HEALTH_TOOLS: list[ToolSpec] = [
    ToolSpec(
        name="nexus_health",
        roles=LISTING,
        title="Nexus health",
        description=(
            "Check that Nexus itself is healthy: database reachable and migrated, registry readable. "
            "Returns overall status (ok/degraded/down), version, uptime, per-check details, the number of "
            "apps per status and the number of stored memory items. Use it when something seems wrong "
            "or before a long operation."
        ),
        input_model=HealthInput,
        output_model=HealthReport,
        handler=nexus_health,
        read_only=True,
        idempotent=True,
    )
]
