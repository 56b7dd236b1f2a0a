"""The kit against the real Nexus: a satellite registers itself over streamable HTTP with a bearer token."""

from __future__ import annotations

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from nexus_agent.config import Settings
from nexus_agent.testing.servers import serve_nexus_in_thread
from nexus_agent.wire.errors import Unauthorized
from nexus_agent.wire.models import AppRecord, AppStatus
from satellite_template.registration import register

NEXUS_TOKEN = "nexus-side-token-0123456789"


@pytest.mark.anyio
async def test_a_satellite_registers_itself_with_nexus_and_nexus_stores_its_record(example, tmp_path):
    settings = Settings.load({"NEXUS_HOME": str(tmp_path), "NEXUS_DB_SYNC": "normal", "NEXUS_TOKENS": NEXUS_TOKEN})
    base = "http://quotes.internal:8800"
    with serve_nexus_in_thread(settings) as nexus_url, anyio.fail_after(20):
        answer = await example.sat.register_with_nexus(f"{nexus_url}/mcp", NEXUS_TOKEN, base_url=base)
        with pytest.raises(Unauthorized):
            await example.sat.register_with_nexus(f"{nexus_url}/mcp", "wrong-token-0123456789abc", base_url=base)
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {NEXUS_TOKEN}"})
        async with http, Client(streamable_http_client(f"{nexus_url}/mcp", http_client=http)) as client:
            stored = await client.call_tool("registry_get", {"slug": "quote-engine"})
    assert answer
    assert not stored.is_error
    record = AppRecord.model_validate(stored.structured_content["app"])
    sent = example.sat.app_record(base)
    assert record.model_dump(exclude={"created_at", "updated_at"}) == sent.model_dump(
        exclude={"created_at", "updated_at"}
    )


OWNER_TOKEN = "owner-side-token-0123456789"
SATELLITE_TOKEN = "quote-engine-own-token-0123456789"


async def _app_status(nexus_mcp: str, slug: str) -> str:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {OWNER_TOKEN}"})
    async with http, Client(streamable_http_client(nexus_mcp, http_client=http)) as client:
        stored = await client.call_tool("registry_get", {"slug": slug})
    assert not stored.is_error, stored
    return str(stored.structured_content["app"]["status"])


@pytest.mark.anyio
async def test_a_kit_registration_with_its_own_token_always_waits_for_the_owner(example, tmp_path):
    tokens = f"boss:owner={OWNER_TOKEN},yard:satellite:quote-engine={SATELLITE_TOKEN}"
    settings = Settings.load({"NEXUS_HOME": str(tmp_path), "NEXUS_DB_SYNC": "normal", "NEXUS_TOKENS": tokens})
    base = "http://quotes.internal:8800"
    with serve_nexus_in_thread(settings) as nexus_url, anyio.fail_after(30):
        nexus_mcp = f"{nexus_url}/mcp"
        await example.sat.register_with_nexus(nexus_mcp, SATELLITE_TOKEN, base_url=base)
        assert await _app_status(nexus_mcp, "quote-engine") == "pending"
        # Even a record that claims to be approved lands pending: only the owner approves.
        claimed = example.sat.app_record(base, status=AppStatus.approved).model_copy(update={"version": "9.9.9"})
        await register(claimed, nexus_mcp, SATELLITE_TOKEN)
        assert await _app_status(nexus_mcp, "quote-engine") == "pending"
