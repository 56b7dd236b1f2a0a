"""Ops figures on PostgreSQL: registrations and plans are counted where every replica writes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from nexus_agent.cli import main
from nexus_agent.config import Settings
from nexus_agent.ops.figures import compute_figures
from nexus_agent.ops.metrics import DatabaseCollector
from nexus_agent.services import open_services_sync
from nexus_agent.wire.models import AppRecord

pytestmark = pytest.mark.anyio


def _settings(tmp_path: Path, home: str, pg_url: str) -> Settings:
    return Settings.load({"NEXUS_HOME": str(tmp_path / home), "NEXUS_DATABASE_URL": pg_url, "NEXUS_DB_SYNC": "normal"})


async def test_replica_b_counts_the_registrations_and_plans_made_on_replica_a(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with open_services_sync(_settings(tmp_path, "a", pg_url)) as a:
        for slug in ("quote-engine", "stock-ledger"):
            await a.registry.register(AppRecord.model_validate({"slug": slug, "name": slug.title()}), "owner")
        await a.memory.create_plan({"instruction": "chase quote Q-7", "created_by": "owner"})
    with open_services_sync(_settings(tmp_path, "b", pg_url)) as b:
        assert b.shared is not None
        registry = CollectorRegistry()
        registry.register(DatabaseCollector(b.database, shared=b.shared.database))
        scraped = generate_latest(registry).decode()
        assert 'nexus_registrations_total{outcome="registered"} 2.0' in scraped
        assert 'nexus_plans{status="' in scraped
        with b.database.read() as db, b.shared.database.read() as pg:
            assert compute_figures(db.conn, 0, shared=pg).registrations == 2
            assert compute_figures(db.conn, 0).registrations == 0  # the replica's own file has none
    assert (
        main(
            ["metrics", "--since", "1d", "--json"],
            env={"NEXUS_HOME": str(tmp_path / "b"), "NEXUS_DATABASE_URL": pg_url},
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["registrations"] == 2
