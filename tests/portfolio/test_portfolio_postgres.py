"""The portfolio import on the PostgreSQL registry (a real server, or a skip saying how to enable it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nexus_agent.portfolio import import_portfolio

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_the_real_shapes_fixture_imports_into_postgresql(real_shapes: Path, pg_database: Any) -> None:
    from nexus_agent.registry_pg import PgRegistry

    registry = PgRegistry(pg_database)

    report = await import_portfolio(real_shapes, registry, "owner")
    again = await import_portfolio(real_shapes, registry, "owner")

    assert report.ok and report.written
    assert {a.folder: a.outcome for a in report.apps} == dict.fromkeys(
        ["crew-rota", "glass-store", "yard-tracker"], "imported"
    )
    assert {a.outcome for a in again.apps} == {"unchanged"}
    yard = await registry.get("yard-tracker")
    assert [s.type for s in yard.message_specs] == ["query.bay_occupancy", "action.reserve_bay", "action.release_bay"]
