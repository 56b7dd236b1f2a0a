"""registry_list over real MCP: summary pages by default, whole records on request, old arguments unchanged."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
from mcp import Client

from nexus_agent.config import Settings
from nexus_agent.server import build_mcp_server
from nexus_agent.services import open_services
from nexus_agent.wire.models import AppRecord
from tools.registry_tools import SUMMARY_DESCRIPTION_CHARS

pytestmark = pytest.mark.anyio


def _app(i: int, status: str = "active", description: str = "") -> AppRecord:
    return AppRecord.model_validate(
        {
            "slug": f"app-{i}",
            "name": f"App {i}",
            "status": status,
            "category": "finance" if i % 2 else "operations",
            "description": description or f"App number {i}",
            "capabilities": [{"name": "quote pricing", "description": "Prices quotes"}, "stock control"],
            "tools": [{"name": "get_quote", "description": "A quote"}],
            "tags": ["sales"],
            "endpoints": {"health_url": f"http://127.0.0.1:9/{i}/health"},
        }
    )


async def test_a_page_is_summaries_by_default_and_whole_records_on_request(tmp_path: Path) -> None:
    settings = Settings.load({"NEXUS_HOME": str(tmp_path)})
    long_text = " ".join(["word"] * 200)
    async with open_services(settings, secrets={}, satellites=False) as services:
        for i in range(3):
            await services.registry.register(_app(i, description=long_text if i == 1 else ""), actor="test")
        async with Client(build_mcp_server(services)) as client:
            schema = {t.name: t for t in (await client.list_tools()).tools}["registry_list"].output_schema
            assert schema is not None
            summary = await client.call_tool("registry_list", {})
            assert not summary.is_error and summary.structured_content is not None
            first = summary.structured_content["items"][0]
            assert first == {
                "slug": "app-0",
                "name": "App 0",
                "status": "active",
                "category": "operations",
                "version": "0.0.0",
                "description": "App number 0",
                "capabilities": ["quote pricing", "stock control"],
                "tags": ["sales"],
                "tool_count": 1,
            }
            cut = summary.structured_content["items"][1]["description"]
            assert len(cut) <= SUMMARY_DESCRIPTION_CHARS and cut.endswith("…")
            full = await client.call_tool("registry_list", {"detail": "full", "category": "finance"})
            assert full.structured_content is not None
            (record,) = full.structured_content["items"]
            assert record["slug"] == "app-1" and record["description"] == long_text
            assert record["capabilities"][0] == {"name": "quote pricing", "description": "Prices quotes"}
            assert record["endpoints"]["health_url"] == "http://127.0.0.1:9/1/health"
            for page in (summary, full):
                jsonschema.validate(page.structured_content, schema)


async def test_the_old_arguments_still_filter_and_page(tmp_path: Path) -> None:
    settings = Settings.load({"NEXUS_HOME": str(tmp_path)})
    async with open_services(settings, secrets={}, satellites=False) as services:
        for i in range(5):
            await services.registry.register(_app(i, status="active" if i < 3 else "pending"), actor="test")
        async with Client(build_mcp_server(services)) as client:
            page = await client.call_tool("registry_list", {"status": ["active"], "limit": 2, "offset": 1})
            assert page.structured_content is not None
            data = page.structured_content
            assert [a["slug"] for a in data["items"]] == ["app-1", "app-2"]
            assert (data["total"], data["next_offset"]) == (3, None)
            assert (data["status_counts"]["active"], data["status_counts"]["pending"]) == (3, 2)
            bad = await client.call_tool("registry_list", {"detail": "everything"})
            assert bad.is_error
            assert "detail" in bad.content[0].text and "summary" in bad.content[0].text  # type: ignore[union-attr]
