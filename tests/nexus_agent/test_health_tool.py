"""``nexus_health`` shows filesystem paths only to the owner at the machine; over HTTP nobody sees them."""

from __future__ import annotations

import json
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from nexus_agent.config import Settings
from nexus_agent.server import build_mcp_server
from nexus_agent.services import NexusServices
from nexus_agent.testing import serve_nexus_in_thread
from tools.health_tools import HealthCheck, HealthReport, without_paths

pytestmark = pytest.mark.anyio

OWNER_TOKEN = "owner-token-0123456789abcdef"
MONITOR_TOKEN = "monitor-token-0123456789abcdef"


async def health_over_http(base: str, token: str) -> str:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"})
    async with http, Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client:
        result = await client.call_tool("nexus_health", {})
    assert not result.is_error and result.structured_content["checks"]
    return json.dumps(result.structured_content)


async def test_the_local_owner_sees_the_database_path(services: NexusServices) -> None:
    async with Client(build_mcp_server(services)) as client:  # the stdio server acts as the local owner
        result = await client.call_tool("nexus_health", {})
    database = next(c for c in result.structured_content["checks"] if c["name"] == "database")
    assert str(services.database.path) in database["detail"]


async def test_no_caller_over_http_sees_a_filesystem_path(tmp_path: Path) -> None:
    tokens = f"boss:owner={OWNER_TOKEN},watch:monitor={MONITOR_TOKEN}"
    settings = Settings.load({"NEXUS_HOME": str(tmp_path), "NEXUS_DB_SYNC": "normal", "NEXUS_TOKENS": tokens})
    with serve_nexus_in_thread(settings) as base:
        for token in (MONITOR_TOKEN, OWNER_TOKEN):
            text = await health_over_http(base, token)
            assert str(tmp_path) not in text and "nexus.db" not in text, text
            assert "<path>" in text  # the database check still says where it looked, without saying the path


def test_without_paths_keeps_everything_but_the_paths() -> None:
    report = HealthReport(
        status="degraded",
        version="1.0",
        uptime_s=1.0,
        checks=[
            HealthCheck(name="database", status="warn", detail="/srv/nexus/nexus.db; pending migrations: 0005_x"),
            HealthCheck(name="registry", status="ok", detail="12 apps"),
            HealthCheck(name="backup", status="warn", detail="could not write C:/Backups/nexus/b.db or ~/nexus/b"),
        ],
        apps_by_status={"active": 12},
    )
    stripped = without_paths(report)
    assert [c.detail for c in stripped.checks] == [
        "<path>; pending migrations: 0005_x",
        "12 apps",
        "could not write <path> or <path>",
    ]
    assert stripped.apps_by_status == {"active": 12} and stripped.status == "degraded"
    assert report.checks[0].detail.startswith("/srv/nexus")  # the original is left alone
