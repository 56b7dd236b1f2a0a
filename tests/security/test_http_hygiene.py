"""Inbound HTTP hygiene through a real ``nexus serve --http`` (and a kit satellite under uvicorn).

- a client that trickles its request body is cut off with 408 once the body deadline passes, and the
  server keeps answering everyone else meanwhile;
- an ``Origin`` that is not Nexus's own (another port on the same host, another host) is refused, the
  full origin compared, port included; a foreign ``Host`` is refused on /mcp;
- ``/api/health`` answers a bare liveness without a token and the details, free of filesystem paths,
  only with a valid one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import httpx
import pytest

from nexus_agent.testing import serve_in_thread
from satellite_template import Satellite, SatelliteSettings

from .nexus_process import OWNER, NexusProcess, base_env

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

BODY_TIMEOUT_S = "1"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def nexus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NexusProcess]:
    home = tmp_path_factory.mktemp("nexus-hygiene")
    with NexusProcess(home, base_env(home, NEXUS_BODY_TIMEOUT_S=BODY_TIMEOUT_S)) as server:
        yield server


async def trickle(base_url: str, path: str, *, token: str | None = None) -> bytes:
    """Send the headers and half of a declared body, then nothing more: return what the server answers."""
    parts = urlsplit(base_url)
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{auth}"
        "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
        "Content-Length: 1000\r\n\r\n"
    )
    answer = b""
    async with await anyio.connect_tcp(parts.hostname or "127.0.0.1", parts.port or 80) as stream:
        await stream.send(head.encode() + b'{"jsonrpc": "2.0", "id": 1, ')
        with anyio.fail_after(15):  # the deadline is 1 s; without it the server would wait for ever
            try:
                while chunk := await stream.receive():
                    answer += chunk
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                pass
    return answer


async def test_a_trickled_body_is_cut_off_with_408(nexus: NexusProcess) -> None:
    async with anyio.create_task_group() as tg:
        answers: list[bytes] = []

        async def slow() -> None:
            answers.append(await trickle(nexus.url, "/mcp", token=OWNER))

        tg.start_soon(slow)
        with anyio.fail_after(10):  # meanwhile Nexus answers everyone else
            error, _, health = await nexus.call(OWNER, "nexus_health", {})
        assert not error and health["status"] in ("ok", "degraded")
    status_line = answers[0].split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 408"), answers[0][:300]
    assert b"did not arrive within 1 s" in answers[0]
    # The client's own slowness is neither a server error in the log nor a 5xx in the figures.
    async with httpx.AsyncClient(timeout=10) as http:
        metrics = (await http.get(f"{nexus.url}/metrics", headers={"Authorization": f"Bearer {OWNER}"})).text
    assert 'kind="http_5xx"' not in metrics
    assert 'route="/mcp",status="4xx"' in metrics
    assert "Traceback" not in nexus.log() and "ClientDisconnect" not in nexus.log()


async def test_the_kit_cuts_off_a_trickled_body_too(tmp_path: Path) -> None:
    sat = Satellite("trickle-test", "Trickle Test")
    settings = SatelliteSettings(webhook_secret="kit-webhook-secret-0123456789", body_timeout_s=1)
    with serve_in_thread(sat.create_app(settings)) as base:
        answer = await trickle(base, "/api/webhooks/nexus")
    assert answer.split(b"\r\n", 1)[0].startswith(b"HTTP/1.1 408"), answer[:300]


async def test_origin_is_compared_in_full_port_included(nexus: NexusProcess) -> None:
    port = urlsplit(nexus.url).port
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Authorization": f"Bearer {OWNER}", "Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(timeout=10) as http:
        other_port = await http.post(
            f"{nexus.url}/mcp", json=body, headers={**headers, "Origin": f"http://127.0.0.1:{port + 1}"}
        )
        other_host = await http.post(f"{nexus.url}/mcp", json=body, headers={**headers, "Origin": "http://evil.test"})
        own = await http.post(f"{nexus.url}/mcp", json=body, headers={**headers, "Origin": f"http://127.0.0.1:{port}"})
        no_origin = await http.post(f"{nexus.url}/mcp", json=body, headers=headers)
        foreign_host = await http.post(f"{nexus.url}/mcp", json=body, headers={**headers, "Host": f"evil.test:{port}"})
    assert other_port.status_code == 403 and other_port.json()["error"]["code"] == "forbidden"
    assert other_host.status_code == 403
    assert own.status_code != 403 and no_origin.status_code != 403
    assert foreign_host.status_code == 421  # DNS rebinding: a page on another name cannot reach /mcp


async def test_health_is_bare_without_a_token_and_detailed_only_with_one(nexus: NexusProcess) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        bare = await http.get(f"{nexus.url}/api/health")
        wrong = await http.get(f"{nexus.url}/api/health", headers={"Authorization": "Bearer wrong-token-0123456789"})
        full = await http.get(f"{nexus.url}/api/health", headers={"Authorization": f"Bearer {OWNER}"})
    assert (bare.status_code, bare.json()) == (200, {"status": "ok"})
    assert wrong.status_code == 401
    assert full.status_code == 200 and full.json()["checks"]
    assert str(nexus.home) not in full.text and "nexus.db" not in full.text
