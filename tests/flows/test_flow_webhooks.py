"""Real transport: Nexus notifies a kit satellite served by uvicorn on 127.0.0.1 with a signed webhook; the
satellite's handler pulls the instruction from the truth source, carries it out and reports; Nexus collects."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

from memory.database import Database
from memory.store import SqliteMemoryStore
from nexus_agent.flows import Instruction, InstructionService, InstructionStatus
from nexus_agent.registry import SqliteRegistry
from nexus_agent.testing.servers import serve_in_thread
from nexus_agent.wire.errors import UpstreamError
from nexus_agent.wire.models import AppRecord, AppStatus
from nexus_agent.wire.signing import WebhookEnvelope, build_signed_request
from satellite_template import SatelliteSettings
from satellite_template.truth_registration import serve_instructions
from tests.flows.conftest import make_satellite
from tests.flows.flow_support import World

pytestmark = pytest.mark.anyio

SECRET = "flows-webhook-secret-0123456789abcdef"
SECRET_ENV = "SATELLITE_QUOTE_ENGINE_WEBHOOK_SECRET"


class SignedWebhooks:
    """What the event outbox's dispatcher does, inline: sign the envelope, POST it, expect 2xx."""

    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = secrets
        self.answers: list[dict[str, Any]] = []

    async def __call__(self, event: str, target: AppRecord, data: dict[str, Any]) -> str:
        envelope = WebhookEnvelope.new(event, data, now=time.time())
        assert target.endpoints.webhook_url and target.endpoints.webhook_secret_env
        body, headers = build_signed_request(envelope, self.secrets[target.endpoints.webhook_secret_env])
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(str(target.endpoints.webhook_url), content=body, headers=headers)
        if response.status_code != 200:
            raise UpstreamError(f"{target.slug} answered HTTP {response.status_code}")
        self.answers.append(response.json())
        return envelope.delivery_id


@pytest.fixture
def satellite_url(world: World) -> Iterator[str]:
    sat = make_satellite()

    async def work(instruction: Instruction) -> tuple[str, dict[str, Any]]:
        if instruction.action == "explode":
            raise RuntimeError("the quote database is offline")
        return f"counted quotes since {instruction.inputs['since']}", {"quotes": 42}

    serve_instructions(sat, world.satellite, work)  # the satellite reads and reports through its own client
    with serve_in_thread(sat.create_app(SatelliteSettings(webhook_secret=SECRET))) as url:
        yield url


async def test_a_signed_webhook_makes_the_satellite_carry_out_and_report_its_instruction(
    world: World, database: Database, registry: SqliteRegistry, memory: SqliteMemoryStore, satellite_url: str
) -> None:
    record = make_satellite().app_record(satellite_url, status=AppStatus.active)
    endpoints = record.endpoints.model_copy(update={"webhook_secret_env": SECRET_ENV})
    await registry.register(record.model_copy(update={"endpoints": endpoints}), "owner")
    webhooks = SignedWebhooks({SECRET_ENV: SECRET})
    service = InstructionService(database, world.nexus, registry, memory, webhooks)

    with anyio.fail_after(30):
        [ins] = await service.create("quote-engine", "count.quotes", inputs={"since": "2025-10-01"}, actor="owner")
        [broken] = await service.create("quote-engine", "explode", actor="owner")
        assert [a["status"] for a in webhooks.answers] == ["processed", "processed"]
        assert ins.status is InstructionStatus.delivered

        outcomes = await service.collect_reports()
    assert sorted((o.instruction_id, o.outcome) for o in outcomes) == sorted(
        [(ins.id, "completed"), (broken.id, "failed")]
    )
    done = await service.get(ins.id)
    assert done.status is InstructionStatus.completed
    assert done.result is not None
    assert (done.result.summary, done.result.outputs) == ("counted quotes since 2025-10-01", {"quotes": 42})
    failed = await service.get(broken.id)
    assert failed.result is not None and failed.result.summary == "RuntimeError: the quote database is offline"
