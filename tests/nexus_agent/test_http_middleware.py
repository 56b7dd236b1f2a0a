"""Nexus's access log: refused and failed requests at INFO, the rest at DEBUG, in uvicorn's access-line shape."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest

from nexus_agent.http_front import FrontDoor

pytestmark = pytest.mark.anyio


async def answering(scope: Any, receive: Any, send: Any) -> None:
    status = int(scope["path"].strip("/"))
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b""})


class Admit:
    async def admit(self, scope: Any, receive: Any, send: Any) -> bool:
        return True


def front_door(app: Any) -> FrontDoor:
    """The front door as Nexus builds it, every check passing (its own tests are in test_inbound and test_http)."""
    ops = SimpleNamespace(observer=None)
    return FrontDoor(app, hosts=["127.0.0.1:*"], origins=[], ops=ops, body_timeout_s=5, gate=lambda _: Admit())  # type: ignore[arg-type]


async def request(app: Any, path: str, host: bytes = b"127.0.0.1:8765") -> list[dict[str, Any]]:
    scope = {
        "type": "http", "method": "POST", "path": path, "query_string": b"page=2", "http_version": "1.1",
        "client": ("127.0.0.1", 5000), "headers": [(b"host", host)],
    }  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def test_refusals_and_errors_at_info_everything_else_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="nexus.access")
    app = front_door(answering)
    for status in (200, 202, 304, 401, 403, 421, 500):
        sent = await request(app, f"/{status}")
        assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]  # passed on untouched
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "nexus.access"]
    assert lines[0] == (logging.DEBUG, '127.0.0.1:5000 - "POST /200?page=2 HTTP/1.1" 200')
    assert [level for level, _ in lines] == [logging.DEBUG] * 3 + [logging.INFO] * 4
    caplog.clear()
    caplog.set_level(logging.INFO, logger="nexus.access")
    await request(app, "/200")
    await request(app, "/401")
    assert [r.getMessage()[-3:] for r in caplog.records if r.name == "nexus.access"] == ["401"]


async def test_a_request_refused_at_the_door_is_logged_with_its_status(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="nexus.access")
    sent = await request(front_door(answering), "/200", host=b"evil.example")
    assert sent[0]["status"] == 421
    assert [r.getMessage()[-3:] for r in caplog.records if r.name == "nexus.access"] == ["421"]
