"""Interop: the PyPI server `mcp-server-time` (not written by us) as a stdio satellite."""

from __future__ import annotations

import anyio
import pytest

from nexus_agent.wire.errors import InvalidInput, UpstreamError
from nexus_agent.wire.models import AppEndpoints, AppRecord, AppStatus

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_calls_mcp_server_time_over_stdio(make_pool, time_record):
    async with make_pool([time_record], call_timeout=20, connect_timeout=20, list_timeout=20) as pool:
        with anyio.fail_after(30):
            listing = await pool.list_tools()
            tools = {t.qualified_name: t for t in listing.tools}
            assert {"time__get_current_time", "time__convert_time"} <= set(tools)
            assert tools["time__get_current_time"].read_only
            result = await pool.call("time__get_current_time", {"timezone": "Europe/London"})
            assert not result.is_error
            assert result.structured_content["timezone"] == "Europe/London"
            converted = await pool.call(
                "time__convert_time",
                {"source_timezone": "Europe/London", "time": "12:00", "target_timezone": "Asia/Tokyo"},
            )
            assert "Asia/Tokyo" in converted.text
            with pytest.raises(InvalidInput) as exc:
                await pool.call("time__get_current_time", {})
            assert exc.value.details[0]["field"] == "timezone"
            bad_zone = await pool.call("time__get_current_time", {"timezone": "Mars/Olympus"})
            assert bad_zone.is_error
        assert pool.connection("time").opens == 1


async def test_a_command_that_does_not_exist_is_reported(make_pool):
    record = AppRecord(
        slug="nowhere",
        name="Nowhere",
        status=AppStatus.active,
        endpoints=AppEndpoints(mcp_command=["/nonexistent/mcp-server-nowhere"]),
    )
    async with make_pool([record]) as pool:
        with anyio.fail_after(10), pytest.raises(UpstreamError) as exc:
            await pool.call("nowhere__anything", {})
    assert exc.value.details["reason"] == "unreachable"
    assert "could not start satellite 'nowhere'" in exc.value.message
