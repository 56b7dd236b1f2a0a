"""The recovery drill: a home deleted mid-work comes back from its backup and carries on.

Before the backup: three webhooks were delivered to a real receiver (a kit satellite over
HTTP on 127.0.0.1) and three more are still pending; a plan sent a quote chaser (a write)
and Nexus died while asking the model what next. The home is then deleted. ``nexus
recover`` must deliver the three pending webhooks exactly once (and not the three already
delivered), and finish the plan without sending the chaser again.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "planner"))
sys.path.insert(0, str(Path(__file__).parents[1] / "events"))

from events_support import SECRET, Receiver, make_receiver
from planner_catalogue import FakeSatellites, records

from nexus_agent.cli import main
from nexus_agent.config import Settings
from nexus_agent.events import Dispatcher, Outbox, WebhookSecrets, default_secret_env
from nexus_agent.ops.backup import create_backup
from nexus_agent.ops.recover import run_recovery
from nexus_agent.planner import (
    PLANNER_MIGRATIONS,
    CompositeProvider,
    ModelTurn,
    NexusToolProvider,
    Planner,
    SqlitePlanStateStore,
    StaticApprover,
    ToolCallRequest,
)
from nexus_agent.services import NexusServices, open_services, open_services_sync
from nexus_agent.testing import serve_in_thread

pytestmark = pytest.mark.anyio

CHASER = "quote-engine__send_quote_chaser"
EVENT = "outbox.test"


class Scripted:
    """A PlannerModel playing turns in order; ``None`` blocks forever (where Nexus dies)."""

    name = "scripted"

    def __init__(self, turns: list[ModelTurn | None]) -> None:
        self.turns, self.asked = turns, anyio.Event()

    async def next_turn(self, system: str, messages: Any, tools: Any) -> ModelTurn:
        turn = self.turns.pop(0)
        if turn is None:
            self.asked.set()
            await anyio.sleep_forever()
        assert turn is not None
        return turn


def planner_for(services: NexusServices, satellites: FakeSatellites, model: Any) -> Planner:
    services.database.migrate([PLANNER_MIGRATIONS])
    return Planner(
        memory=services.memory,
        registry=services.registry,
        provider=CompositeProvider([NexusToolProvider(services), satellites]),
        states=SqlitePlanStateStore(services.database),
        model=model,
    )


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    rec = make_receiver(event=EVENT)
    with serve_in_thread(rec.app()) as base:
        yield rec, f"{base}/api/webhooks/nexus"


async def work_until_the_crash(settings: Settings, url: str, secrets: dict[str, str]) -> FakeSatellites:
    satellites = FakeSatellites()
    with open_services_sync(settings) as services:
        for record in records():
            services.registry.register_sync(record, actor="test")  # type: ignore[attr-defined]
        outbox = Outbox(services.database)
        for i in range(3):
            await outbox.enqueue(EVENT, "receiver", url, {"n": i})
        async with httpx.AsyncClient() as http:
            sent = await Dispatcher(outbox, WebhookSecrets(secrets), http).drain()
        assert sent.delivered == 3
        for i in range(3, 6):
            await outbox.enqueue(EVENT, "receiver", url, {"n": i})

        model = Scripted([ModelTurn(tool_calls=[ToolCallRequest("c1", CHASER, {"quote_id": "Q-1043"})]), None])
        planner = planner_for(services, satellites, model)
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: planner.run("Chase Q-1043", approver=StaticApprover(True)))
                await model.asked.wait()
                tg.cancel_scope.cancel()  # Nexus dies here
    assert satellites.calls[CHASER] == 1
    return satellites


async def test_a_deleted_home_is_recovered_and_carries_on_without_repeating_work(
    tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    rec, url = receiver
    secrets = {default_secret_env("receiver"): SECRET}
    settings = Settings.load({"NEXUS_HOME": str(tmp_path / "home"), "NEXUS_DB_SYNC": "normal"})
    first = await work_until_the_crash(settings, url, secrets)
    assert len(rec.processed) == 3
    backup = Path(create_backup(settings, tmp_path / "backups").path)

    shutil.rmtree(settings.home)  # the disk is lost

    restarted = FakeSatellites()
    finish = Scripted([ModelTurn(text="Chased Q-1043.")])
    report = await run_recovery(
        settings, backup, secrets=secrets, planner_factory=lambda svc: planner_for(svc, restarted, finish)
    )
    assert report.ok, report.to_text()
    assert [s.name for s in report.steps] == [
        "verify the backup",
        "restore the truth repository",
        "restore the database",
        "check satellite connections",
        "resume webhook deliveries",
        "resume interrupted plans",
    ]
    assert len(rec.processed) == 6 and len(set(rec.processed)) == 6  # each delivered once, none twice
    assert "3 webhook(s) delivered" in report.to_text()
    assert "1 interrupted plan(s) resumed" in report.to_text() and "succeeded" in report.to_text()
    assert not restarted.calls  # the chaser that was sent before the crash was not sent again
    assert first.calls[CHASER] == 1

    async with open_services(settings, satellites=False) as services:
        stats = await Outbox(services.database).stats()
        assert (stats.pending, stats.delivered) == (0, 6)


def test_recover_refuses_a_live_home_and_prints_each_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = {"NEXUS_HOME": str(tmp_path / "home"), "NEXUS_DB_SYNC": "normal"}
    assert main(["memory", "remember", "the Leeds depot survey is booked"], env=env) == 0
    backup = create_backup(Settings.load(env), tmp_path / "b").path
    assert main(["recover", "--from", backup], env=env) == 1
    out = capsys.readouterr().out
    assert "1. [ok] verify the backup" in out and "2. [FAILED]" in out and "refusing to overwrite" in out

    assert main(["recover", "--from", backup, "--force"], env=env) == 0
    out = capsys.readouterr().out
    assert "recovered: Nexus can be started" in out and "no callable satellites registered" in out
