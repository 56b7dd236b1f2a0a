"""What the MCP server, the satellite pool, the planner and the HTTP app report calls to.

:class:`OpsObserver` turns each call into bounded metric labels and a call-log row.
The runtime builds it when the edge asks (``open_services(..., measure=ops.measure.measurement())``)
and serves it as ``services.observer``; every hook checks for ``None``, so a process without it
measures nothing.

Bounded labels: an app is ``nexus`` or a slug the pool knows (else ``other``); a tool is a
Nexus tool name, or a satellite tool name while fewer than :data:`MAX_TOOL_LABELS` distinct
ones have been seen (else ``other``); a call to a tool that does not exist is ``unknown``.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from nexus_agent.ops.calllog import CallLog
from nexus_agent.wire.errors import NexusError

if TYPE_CHECKING:  # prometheus_client loads only where metrics are served (stdio logs calls without it)
    from nexus_agent.ops.metrics import NexusMetrics

__all__ = ["MAX_TOOL_LABELS", "CallWatch", "OpsObserver", "TimedProvider", "error_kind"]

MAX_TOOL_LABELS = 2000
NEXUS_APP = "nexus"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_CODE = re.compile(r"^[a-z][a-z_]{0,39}$")
_SEPARATOR = "__"


def error_kind(exc: BaseException | None) -> str:
    """A bounded name for what went wrong: the NexusError code found in the cause chain, else a class."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, NexusError):
            return exc.code if _CODE.match(exc.code) else "other"
        if isinstance(exc, ValidationError):
            return "invalid_input"
        if isinstance(exc, TimeoutError):
            return "timeout"
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return "internal"


