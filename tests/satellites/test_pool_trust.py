"""Defence in depth in the pool: it runs only owner-set commands and reads only an app's own variables."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest

from nexus_agent.satellites import HealthState, SatellitePool
from nexus_agent.wire.errors import Forbidden
from nexus_agent.wire.models import AppEndpoints, AppRecord, AppStatus

pytestmark = pytest.mark.anyio


def marker_app(mark: Path) -> AppRecord:
    code = f"open({str(mark)!r}, 'w').close()"
    return AppRecord(
        slug="marker",
        name="Marker",
        status=AppStatus.active,
        endpoints=AppEndpoints(mcp_command=[sys.executable, "-c", code]),
    )


async def test_a_command_without_the_owners_provenance_is_never_run(tmp_path: Path) -> None:
    mark = tmp_path / "ran"
    record = marker_app(mark)
    other = ["/bin/true"]  # the owner set a different command for this slug
    for commands in ({}, {"marker": other}):
        async with SatellitePool([record], commands=commands) as pool:
            with anyio.fail_after(10), pytest.raises(Forbidden, match="did not set on this machine"):
                await pool.list_tools("marker")
            [health] = await pool.health("marker")
        assert health.state is HealthState.down and "will not run it" in health.detail
    assert not mark.exists()


async def test_the_owners_command_is_run(tmp_path: Path) -> None:
    mark = tmp_path / "ran"
    record = marker_app(mark)
    async with SatellitePool([record], commands={"marker": record.endpoints.mcp_command or []}) as pool:
        with anyio.fail_after(20):
            listing = await pool.list_tools("marker")
    assert "marker" in listing.errors  # it is no MCP server, but it was started
    assert mark.exists()


async def test_a_foreign_token_variable_is_not_read(tmp_path: Path) -> None:
    record = AppRecord(
        slug="quotes",
        name="Quotes",
        status=AppStatus.active,
        endpoints=AppEndpoints(mcp_url="http://127.0.0.1:9/mcp", token_env="NEXUS_GITHUB_WEBHOOK_SECRET"),
    )
    secret = "github-webhook-secret-0123456789"
    async with SatellitePool([record], secrets={"NEXUS_GITHUB_WEBHOOK_SECRET": secret}) as pool:
        with pytest.raises(Forbidden, match="own variables") as refused:
            await pool.list_tools("quotes")
    assert secret not in str(refused.value)
