"""Satellites driven through Nexus: real satellite processes/servers, real HTTP and stdio."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from nexus_agent.config import Settings
from nexus_agent.scaffold import find_nexus_source, render_satellite
from nexus_agent.testing import free_port, serve_in_thread, serve_nexus_in_thread
from satellite_template import Satellite, SatelliteSettings

pytestmark = pytest.mark.anyio

NEXUS_TOKEN = "nexus-token-0123456789abcdef"
SAT_TOKEN = "satellite-token-0123456789abcdef"


def make_satellite(slug: str, capability: str) -> Satellite:
    sat = Satellite(slug, slug.replace("-", " ").title(), version="1.0.0", capabilities=[capability])

    @sat.tool(read_only=True, idempotent=True)
    def open_quotes(min_value: int = 0) -> dict[str, Any]:
        """Open quotes at or above a value in pounds."""
        quotes = [{"id": f"{slug}-Q1", "value": 30_000}, {"id": f"{slug}-Q2", "value": 12_000}]
        return {"quotes": [q for q in quotes if q["value"] >= min_value]}

    @sat.tool(read_only=True)
    def explode() -> str:
        """Always fails."""
        raise RuntimeError("boom")

    return sat


def serve_satellite(sat: Satellite) -> Any:
    settings = SatelliteSettings.from_env({"SATELLITE_TOKENS": SAT_TOKEN})
    return serve_in_thread(sat.create_app(settings))


def nexus_settings(tmp_path: Path, **env: str) -> Settings:
    # SAT_TOKEN is shared by these satellites, so the owner allow-lists it (an app may otherwise name only
    # its own SATELLITE_<SLUG>_* variables).
    base = {"NEXUS_HOME": str(tmp_path / "nexus"), "NEXUS_DB_SYNC": "normal", "NEXUS_TOKENS": NEXUS_TOKEN}
    return Settings.load({**base, "NEXUS_SECRET_ENV_ALLOW": "SAT_TOKEN", **env})


def nexus_client(base: str) -> Any:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {NEXUS_TOKEN}"})
    return http, Client(streamable_http_client(f"{base}/mcp", http_client=http))


def record_for(sat: Satellite, base: str) -> dict[str, Any]:
    record = sat.app_record(base, token_env="SAT_TOKEN").model_dump(mode="json")
    record["status"] = "active"
    return record


async def test_nexus_lists_calls_and_fans_out_to_real_satellites(tmp_path: Path) -> None:
    east, west = make_satellite("quotes-east", "quote generation"), make_satellite("quotes-west", "quote generation")
    dead_port = free_port()
    with serve_satellite(east) as east_url, serve_satellite(west) as west_url:
        settings = nexus_settings(tmp_path)
        with serve_nexus_in_thread(settings, secrets={"SAT_TOKEN": SAT_TOKEN}) as nexus:
            http, client = nexus_client(nexus)
            async with http, client:
                dead = {
                    "slug": "quotes-down",
                    "name": "Quotes Down",
                    "status": "active",
                    "capabilities": ["quote generation"],
                    "endpoints": {"mcp_url": f"http://127.0.0.1:{dead_port}/mcp", "token_env": "SAT_TOKEN"},
                }
                for record in (record_for(east, east_url), record_for(west, west_url), dead):
                    result = await client.call_tool("registry_register", {"record": record})
                    assert not result.is_error, result.content

                with anyio.fail_after(30):
                    names = {t.name for t in (await client.list_tools()).tools}
                assert {"quotes-east__open_quotes", "quotes-west__open_quotes", "satellite_call"} <= names

                direct = await client.call_tool("quotes-east__open_quotes", {"min_value": 25_000})
                assert not direct.is_error
                assert direct.structured_content["quotes"] == [{"id": "quotes-east-Q1", "value": 30000}]

                via = await client.call_tool(
                    "satellite_call", {"tool": "quotes-west__open_quotes", "arguments": {"min_value": 0}}
                )
                assert len(via.structured_content["structured_content"]["quotes"]) == 2

                invalid = await client.call_tool("quotes-east__open_quotes", {"min_value": "lots"})
                assert invalid.is_error and "min_value" in invalid.content[0].text

                failing = await client.call_tool("satellite_call", {"tool": "quotes-east__explode"})
                assert failing.is_error and "quotes-east__explode" in failing.content[0].text

                progress: list[tuple[float, float | None, str | None]] = []

                async def on_progress(done: float, total: float | None, message: str | None) -> None:
                    progress.append((done, total, message))

                with anyio.fail_after(60):
                    fan = await client.call_tool(
                        "satellite_fan_out",
                        {"tool": "open_quotes", "arguments": {"min_value": 25_000}, "capability": "quote generation"},
                        progress_callback=on_progress,
                    )
                # Progress streamed to Nexus's own MCP client while the fan-out ran: one per satellite.
                assert len(progress) >= 3 and progress[-1][0] == progress[-1][1] == 3
                items = {i["slug"]: i for i in fan.structured_content["items"]}
                assert items["quotes-east"]["ok"] and items["quotes-west"]["ok"]
                assert not items["quotes-down"]["ok"]
                assert items["quotes-down"]["error"]["code"] == "upstream_error"

                health = await client.call_tool("satellite_health", {})
                states = {s["slug"]: s["state"] for s in health.structured_content["satellites"]}
                assert states["quotes-east"] == "up"
                assert states["quotes-down"] == "down"

                still = await client.call_tool("nexus_health", {})
                assert still.structured_content["status"] == "ok"


async def test_satellite_rejecting_nexus_token_is_a_clear_error(tmp_path: Path) -> None:
    sat = make_satellite("quotes-east", "quote generation")
    with serve_satellite(sat) as url:
        wrong = {"SAT_TOKEN": "the-wrong-token-0123456789"}
        with serve_nexus_in_thread(nexus_settings(tmp_path), secrets=wrong) as nexus:
            http, client = nexus_client(nexus)
            async with http, client:
                await client.call_tool("registry_register", {"record": record_for(sat, url)})
                with anyio.fail_after(30):
                    result = await client.call_tool("satellite_call", {"tool": "quotes-east__open_quotes"})
    assert result.is_error
    text = result.content[0].text
    assert "token" in text.lower()
    assert "the-wrong-token" not in text


@pytest.mark.slow
async def test_mcp_server_time_over_stdio_as_a_satellite(tmp_path: Path) -> None:
    command = shutil.which("mcp-server-time", path=os.path.dirname(sys.executable)) or shutil.which("mcp-server-time")
    assert command, "mcp-server-time is a test dependency; install the project with '.[test]'"
    # Over HTTP only the owner may set a command, and only when the owner turned that on.
    with serve_nexus_in_thread(nexus_settings(tmp_path, NEXUS_ALLOW_REMOTE_COMMANDS="true"), secrets={}) as nexus:
        http, client = nexus_client(nexus)
        async with http, client:
            record = {
                "slug": "clock",
                "name": "Clock",
                "status": "active",
                "capabilities": ["time zones"],
                "endpoints": {"mcp_command": [command, "--local-timezone", "Europe/London"]},
            }
            assert not (await client.call_tool("registry_register", {"record": record})).is_error
            with anyio.fail_after(30):
                result = await client.call_tool("clock__get_current_time", {"timezone": "Europe/London"})
            assert not result.is_error, result.content
            assert "Europe/London" in result.content[0].text
            bad = await client.call_tool("clock__convert_time", {"source_timezone": "Europe/London"})
            assert bad.is_error and "time" in bad.content[0].text


@pytest.fixture
def demo_project(tmp_path: Path) -> Iterator[Path]:
    yield render_satellite("demo", tmp_path / "demo", nexus_source=find_nexus_source())


@pytest.mark.slow
async def test_newcomer_flow_generated_satellite_registered_and_called_through_nexus(
    tmp_path: Path, demo_project: Path
) -> None:
    """`nexus satellite new demo` -> start it -> it registers itself -> owner approves -> call via Nexus."""
    port = free_port()
    with serve_nexus_in_thread(nexus_settings(tmp_path), secrets={"SATELLITE_DEMO_TOKEN": SAT_TOKEN}) as nexus:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(demo_project / "src"), *sys.path]),
            "SATELLITE_TOKENS": SAT_TOKEN,
            "SATELLITE_WEBHOOK_SECRET": "webhook-secret-0123456789abcdef",
            "NEXUS_URL": f"{nexus}/mcp",
            "NEXUS_TOKEN": NEXUS_TOKEN,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "demo", "serve", "--http", f"127.0.0.1:{port}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            with anyio.fail_after(30):
                while True:
                    try:
                        if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code in {200, 503}:
                            break
                    except httpx.TransportError:
                        await anyio.sleep(0.05)
            registered = subprocess.run(
                [sys.executable, "-m", "demo", "register", "--base-url", f"http://127.0.0.1:{port}"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert registered.returncode == 0, registered.stderr
            http, client = nexus_client(nexus)
            async with http, client:
                got = await client.call_tool("registry_get", {"slug": "demo"})
                assert got.structured_content["app"]["status"] == "pending"
                approve = await client.call_tool(
                    "registry_set_status", {"slug": "demo", "status": "approved", "reason": "looks good"}
                )
                assert not approve.is_error
                with anyio.fail_after(30):
                    result = await client.call_tool("demo__quote_status", {"quote_id": "Q-1002"})
                assert not result.is_error, result.content
                assert result.structured_content["status"] == "accepted"
                missing = await client.call_tool("demo__quote_status", {"quote_id": "Q-9"})
                assert missing.is_error and "Q-1001" in json.dumps([c.text for c in missing.content])
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
