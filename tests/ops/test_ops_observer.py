"""Metric labels stay bounded whatever callers send; the call log keeps what it is given."""

from __future__ import annotations

import time

import pytest

from memory.database import Database
from nexus_agent.ops import observer as observer_module
from nexus_agent.ops.calllog import CallLog
from nexus_agent.ops.figures import compute_figures
from nexus_agent.ops.metrics import NexusMetrics
from nexus_agent.ops.observer import OpsObserver, error_kind
from nexus_agent.wire.errors import Forbidden, NotFound, UpstreamError

pytestmark = pytest.mark.anyio


def make(database: Database | None = None) -> OpsObserver:
    calllog = CallLog(database) if database is not None else None
    return OpsObserver(
        NexusMetrics(), calllog, nexus_tools=["nexus_health"], known_apps=lambda: frozenset({"quote-engine"})
    )


def series(observer: OpsObserver, name: str) -> set[tuple[tuple[str, str], ...]]:
    return {
        tuple(sorted(s.labels.items()))
        for family in observer.metrics.registry.collect()
        for s in family.samples
        if s.name == name
    }


def test_unknown_apps_odd_names_and_too_many_tools_collapse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(observer_module, "MAX_TOOL_LABELS", 3)
    obs = make()
    assert obs.labels("nexus_health") == ("nexus", "nexus_health")
    assert obs.labels("not_a_tool") == ("nexus", "unknown")
    assert obs.labels("evil-app__drop") == ("other", "unknown")
    assert obs.labels("quote-engine__get quote; rm -rf /") == ("quote-engine", "unknown")
    assert obs.labels("quote-engine__get_quote", not_found=True) == ("quote-engine", "unknown")
    seen = [obs.labels(f"quote-engine__tool_{i}")[1] for i in range(5)]
    assert seen == ["tool_0", "tool_1", "tool_2", "other", "other"]


def test_error_kinds_come_from_the_cause_chain() -> None:
    try:
        try:
            raise UpstreamError("the satellite hung up")
        except UpstreamError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert error_kind(outer) == "upstream_error"
    assert error_kind(TimeoutError()) == "timeout"
    assert error_kind(ValueError("x")) == "internal"


async def test_a_failed_call_is_counted_as_an_error_of_its_kind_and_logged(database: Database) -> None:
    obs = make(database)
    with pytest.raises(NotFound), obs.tool_call("quote-engine__get_quote"):
        raise NotFound("no quote Q-1")
    with obs.tool_call("nexus_health") as watch:
        watch.result(type("Result", (), {"is_error": False})())
    obs.satellite_call("quote-engine", "get_quote", "error", "upstream_error", 0.2)
    assert (("app", "quote-engine"), ("outcome", "error"), ("tool", "unknown")) in series(obs, "nexus_tool_calls_total")
    assert (("kind", "upstream_error"), ("source", "satellite")) in series(obs, "nexus_errors_total")
    assert obs.calllog is not None and await obs.calllog.flush() == 3
    with database.read() as db:
        rows = db.execute("SELECT kind, app, tool, outcome, error_kind FROM ops_calls ORDER BY id").fetchall()
    assert rows == [
        ("tool", "quote-engine", "unknown", "error", "not_found"),
        ("tool", "nexus", "nexus_health", "ok", ""),
        ("satellite", "quote-engine", "get_quote", "error", "upstream_error"),
    ]


async def test_refused_calls_are_their_own_kind_and_not_the_owners_error_rate(database: Database) -> None:
    obs = make(database)
    for _ in range(30):  # a token probing tools its role may not call
        with pytest.raises(Forbidden), obs.tool_call("registry_set_status"):
            raise Forbidden("the satellite role may not call registry_set_status")
    with pytest.raises(NotFound), obs.tool_call("nexus_health"):
        raise NotFound("no such thing")
    for _ in range(3):
        with obs.tool_call("nexus_health") as watch:
            watch.result(type("Result", (), {"is_error": False})())
    assert (("app", "nexus"), ("outcome", "forbidden"), ("tool", "unknown")) in series(obs, "nexus_tool_calls_total")
    assert not any(("kind", "forbidden") in s for s in series(obs, "nexus_errors_total"))
    assert obs.calllog is not None and await obs.calllog.flush() == 34
    with database.read() as db:
        figures = compute_figures(db.conn, time.time() - 3600)
    assert (figures.tool_calls, figures.tool_errors, figures.tool_refusals) == (4, 1, 30)
    assert figures.error_rate == 0.25
    assert "30 refused" in figures.to_text()
