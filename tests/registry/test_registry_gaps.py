"""Gap analysis over what the registry holds, and concurrent use of one registry."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest

from nexus_agent.gaps import analyse_gaps
from nexus_agent.registry import AppFilter, SqliteRegistry
from nexus_agent.wire.models import AppRecord

MakeApp = Callable[..., AppRecord]  # the make_app fixture (tests/registry/conftest.py)

pytestmark = pytest.mark.anyio


async def test_gap_analysis_over_the_registry_follows_status_changes(
    registry: SqliteRegistry, make_app: MakeApp
) -> None:
    await registry.register(make_app("quote-engine", status="active", capabilities=["Quote generation"]), "owner")
    survey = make_app("site-survey", capabilities=["Book site surveys"], endpoints={"health_url": "http://s.test/h"})
    await registry.register(survey, "owner")

    before = analyse_gaps(["pricing", "site visits", "credit vetting"], await registry.all())
    assert (before.covered, before.planned_only, before.gaps) == (["pricing"], ["site visits"], ["credit vetting"])

    await registry.set_status("site-survey", "active", "owner", "deployed")
    await registry.set_status("quote-engine", "retired", "owner", "replaced")
    after = analyse_gaps(["pricing", "site visits", "credit vetting"], await registry.all())
    assert (after.covered, after.planned_only, after.gaps) == (["site visits"], [], ["pricing", "credit vetting"])


async def test_concurrent_registrations_all_land(registry: SqliteRegistry, make_app: MakeApp) -> None:
    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(registry.register, make_app(f"app-{i:02d}"), "importer")
    page = await registry.list(AppFilter(limit=500))
    assert page.total == 20 and len({a.slug for a in page.items}) == 20
