"""``GET /metrics`` and ``GET /status`` on a real Nexus HTTP server (uvicorn on 127.0.0.1)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from prometheus_client.parser import text_string_to_metric_families

from nexus_agent.cli import main
from nexus_agent.config import Settings
from nexus_agent.ops.backup import record_backup
from nexus_agent.services import open_services_sync
from nexus_agent.testing import serve_nexus_in_thread
from nexus_agent.wire.models import AppRecord

pytestmark = pytest.mark.anyio

OWNER = "ops-owner-token-0123456789abcdef"
MONITOR = "ops-monitor-token-0123456789abcdef"
AGENT = "ops-agent-token-0123456789abcdef"


def _env(tmp_path: Path, tokens: str = f"boss={OWNER}") -> dict[str, str]:
    return {"NEXUS_HOME": str(tmp_path / "home"), "NEXUS_DB_SYNC": "normal", "NEXUS_TOKENS": tokens}


def _register(settings: Settings) -> None:
    with open_services_sync(settings) as services:
        record = AppRecord.model_validate(
            {"slug": "quote-engine", "name": "Quote Engine", "category": "sales", "status": "approved"}
        )
        services.registry.register_sync(record, actor="test")  # type: ignore[attr-defined]


def _families(text: str) -> dict[str, object]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def _value(text: str, sample: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


async def test_metrics_count_tool_calls_with_bounded_labels_and_figures_survive_a_restart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = _env(tmp_path)
    settings = Settings.load(env)
    _register(settings)
    auth = {"Authorization": f"Bearer {OWNER}"}
    with serve_nexus_in_thread(settings) as base:
        assert httpx.get(f"{base}/metrics", timeout=5).status_code == 401
        http = httpx2.AsyncClient(headers=auth)
        async with http, Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client:
            for _ in range(3):
                assert not (await client.call_tool("nexus_health", {})).is_error
            assert (await client.call_tool("registry_get", {"slug": "no-such-app"})).is_error
            assert (await client.call_tool("made-up__tool-9f8e7d6c", {})).is_error
        scraped = httpx.get(f"{base}/metrics", headers=auth, timeout=5)
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    text = scraped.text
    assert _value(text, "nexus_tool_calls_total", app="nexus", tool="nexus_health", outcome="ok") == 3
    assert _value(text, "nexus_tool_calls_total", app="nexus", tool="registry_get", outcome="error") == 1
    assert _value(text, "nexus_tool_calls_total", app="other", tool="unknown", outcome="error") == 1
    assert "made-up" not in text and "no-such-app" not in text  # free text never becomes a label
    assert _value(text, "nexus_errors_total", kind="not_found", source="tool") >= 1
    assert _value(text, "nexus_tool_call_duration_seconds_count", source="nexus") == 4
    assert _value(text, "nexus_tool_call_duration_seconds_count", source="satellite") == 1
    assert _value(text, "nexus_registrations_total", outcome="registered") == 1
    assert _value(text, "nexus_apps", status="approved") == 1
    families = _families(text)
    for name in ("nexus_instructions", "nexus_outbox_backlog", "nexus_outbox_dead_letters", "nexus_satellite_breakers"):
        assert name in families
    assert _value(text, "nexus_build_info") == 1
    assert _value(text, "nexus_http_request_duration_seconds_count", route="/mcp", method="POST", status="2xx") >= 5

    # The server has stopped: the figures come from the database.
    assert main(["metrics", "--since", "1h", "--json"], env=env) == 0
    import json

    figures = json.loads(capsys.readouterr().out)
    assert figures["tool_calls"] == 5 and figures["tool_errors"] == 2
    assert figures["error_rate"] == pytest.approx(0.4)
    assert figures["registrations"] == 1 and figures["response_ms_p50"] is not None


async def test_the_status_page_needs_a_login_and_shows_apps_health_and_the_last_backup(tmp_path: Path) -> None:
    settings = Settings.load(_env(tmp_path))
    _register(settings)
    with open_services_sync(settings) as services:
        record_backup(services.database, started=time.time(), ok=False, trigger="daily", error="disk full")
    with serve_nexus_in_thread(settings) as base, httpx.Client(base_url=base, timeout=5) as web:
        anonymous = web.get("/status", follow_redirects=False)
        assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login"
        assert "Quote Engine" not in anonymous.text

        page = web.get("/status", headers={"Authorization": f"Bearer {OWNER}"})
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "Quote Engine" in page.text and '<meta http-equiv="refresh"' in page.text
        assert "the last backup FAILED" in page.text and "disk full" in page.text
        assert page.text.count("<svg") == 4  # one chart per seed figure

        refused = web.post("/login", data={"token": "not-a-token-0123456789"}, follow_redirects=False)
        assert refused.status_code == 401 and "set-cookie" not in refused.headers
        login = web.post("/login", data={"token": OWNER}, follow_redirects=False)
        assert login.status_code == 303
        cookie = login.headers["set-cookie"]
        for attribute in ("HttpOnly", "Secure", "SameSite=strict"):
            assert attribute.lower() in cookie.lower()
        assert OWNER not in cookie
        session = cookie.split(";")[0].split("=", 1)[1]
        with_cookie = web.get("/status", cookies={"nexus_session": session})
        assert with_cookie.status_code == 200 and "Quote Engine" in with_cookie.text
        forged = web.get("/status", cookies={"nexus_session": session[:-2] + "xx"}, follow_redirects=False)
        assert forged.status_code == 303

        health = web.get("/api/health", headers={"Authorization": f"Bearer {OWNER}"}).json()
        backup_check = next(c for c in health["checks"] if c["name"] == "backup")
        assert backup_check["status"] == "warn" and "FAILED" in backup_check["detail"]
        assert health["status"] == "degraded"


async def test_metrics_and_status_admit_owner_and_monitor_only(tmp_path: Path) -> None:
    if "token_grants" not in Settings.model_fields:
        pytest.skip("roles on tokens (name:role=token) are not in this build yet")
    tokens = f"boss:owner={OWNER},prom:monitor={MONITOR},bot:agent={AGENT}"
    settings = Settings.load(_env(tmp_path, tokens))
    with serve_nexus_in_thread(settings) as base, httpx.Client(base_url=base, timeout=5) as web:
        for token, allowed in ((OWNER, True), (MONITOR, True), (AGENT, False)):
            headers = {"Authorization": f"Bearer {token}"}
            assert (web.get("/metrics", headers=headers).status_code == 200) is allowed
            assert (web.get("/status", headers=headers).status_code == 200) is allowed
        assert web.post("/login", data={"token": AGENT}).status_code == 401
