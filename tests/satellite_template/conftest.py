"""Fixtures of the satellite kit tests: the anyio backend and a real uvicorn server in a thread."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import pytest
from pydantic import BaseModel

from nexus_agent.testing import serve_in_thread
from nexus_agent.wire.errors import NotFound
from nexus_agent.wire.signing import WebhookEnvelope
from satellite_template import Satellite


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


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
def serve_app() -> Callable[..., AbstractContextManager[str]]:
    return serve_in_thread
