"""Ops figures on PostgreSQL: one replica's tool calls, outbox and instructions count on every replica."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from nexus_agent.config import Settings
from nexus_agent.ops.calllog import CallLog
from nexus_agent.ops.figures import compute_figures
from nexus_agent.ops.metrics import DatabaseCollector
from nexus_agent.services import open_services_sync
from nexus_agent.wire.models import AppRecord

pytestmark = pytest.mark.anyio


def _settings(tmp_path: Path, home: str, pg_url: str) -> Settings:
    return Settings.load({"NEXUS_HOME": str(tmp_path / home), "NEXUS_DATABASE_URL": pg_url, "NEXUS_DB_SYNC": "normal"})


async def test_replica_b_reports_the_calls_events_and_instructions_of_replica_a(tmp_path: Path, pg_url: str) -> None:
    hook = {"mcp_url": "http://quote-engine.example.test/mcp", "webhook_url": "http://quote-engine.example.test/hook"}
    with open_services_sync(_settings(tmp_path, "a", pg_url)) as a:
        assert a.shared is not None
        app = AppRecord.model_validate({"slug": "quote-engine", "name": "Quote Engine", "endpoints": hook})
        await a.registry.register(app, "owner")
        await a.instructions.create("quote-engine", "recalculate-quote", "Q-7", actor="owner")  # queues its notice
        calls = CallLog(a.shared.database)
        for outcome, seconds in (("ok", 0.010), ("ok", 0.030), ("error", 0.020)):
            calls.record("tool", "nexus", "memory_search", outcome, seconds)
        await calls.flush()
    with open_services_sync(_settings(tmp_path, "b", pg_url)) as b:
        assert b.shared is not None
        assert (await b.outbox.stats()).pending == 1  # one outbox: B's dispatcher would send A's notice
        registry = CollectorRegistry()
        registry.register(DatabaseCollector(b.database, shared=b.shared.database))
        scraped = generate_latest(registry).decode()
        assert 'nexus_outbox_events{status="pending"} 1.0' in scraped
        assert 'nexus_instructions{state="delivered"} 1.0' in scraped
        with b.database.read() as db, b.shared.database.read() as pg:
            figures = compute_figures(db.conn, 0, shared=pg)
            alone = compute_figures(db.conn, 0)  # B's own SQLite file saw none of it
    assert (figures.tool_calls, figures.tool_errors, figures.response_ms_p50) == (3, 1, 20.0)
    assert alone.tool_calls == 0