class CallWatch:
    """Times one call; the caller may mark a returned result as an error (``is_error`` results)."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.outcome = "ok"
        self.kind = ""

    def result(self, result: Any) -> None:
        if getattr(result, "is_error", False) or getattr(result, "isError", False):
            self.outcome, self.kind = "error", "tool_error"

    def failed(self, exc: BaseException) -> None:
        self.outcome, self.kind = "error", error_kind(exc)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started


class OpsObserver:
    def __init__(
        self,
        metrics: NexusMetrics | None,
        calllog: CallLog | None,
        *,
        nexus_tools: Iterable[str],
        known_apps: Callable[[], Collection[str]] = frozenset,
    ) -> None:
        self.metrics = metrics
        self.calllog = calllog
        self._nexus_tools = frozenset(nexus_tools)
        self._known_apps = known_apps
        self._apps: Collection[str] = frozenset()
        self._apps_at = 0.0
        self._tool_labels: set[tuple[str, str]] = set()
        #: Each metric's child per label set (prometheus_client's ``labels()`` checks and locks on every call).
        self._children: dict[tuple[Any, tuple[str, ...]], Any] = {}

    # -- labels ------------------------------------------------------------------------------------
    def app_label(self, slug: str) -> str:
        now = time.monotonic()
        if now - self._apps_at > 10:  # the registry changes rarely; do not copy it per call
            self._apps, self._apps_at = self._known_apps(), now
        return slug if slug in self._apps else "other"

    def labels(self, name: str, *, not_found: bool = False) -> tuple[str, str]:
        """(app, tool) labels for a tool name as called (``get_quote`` or ``quote-engine__get_quote``)."""
        if name in self._nexus_tools:
            return NEXUS_APP, name
        slug, sep, tool = name.partition(_SEPARATOR)
        if not sep:
            return NEXUS_APP, "unknown"
        app = self.app_label(slug)
        if not_found or app == "other" or not _NAME.match(tool):
            return app, "unknown"
        pair = (app, tool)
        if pair not in self._tool_labels:
            if len(self._tool_labels) >= MAX_TOOL_LABELS:
                return app, "other"
            self._tool_labels.add(pair)
        return pair

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, found once per label set (the label sets are bounded: see ``labels``)."""
        key = (metric, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    # -- hooks -------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def tool_call(self, name: str) -> Iterator[CallWatch]:
        """Wrap one MCP tool call: ``with observer.tool_call(name) as watch: watch.result(await ...)``."""
        watch = CallWatch()
        try:
            yield watch
        except BaseException as exc:
            watch.failed(exc)
            raise
        finally:
            seconds = watch.elapsed()
            app, tool = self.labels(name, not_found=watch.kind == "not_found")
            if (m := self.metrics) is not None:
                # A call refused to the caller's role is its own outcome, not the owner's error (the call
                # log keeps it as kind 'forbidden'; the seed figures leave it out of the error rate).
                outcome = "forbidden" if watch.kind == "forbidden" else watch.outcome
                self._child(m.tool_calls, app, tool, outcome).inc()
                self._child(m.tool_seconds, "nexus" if app == NEXUS_APP else "satellite").observe(seconds)
                if outcome == "error":
                    self._child(m.errors, watch.kind, "tool").inc()
            self._log("tool", app, tool, watch, seconds)

    def satellite_call(self, slug: str, tool: str, outcome: str, kind: str, seconds: float) -> None:
        """The satellite pool's hook (one call, retries included)."""
        app, tool_label = self.labels(f"{slug}{_SEPARATOR}{tool}", not_found=kind == "not_found")
        if (m := self.metrics) is not None:
            self._child(m.satellite_calls, app, outcome).inc()
            self._child(m.satellite_seconds, app).observe(seconds)
            if outcome == "error":
                self._child(m.errors, kind or "internal", "satellite").inc()
        if self.calllog is not None:
            self.calllog.record("satellite", app, tool_label, outcome, seconds, kind)

    def planner_step(self, name: str, ok: bool, seconds: float) -> None:
        source = "nexus" if name in self._nexus_tools else "satellite"
        outcome = "ok" if ok else "error"
        if (m := self.metrics) is not None:
            self._child(m.planner_steps, source, outcome).inc()
            self._child(m.planner_seconds, source).observe(seconds)
            if not ok:
                self._child(m.errors, "step_failed", "planner").inc()
        if self.calllog is not None:
            app, tool = self.labels(name)
            self.calllog.record("planner", app, tool, outcome, seconds, "" if ok else "step_failed")

    def http_request(self, route: str, method: str, status: int, seconds: float) -> None:
        if self.metrics is None:
            return
        status_class = f"{status // 100}xx" if 100 <= status < 600 else "other"
        method = method if method in {"GET", "POST", "DELETE", "PUT", "HEAD", "OPTIONS"} else "other"
        self._child(self.metrics.http_seconds, route, method, status_class).observe(seconds)
        if status >= 500:
            self._child(self.metrics.errors, f"http_{status_class}", "http").inc()

    def _log(self, kind: str, app: str, tool: str, watch: CallWatch, seconds: float) -> None:
        if self.calllog is None:
            return
        before = self.calllog.dropped
        self.calllog.record(kind, app, tool, watch.outcome, seconds, watch.kind)
        if self.calllog.dropped > before and self.metrics is not None:
            self.metrics.dropped_calls.inc()

    def timed_provider(self, provider: Any) -> TimedProvider:
        return TimedProvider(provider, self.planner_step)


class TimedProvider:
    """A planner ToolProvider that reports each call's time and outcome (the planner's steps)."""

    def __init__(self, inner: Any, observe: Callable[[str, bool, float], None]) -> None:
        self.inner = inner
        self._observe = observe

    async def descriptors(self) -> Any:
        return await self.inner.descriptors()

    def is_available(self, name: str) -> bool | str:
        available: bool | str = self.inner.is_available(name)
        return available

    async def call(self, name: str, arguments: Mapping[str, Any]) -> Any:
        started = time.perf_counter()
        ok = False
        try:
            outcome = await self.inner.call(name, arguments)
            ok = bool(getattr(outcome, "ok", False))
            return outcome
        finally:
            self._observe(name, ok, time.perf_counter() - started)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
