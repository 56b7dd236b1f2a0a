"""Gateway fidelity and speed: list changes on handshake-era protocols, the lean registry page schema,
gap analysis over many apps, and the satellite pool's settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import jsonschema
import pytest
from mcp import Client
from mcp.types import TextContent

from nexus_agent.config import Settings
from nexus_agent.gaps import analyse_gaps
from nexus_agent.server import build_mcp_server
from nexus_agent.services import open_services, pool_settings_from
from nexus_agent.wire.models import AppRecord

pytestmark = pytest.mark.anyio


def _app(i: int, capability: str, status: str = "active") -> AppRecord:
    return AppRecord.model_validate(
        {
            "slug": f"app-{i}",
            "name": f"App {i}",
            "status": status,
            "capabilities": [{"name": capability, "description": f"Does {capability}"}],
            "endpoints": {"health_url": f"http://127.0.0.1:9/{i}/health"},
        }
    )


async def test_a_2025_11_25_client_is_told_tools_change_and_hears_it(tmp_path: Path) -> None:
    settings = Settings.load({"NEXUS_HOME": str(tmp_path)})
    async with open_services(settings, secrets={}, satellites=False) as services:
        server = build_mcp_server(services)
        heard: list[Any] = []

        async def on_message(message: Any) -> None:
            heard.append(message)

        async with Client(server, mode="legacy", message_handler=on_message) as client:
            assert client.server_capabilities is not None
            assert client.server_capabilities.tools is not None
            assert client.server_capabilities.tools.list_changed is True
            await client.list_tools()
            await server.notify_tools_changed()  # type: ignore[attr-defined]
            with anyio.fail_after(5):
                while not any("tools/list_changed" in str(getattr(m, "method", "")) for m in heard):
                    await anyio.sleep(0.01)


async def test_registry_list_publishes_a_schema_its_real_pages_satisfy(tmp_path: Path) -> None:
    settings = Settings.load({"NEXUS_HOME": str(tmp_path)})
    async with open_services(settings, secrets={}, satellites=False) as services:
        for i in range(3):
            await services.registry.register(_app(i, "quote pricing"), actor="test")
        async with Client(build_mcp_server(services)) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            schema = tools["registry_list"].output_schema
            assert schema is not None
            jsonschema.Draft202012Validator.check_schema(schema)
            items = schema["properties"]["items"]
            assert "$ref" not in str(schema) and "endpoints" in items["items"]["description"]
            result = await client.call_tool("registry_list", {"limit": 500})
            assert not result.is_error
            assert [a["slug"] for a in result.structured_content["items"]] == ["app-0", "app-1", "app-2"]
            (text,) = result.content  # the same JSON for clients that read only text, without the indentation
            assert isinstance(text, TextContent)
            assert json.loads(text.text) == result.structured_content and "\n" not in text.text
            with pytest.raises(jsonschema.ValidationError):
                jsonschema.validate({**result.structured_content, "items": [{"name": "no slug"}]}, schema)
            full = await client.call_tool("registry_list", {"limit": 500, "detail": "full"})
            assert not full.is_error and full.structured_content is not None
            jsonschema.validate(full.structured_content, schema)


def test_gap_analysis_is_the_same_whatever_else_is_registered() -> None:
    apps = [_app(i, "stock control") for i in range(2000)] + [_app(5000, "credit checks")]
    report = analyse_gaps(["credit checks", "site surveys"], apps)
    assert report.covered == ["credit checks"]
    assert [m.slug for m in report.capabilities[0].live] == ["app-5000"]
    assert report.gaps == ["site surveys"]
    again = analyse_gaps(["credit checks"], apps[-1:])  # the memo must not leak other apps into a result
    assert [m.slug for m in again.capabilities[0].live] == ["app-5000"]


def test_listing_and_call_deadlines_and_fan_out_bound_come_from_settings(tmp_path: Path) -> None:
    env = {
        "NEXUS_HOME": str(tmp_path),
        "NEXUS_SATELLITE_LIST_TIMEOUT_S": "25",
        "NEXUS_SATELLITE_CALL_TIMEOUT_S": "40",
        "NEXUS_FANOUT_CONCURRENCY": "128",
    }
    pool = pool_settings_from(Settings.load(env))
    assert (pool.list_timeout, pool.call_timeout, pool.fanout_concurrency) == (25, 40, 128)
    default = pool_settings_from(Settings.load({"NEXUS_HOME": str(tmp_path)}))
    assert (default.list_timeout, default.call_timeout, default.fanout_concurrency) == (10, 30, 64)


def test_tool_change_streams_can_be_turned_off(tmp_path: Path) -> None:
    """500 open tool-change streams cost a first fan-out ~1 s of CPU: a deployment can rely on the TTL."""
    home = {"NEXUS_HOME": str(tmp_path)}
    assert pool_settings_from(Settings.load(home)).watch_tool_changes is True
    off = pool_settings_from(Settings.load({**home, "NEXUS_SATELLITE_WATCH_TOOLS": "false"}))
    assert off.watch_tool_changes is False
