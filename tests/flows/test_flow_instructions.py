"""The orchestration flow: Nexus instructs a kit satellite through the truth source, the satellite reports,
Nexus verifies the report and moves the instruction along its lifecycle."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from memory.models import SearchQuery
from memory.store import SqliteMemoryStore
from nexus_agent.flows import InstructionService, InstructionStatus
from nexus_agent.flows._store import check_transition
from nexus_agent.registry import SqliteRegistry
from nexus_agent.truth import TruthSource
from nexus_agent.wire.errors import Conflict, InvalidInput, NotFound, SecretLeakRefused
from nexus_agent.wire.models import AppStatus
from satellite_template import Satellite
from satellite_template.truth_registration import pull_instructions, report_completion
from tests.flows.conftest import Clock, RecordingNotify, make_satellite
from tests.flows.flow_support import BASE_URL, World, database_bytes

pytestmark = pytest.mark.anyio

S = InstructionStatus
local_only = pytest.mark.parametrize("world", ["local"], indirect=True)


@pytest.fixture
async def registered(registry: SqliteRegistry, sat: Satellite) -> None:
    await registry.register(sat.app_record(BASE_URL, status=AppStatus.approved), "owner")
    other = make_satellite("invoice-hub", "Invoice Hub", owner="finance").app_record("http://invoices.test:8800")
    await registry.register(other.model_copy(update={"status": AppStatus.approved}), "owner")


async def notes(memory: SqliteMemoryStore, word: str) -> list[str]:
    page = await memory.search(SearchQuery(query=word, kinds=["note"], limit=100))
    return [hit.title for hit in page.hits]


async def file_status(truth: TruthSource, path: str) -> str:
    return json.loads(await truth.read(path))["status"]


@pytest.mark.usefixtures("registered")
async def test_an_instruction_goes_to_a_kit_satellite_and_its_report_completes_it(
    world: World, service: InstructionService, notify: RecordingNotify, memory: SqliteMemoryStore, clock: Clock
) -> None:
    deadline = clock.now + timedelta(days=1)
    [ins] = await service.create(
        "quote-engine", "export.customers", "Export the customers", inputs={"since": "2025-01-01"},
        deadline=deadline, actor="owner",
    )  # fmt: skip
    assert ins.status is S.delivered and ins.delivery_id == "dlv-1"
    [(event, slug, data)] = notify.calls
    assert (event, slug, data["instruction_id"], data["path"]) == (
        "instruction.created",
        "quote-engine",
        ins.id,
        ins.path,
    )
    assert ins.path == f"instructions/quote-engine/{ins.id}.json"
    assert await file_status(world.nexus, ins.path) == "delivered"

    [pulled] = await pull_instructions("quote-engine", world.satellite)
    assert (pulled.id, pulled.inputs, pulled.deadline) == (ins.id, {"since": "2025-01-01"}, deadline)
    await report_completion(world.satellite, pulled, "completed", "exported 3 customers", {"rows": 3})
    assert await pull_instructions("quote-engine", world.satellite) == []

    [outcome] = await service.collect_reports()
    assert (outcome.instruction_id, outcome.outcome) == (ins.id, "completed")
    done = await service.get(ins.id)
    assert done.status is S.completed
    assert [(h.from_status, h.to_status) for h in done.history] == [
        (None, S.pending), (S.pending, S.delivered), (S.delivered, S.acknowledged), (S.acknowledged, S.completed)
    ]  # fmt: skip
    assert done.history[-1].by == "quote-engine"
    assert done.result is not None and (done.result.summary, done.result.outputs) == (
        "exported 3 customers",
        {"rows": 3},
    )
    assert await file_status(world.nexus, ins.path) == "completed"
    assert await service.collect_reports() == []
    titles = await notes(memory, ins.id)
    assert {f"Instruction {ins.id} delivered", f"Instruction {ins.id} completed"} <= set(titles)


@local_only
@pytest.mark.usefixtures("registered")
async def test_a_failed_report_fails_an_acknowledged_instruction_and_closes_its_issue(
    world: World, service: InstructionService
) -> None:
    [ins] = await service.create("quote-engine", "backup", actor="owner", open_issue=True)
    assert ins.issue_number is not None
    acknowledged = await service.acknowledge(ins.id, by="quote-engine", reason="started")
    assert acknowledged.status is S.acknowledged
    assert (await service.acknowledge(ins.id, by="quote-engine")).history == acknowledged.history  # idempotent

    [pulled] = await pull_instructions("quote-engine", world.satellite)
    await report_completion(world.satellite, pulled, "failed", "disk full")
    [outcome] = await service.collect_reports()
    assert outcome.outcome == "failed"
    failed = await service.get(ins.id)
    assert failed.status is S.failed and failed.result is not None and failed.result.summary == "disk full"
    issue = await world.nexus.get_issue(ins.issue_number)
    assert issue.state == "closed"
    bodies = [c.body for c in await world.nexus.list_comments(ins.issue_number)]
    assert bodies == ["quote-engine reports failed: disk full", f"Instruction {ins.id} is failed: disk full"]

    with pytest.raises(Conflict, match="cannot move from failed to acknowledged"):
        await service.acknowledge(ins.id, by="quote-engine")


@local_only
@pytest.mark.usefixtures("registered")
async def test_overdue_instructions_expire_and_late_reports_are_ignored(
    world: World, service: InstructionService, clock: Clock
) -> None:
    [soon] = await service.create("quote-engine", "count.quotes", deadline=clock.now + timedelta(hours=1), actor="o")
    [later] = await service.create("quote-engine", "count.orders", deadline=clock.now + timedelta(days=2), actor="o")
    [pulled, _] = await pull_instructions("quote-engine", world.satellite)

    expired = await service.expire_overdue(clock.now + timedelta(hours=2))
    assert [i.id for i in expired] == [soon.id]
    assert (await service.get(soon.id)).status is S.expired
    assert (await service.get(later.id)).status is S.delivered
    assert await file_status(world.nexus, soon.path) == "expired"
    assert [i.id for i in await pull_instructions("quote-engine", world.satellite)] == [later.id]
    assert await service.expire_overdue(clock.now + timedelta(hours=2)) == []

    await report_completion(world.satellite, pulled, "completed", "too late")
    assert await service.collect_reports() == []
    assert (await service.get(soon.id)).status is S.expired


def test_the_state_machine_refuses_illegal_moves() -> None:
    check_transition("ins-1", S.pending, S.delivered)
    for old, new in [
        (S.pending, S.completed),
        (S.completed, S.failed),
        (S.expired, S.delivered),
        (S.delivered, S.pending),
    ]:
        with pytest.raises(Conflict):
            check_transition("ins-1", old, new)


@local_only
@pytest.mark.usefixtures("registered")
async def test_invalid_reports_leave_the_instruction_and_are_noted_once_per_version(
    world: World, service: InstructionService, memory: SqliteMemoryStore, db_path: Path
) -> None:
    [ins] = await service.create("quote-engine", "export.customers", actor="owner")
    [other] = await service.create("invoice-hub", "export.invoices", actor="owner")
    report = {
        "instruction_id": other.id, "target": "quote-engine", "status": "done", "result_summary": "ok",
        "reported_by": "quote-engine", "reported_at": "2025-11-03T10:00:00Z",
    }  # fmt: skip
    cases = [
        (report, ["$.instruction_id: names ins-", "$.status"]),
        ({**report, "instruction_id": ins.id, "status": "completed", "outputs": {"token": "ghp_" + "a1B2" * 10}},
         ["$.outputs.token: holds a secret"]),
        ("{not json", ["is not JSON"]),
    ]  # fmt: skip
    for count, (content, expected) in enumerate(cases, start=1):
        raw = content if isinstance(content, str) else json.dumps(content)
        await world.raw_commit({ins.report_path: raw.encode()}, "report by hand")
        [outcome] = await service.collect_reports()
        assert outcome.outcome == "invalid"
        for fragment in expected:
            assert any(fragment in p for p in outcome.problems), (fragment, outcome.problems)
        assert (await service.get(ins.id)).status is S.delivered
        await service.collect_reports()  # the same file again: no second note
        assert len(await notes(memory, "invalid")) == count
    assert b"a1B2a1B2" not in database_bytes(db_path)  # the secret in the outputs was never copied


@local_only
@pytest.mark.usefixtures("registered")
async def test_a_failed_notification_keeps_it_pending_until_redelivered(
    world: World, service: InstructionService, notify: RecordingNotify, memory: SqliteMemoryStore
) -> None:
    notify.failing = True
    [ins] = await service.create("quote-engine", "backup", actor="owner")
    assert ins.status is S.pending and notify.calls == []
    assert await file_status(world.nexus, ins.path) == "pending"
    assert await notes(memory, "delivered") == [f"Instruction {ins.id} not delivered yet"]
    assert await service.redeliver() == []

    notify.failing = False
    [again] = await service.redeliver()
    assert again.status is S.delivered and len(notify.calls) == 1
    assert await service.redeliver() == []


@local_only
@pytest.mark.usefixtures("registered")
async def test_a_report_on_a_pending_instruction_walks_the_missing_steps(
    world: World, service: InstructionService, notify: RecordingNotify
) -> None:
    notify.failing = True
    [ins] = await service.create("quote-engine", "backup", actor="owner")
    [pulled] = await pull_instructions("quote-engine", world.satellite)  # the satellite polled
    await report_completion(world.satellite, pulled, "completed", "done")
    await service.collect_reports()
    done = await service.get(ins.id)
    assert [h.to_status for h in done.history] == [S.pending, S.delivered, S.acknowledged, S.completed]


@local_only
@pytest.mark.usefixtures("registered")
async def test_create_refuses_bad_targets_and_inputs_and_writes_nothing(
    world: World, service: InstructionService, registry: SqliteRegistry, notify: RecordingNotify, clock: Clock
) -> None:
    await registry.set_status("invoice-hub", AppStatus.retired, "owner", "replaced")
    with pytest.raises(NotFound, match="quote-engin"):
        await service.create("quote-engin", "backup", actor="owner")
    with pytest.raises(Conflict, match="retired"):
        await service.create(["quote-engine", "invoice-hub"], "backup", actor="owner")
    with pytest.raises(SecretLeakRefused) as refused:
        await service.create("quote-engine", "call.api", inputs={"api_key": "sk_live_" + "x9Y8" * 6}, actor="owner")
    assert "x9Y8" not in str(refused.value)
    with pytest.raises(InvalidInput, match="action"):
        await service.create("quote-engine", "Do Something!", actor="owner")
    with pytest.raises(InvalidInput, match="deadline"):
        await service.create("quote-engine", "backup", deadline=clock.now - timedelta(hours=1), actor="owner")
    assert await world.nexus.list("instructions") == []
    assert (await service.list()).total == 0 and notify.calls == []


@local_only
@pytest.mark.usefixtures("registered")
async def test_instructions_are_listed_newest_first_by_target_and_status(service: InstructionService) -> None:
    made = await service.create(["quote-engine", "invoice-hub"], "backup", "Nightly backup", actor="owner")
    [second] = await service.create("quote-engine", "export.customers", actor="owner")
    await service.acknowledge(second.id, by="quote-engine")

    page = await service.list(limit=2)
    assert (page.total, page.next_offset, page.items[0].id) == (3, 2, second.id)
    assert [i.id for i in (await service.list(target="quote-engine")).items] == [second.id, made[0].id]
    assert [i.id for i in (await service.list(status="acknowledged")).items] == [second.id]
    assert (await service.list(status=["delivered", "acknowledged"], offset=2)).items[0].id in {m.id for m in made}
    with pytest.raises(InvalidInput):
        await service.list(status="done")
    with pytest.raises(NotFound):
        await service.get("ins-20250101-00000000")


@pytest.mark.usefixtures("registered")
async def test_a_report_posted_as_an_issue_comment_completes_the_instruction(
    world: World, service: InstructionService
) -> None:
    """A satellite that does not write report files can report on the instruction's issue instead."""
    [ins] = await service.create("quote-engine", "export.customers", actor="owner", open_issue=True)
    assert ins.issue_number is not None
    report = {
        "instruction_id": ins.id,
        "target": "quote-engine",
        "status": "completed",
        "result_summary": "exported 12 customers",
        "outputs": {"rows": 12},
        "reported_by": "quote-engine",
        "reported_at": "2025-11-03T10:00:00Z",
    }
    await world.satellite.comment(ins.issue_number, "Done, see below.\n```json\n" + json.dumps(report) + "\n```")
    [outcome] = await service.collect_reports()
    assert (outcome.instruction_id, outcome.outcome) == (ins.id, "completed")
    done = await service.get(ins.id)
    assert done.status is S.completed and done.result is not None and done.result.outputs == {"rows": 12}
    assert await service.collect_reports() == []
