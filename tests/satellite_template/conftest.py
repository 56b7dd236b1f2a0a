"""Fixtures of the satellite kit tests: the anyio backend and a real uvicorn server in a thread."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
import uvicorn
from pydantic import BaseModel
from starlette.types import ASGIApp

from nexus_agent.errors import NotFound
from nexus_agent.signing import WebhookEnvelope
from satellite_template import Satellite


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


@contextlib.contextmanager
def serve_in_thread(app: ASGIApp) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port; yields its base URL once it accepts requests."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = _Server(uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        assert server.ready.wait(timeout=10), "uvicorn did not start within 10 s"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop within 10 s"


# -- an example satellite, fresh for every test ------------------------------------------------


class QuoteStatus(BaseModel):
    quote_id: str
    status: str


@dataclass
class Example:
    sat: Satellite
    received: list[WebhookEnvelope] = field(default_factory=list)


def make_example() -> Example:
    sat = Satellite(
        "quote-engine",
        "Quote Engine",
        version="1.2.3",
        description="Quotes for aluminium windows and doors.",
        category="sales",
        capabilities=["quote status lookup"],
        subscribes_to=["quote.requested"],
        message_types=["query.quote"],
    )
    example = Example(sat)

    @sat.tool(read_only=True, idempotent=True)
    def quote_status(quote_id: str) -> QuoteStatus:
        """Status of one quote.

        Longer explanation that is not part of the summary."""
        if quote_id != "Q-1001":
            raise NotFound(f"there is no quote {quote_id!r}", hint="Known quotes: Q-1001.")
        return QuoteStatus(quote_id=quote_id, status="draft")

    @sat.tool(destructive=False)
    async def cancel_quote(quote_id: str, reason: str = "") -> str:
        """Cancel a quote."""
        raise RuntimeError("database password is hunter2")

    @sat.on_event("instruction.created")
    async def on_instruction(event: WebhookEnvelope) -> None:
        example.received.append(event)

    @sat.on_event("quote.accepted")
    def on_accepted(event: WebhookEnvelope) -> None:  # a sync handler runs in a worker thread
        example.received.append(event)

    @sat.on_event("quote.failed")
    def on_failed(event: WebhookEnvelope) -> None:
        example.received.append(event)
        if len(example.received) == 1:
            raise RuntimeError("first attempt fails")

    return example


@pytest.fixture
def example() -> Example:
    return make_example()


@pytest.fixture(scope="session")
def example_factory() -> Callable[[], Example]:
    return make_example


@pytest.fixture(scope="session")
def serve_app() -> Callable[[ASGIApp], contextlib.AbstractContextManager[str]]:
    return serve_in_thread
