"""The pool's shared HTTP clients: satellites share clients in small groups per token; a health round
sends one GET per URL and headers however many satellites share it."""

from __future__ import annotations

import anyio
import httpx2
import pytest

from nexus_agent.outbound import OutboundPolicy, ssl_context
from nexus_agent.satellites.shared_http import SHARE, OneGetPerUrl, SharedHttpClients

pytestmark = pytest.mark.anyio


async def test_concurrent_probes_of_one_health_url_send_one_get_and_share_its_verdict() -> None:
    sent: list[tuple[str, str | None]] = []
    release = anyio.Event()

    async def answer(request: httpx2.Request) -> httpx2.Response:
        sent.append((str(request.url), request.headers.get("authorization")))
        await release.wait()
        if request.url.host == "down.example":
            raise httpx2.ConnectError("refused", request=request)
        return httpx2.Response(200, json={"status": "ok"})

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(answer)) as http:
        gets = OneGetPerUrl(http)
        answers: dict[int, object] = {}

        async def probe(i: int, url: str, token: str | None) -> None:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            try:
                answers[i] = (await gets.get(url, headers=headers, timeout=5)).json()
            except httpx2.ConnectError as exc:
                answers[i] = f"failed: {exc}"

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                for i in range(10):
                    tg.start_soon(probe, i, "http://up.example/api/health", None)
                tg.start_soon(probe, 10, "http://up.example/api/health", "t1")  # other headers: its own GET
                for i in range(11, 14):
                    tg.start_soon(probe, i, "http://down.example/api/health", None)
                while len(sent) < 3:
                    await anyio.sleep(0.01)
                release.set()
    assert sorted(sent, key=str) == sorted(
        [
            ("http://up.example/api/health", None),
            ("http://up.example/api/health", "Bearer t1"),
            ("http://down.example/api/health", None),
        ],
        key=str,
    )
    assert [answers[i] for i in range(11)] == [{"status": "ok"}] * 11
    assert [answers[i] for i in range(11, 14)] == ["failed: refused"] * 3


async def test_satellites_share_a_client_per_token_in_small_groups() -> None:
    policy = OutboundPolicy()
    clients = SharedHttpClients(policy, lambda: ssl_context(policy), connect_timeout=5)
    plain = [clients.slot(None)() for _ in range(SHARE + 1)]
    secret = clients.slot("s3cret-token-value")()
    try:
        assert all(c is plain[0] for c in plain[:SHARE]) and plain[SHARE] is not plain[0]
        assert "authorization" not in plain[0].headers
        assert secret.headers["authorization"] == "Bearer s3cret-token-value" and secret is not plain[0]
    finally:
        await clients.aclose()
    assert plain[0].is_closed and secret.is_closed
