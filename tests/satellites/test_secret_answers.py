"""The pool withholds a satellite answer that carries a secret; images pass; in a fan-out the leaker fails alone."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator

import anyio
import mcp_types as types
import pytest
from mcp.server import MCPServer
from mcp.server.mcpserver import Image

from nexus_agent.satellites import SatellitePool
from nexus_agent.testing import serve_in_thread
from nexus_agent.wire.errors import SecretLeakRefused
from nexus_agent.wire.models import AppEndpoints, AppRecord, AppStatus
from nexus_agent.wire.secret_guard import KnownSecrets

pytestmark = pytest.mark.anyio

CONFIGURED = "copper kettle morning tide"  # a configured secret: only its exact value gives it away
GITHUB_TOKEN = "ghp_" + "Zx9cV8bN7mQ6wE5rT4yU3iO2pA1sD0fG9hJ8"


def server(answer: str) -> MCPServer:
    sat = MCPServer("sat")

    @sat.tool()
    def report() -> str:
        return answer

    @sat.tool()
    def chart() -> Image:
        return Image(data=b"\x89PNG\r\n\x1a\n" + os.urandom(4096), format="png")

    @sat.tool()
    def files() -> list[types.ContentBlock]:
        blob = base64.b64encode(os.urandom(4096)).decode()
        resource = types.BlobResourceContents(uri="file:///a.bin", mime_type="application/octet-stream", blob=blob)
        return [types.EmbeddedResource(type="resource", resource=resource)]

    return sat


ANSWERS = {
    "clean": "3 quotes priced",
    "configured": f"debug: hook secret {CONFIGURED}",
    "pattern": f"deploy with {GITHUB_TOKEN}",
    "echoes-token": "my bearer is satellite-own-token-0123456789",
}


@pytest.fixture(scope="module")
def urls() -> Iterator[dict[str, str]]:
    with (
        serve_in_thread(server(ANSWERS["clean"]).streamable_http_app()) as clean,
        serve_in_thread(server(ANSWERS["configured"]).streamable_http_app()) as configured,
        serve_in_thread(server(ANSWERS["pattern"]).streamable_http_app()) as pattern,
        serve_in_thread(server(ANSWERS["echoes-token"]).streamable_http_app()) as echoes,
    ):
        yield {"clean": clean, "configured": configured, "pattern": pattern, "echoes-token": echoes}


def pool(urls: dict[str, str]) -> SatellitePool:
    records = [
        AppRecord(
            slug=slug,
            name=slug,
            status=AppStatus.active,
            endpoints=AppEndpoints(
                mcp_url=f"{url}/mcp",  # type: ignore[arg-type]
                token_env="SATELLITE_ECHOES_TOKEN_TOKEN" if slug == "echoes-token" else None,
            ),
        )
        for slug, url in urls.items()
    ]
    return SatellitePool(
        records,
        secrets={"SATELLITE_ECHOES_TOKEN_TOKEN": "satellite-own-token-0123456789"},
        known_secrets=KnownSecrets([CONFIGURED]),
    )


async def test_a_fan_out_member_carrying_a_secret_fails_alone(urls: dict[str, str]) -> None:
    async with pool(urls) as p:
        with anyio.fail_after(30):
            result = await p.fan_out("report", slugs=list(urls), timeout=10)
    items = {item.slug: item for item in result.items}
    assert items["clean"].ok and items["clean"].result is not None and items["clean"].result.text == ANSWERS["clean"]
    for slug, kind in (("configured", "configured_secret"), ("pattern", "github_token"), ("echoes-token", None)):
        item = items[slug]
        assert not item.ok and item.result is None and item.error is not None, slug
        assert item.error["code"] == "secret_detected"
        assert item.error["details"]["slug"] == slug and item.error["details"]["reason"] == "secret_in_answer"
        if kind:
            assert kind in item.error["message"]
    dumped = result.model_dump_json()
    assert CONFIGURED not in dumped and GITHUB_TOKEN not in dumped and "satellite-own-token" not in dumped


async def test_a_direct_call_raises_with_the_app_named(urls: dict[str, str]) -> None:
    async with pool(urls) as p:
        with anyio.fail_after(30), pytest.raises(SecretLeakRefused) as caught:
            await p.call("configured__report")
    assert "satellite 'configured' answered report with a secret" in caught.value.message
    assert CONFIGURED not in caught.value.user_message()


async def test_images_and_blobs_are_data(urls: dict[str, str]) -> None:
    async with pool(urls) as p:
        with anyio.fail_after(30):
            chart = await p.call("clean__chart")
            files = await p.call("clean__files")
    assert [block.type for block in chart.content] == ["image"]
    assert [block.type for block in files.content] == ["resource"]


async def test_a_token_of_an_app_added_later_is_withheld_from_answers_at_once(urls: dict[str, str]) -> None:
    """The guard keeps the satellites' tokens merged between answers: an app registered later (the pool's
    update) is known from the next answer on, and so is an app that no longer has one, forgotten."""
    token = "satellite-own-token-0123456789"
    echoes = AppRecord(
        slug="echoes-token",
        name="echoes",
        status=AppStatus.active,
        endpoints=AppEndpoints(mcp_url=f"{urls['echoes-token']}/mcp"),  # type: ignore[arg-type]
    )
    holder = AppRecord(
        slug="holder",
        name="holder",
        status=AppStatus.active,
        endpoints=AppEndpoints(mcp_url=f"{urls['clean']}/mcp", token_env="SATELLITE_HOLDER_TOKEN"),  # type: ignore[arg-type]
    )
    async with SatellitePool([echoes], secrets={"SATELLITE_HOLDER_TOKEN": token}) as p:
        with anyio.fail_after(30):
            assert (await p.call("echoes-token__report")).text == ANSWERS["echoes-token"]  # no one's token yet
            await p.sync_apps([echoes, holder])
            with pytest.raises(SecretLeakRefused):
                await p.call("echoes-token__report")
            await p.sync_apps([echoes])
            assert (await p.call("echoes-token__report")).text == ANSWERS["echoes-token"]
