"""The seed's four figures, computed from the database (so they survive restarts).

- app registration rate: apps newly registered per day (registry history, first status);
- instruction completion rate: of the instructions that reached a final state in the
  window, the share that completed (``failed`` and ``expired`` count against it);
- error rate: tool calls to Nexus that ended in an error, out of all tool calls (call log); calls
  refused to a caller's role (``forbidden``) are counted apart and left out of it;
- response time: median and 95th percentile of those calls, in milliseconds.
"""

from __future__ import annotations

import math
import re
import sqlite3
import time
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from nexus_agent.wire.errors import InvalidInput

__all__ = ["DayFigures", "SeedFigures", "compute_figures", "daily_series", "parse_since"]

#: Percentiles are exact up to this many calls in the window, from an even sample of this size beyond.
LATENCY_SAMPLE = 20_000
_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
#: A call refused to the caller's role (the call log keeps it as an error of kind 'forbidden').
_REFUSED = "coalesce(error_kind, '') = 'forbidden'"


def parse_since(text: str) -> float:
    """'24h' -> 86400.0 seconds; s, m, h, d and w are understood."""
    match = _SINCE.match(text or "")
    if not match or float(match.group(1)) <= 0:
        raise InvalidInput(f"--since expects a duration like 24h, 7d or 30m, got {text!r}", hint="e.g. --since 24h")
    return float(match.group(1)) * _UNITS[match.group(2)]


class SeedFigures(BaseModel):
    since: datetime
    until: datetime
    registrations: int
    registration_rate_per_day: float
    instructions_finished: int
    instructions_completed: int
    instruction_completion_rate: float | None
    tool_calls: int
    tool_errors: int
    error_rate: float | None
    response_ms_p50: float | None
    response_ms_p95: float | None
    tool_refusals: int = 0  # calls refused to the caller's role: not in tool_calls nor the error rate

    def to_text(self) -> str:
        def pct(value: float | None) -> str:
            return "n/a" if value is None else f"{value * 100:.1f}%"

        def ms(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.1f} ms"

        return "\n".join(
            [
                f"Nexus figures from {self.since:%Y-%m-%d %H:%M} to {self.until:%Y-%m-%d %H:%M} UTC",
                f"  app registration rate        {self.registration_rate_per_day:.2f}/day "
                f"({self.registrations} registered)",
                f"  instruction completion rate  {pct(self.instruction_completion_rate)} "
                f"({self.instructions_completed} of {self.instructions_finished} finished)",
                f"  error rate                   {pct(self.error_rate)} "
                f"({self.tool_errors} of {self.tool_calls} calls; {self.tool_refusals} refused to the caller's role "
                "not counted)",
                f"  response time                p50 {ms(self.response_ms_p50)}, p95 {ms(self.response_ms_p95)}",
            ]
        )


class DayFigures(BaseModel):
    day: str
    registrations: int
    completion_rate: float | None
    error_rate: float | None
    response_ms_p50: float | None


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _scalar(conn: sqlite3.Connection, sql: str, params: list[object]) -> int:
    try:
        return int(conn.execute(sql, params).fetchone()[0] or 0)
    except sqlite3.OperationalError:  # a table this database does not have yet
        return 0


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]


def _calls(conn: sqlite3.Connection, since: float, until: float) -> tuple[int, int, list[float]]:
    """(calls, errors, sorted latencies in ms): every call up to LATENCY_SAMPLE, an even sample beyond."""
    where = f"FROM ops_calls WHERE kind = 'tool' AND NOT {_REFUSED} AND at >= ? AND at < ?"
    try:
        calls, errors = conn.execute(
            f"SELECT count(*), coalesce(sum(CASE WHEN outcome = 'error' THEN 1 ELSE 0 END), 0) {where}", [since, until]
        ).fetchone()
        step = max(1, calls // LATENCY_SAMPLE)
        rows = conn.execute(f"SELECT seconds {where} AND id % ? = 0", [since, until, step]).fetchall()
    except sqlite3.OperationalError:  # a database without the call log yet
        return 0, 0, []
    return int(calls), int(errors), sorted(s * 1000 for (s,) in rows)


def compute_figures(
    conn: sqlite3.Connection, since: float, until: float | None = None, *, shared: Any = None
) -> SeedFigures:
    """``shared``: a read connection to PostgreSQL when Nexus runs on it (``NEXUS_DATABASE_URL``):
    registrations, instructions and the call log of every replica are counted there, else in ``conn``."""
    until = time.time() if until is None else until
    lo, hi = _iso(since), _iso(math.ceil(until))  # stored times carry fractions: include the current second
    conn = shared if shared is not None else conn
    registrations = _scalar(
        conn,
        "SELECT count(*) FROM app_status_history WHERE old_status IS NULL AND changed_at >= ? AND changed_at < ?",
        [lo, hi],
    )
    finished_sql = "SELECT count(*) FROM instruction_history WHERE to_status IN ({}) AND at >= ? AND at < ?"
    finished = _scalar(conn, finished_sql.format("'completed', 'failed', 'expired'"), [lo, hi])
    completed = _scalar(conn, finished_sql.format("'completed'"), [lo, hi])
    calls, errors, latencies = _calls(conn, since, until)
    refusals_sql = f"SELECT count(*) FROM ops_calls WHERE kind = 'tool' AND {_REFUSED} AND at >= ? AND at < ?"
    refusals = _scalar(conn, refusals_sql, [since, until])
    days = max((until - since) / 86_400, 1 / 24)
    return SeedFigures(
        since=datetime.fromtimestamp(since, UTC),
        until=datetime.fromtimestamp(until, UTC),
        registrations=registrations,
        registration_rate_per_day=round(registrations / days, 3),
        instructions_finished=finished,
        instructions_completed=completed,
        instruction_completion_rate=completed / finished if finished else None,
        tool_calls=calls,
        tool_errors=errors,
        error_rate=errors / calls if calls else None,
        response_ms_p50=_percentile(latencies, 0.5),
        response_ms_p95=_percentile(latencies, 0.95),
        tool_refusals=refusals,
    )


def daily_series(
    conn: sqlite3.Connection,
    days: int = 7,
    now: float | None = None,
    cache: dict[float, DayFigures] | None = None,
    *,
    shared: Any = None,
) -> list[DayFigures]:
    """One entry per UTC day, oldest first, the last one being today so far.

    ``cache`` keeps the figures of days that are over (they cannot change) between calls.
    """
    now = time.time() if now is None else now
    today = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    series = []
    for back in range(days - 1, -1, -1):
        start = today - back * 86_400
        if cache is not None and start in cache:
            series.append(cache[start])
            continue
        f = compute_figures(conn, start, min(start + 86_400, now), shared=shared)
        day = DayFigures(
            day=datetime.fromtimestamp(start, UTC).strftime("%m-%d"),
            registrations=f.registrations,
            completion_rate=f.instruction_completion_rate,
            error_rate=f.error_rate,
            response_ms_p50=f.response_ms_p50,
        )
        if cache is not None and back > 0:
            cache[start] = day
        series.append(day)
    return series
