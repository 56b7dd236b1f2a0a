"""The flow tools on NexusServices (local truth source under NEXUS_HOME), and GitHub events -> flows."""

from __future__ import annotations

from typing import Any

import pytest

from nexus_agent.config import Settings
from nexus_agent.flows import FLOW_MIGRATIONS, flows_for_github_event
from nexus_agent.services import NexusServices, open_services_sync
from nexus_agent.wire.errors import Conflict, UpstreamError
from nexus_agent.wire.models import AppRecord, AppStatus
from satellite_template.truth_registration import pull_instructions, report_completion, submit_registration
from tests.flows.conftest import RecordingNotify, make_satellite
from tests.flows.flow_support import BASE_URL
from tools.base import ToolCall
from tools.flow_tools import FLOW_TOOLS

pytestmark = pytest.mark.anyio

TOOLS = {spec.name: spec for spec in FLOW_TOOLS}


async def call(services: NexusServices, name: str, arguments: dict[str, Any] | None = None) -> Any:
    return await TOOLS[name].invoke(ToolCall(services=services, actor="owner"), arguments or {})


@pytest.fixture
def flow_services(services: NexusServices) -> NexusServices:
    services.database.migrate([FLOW_MIGRATIONS])
    return services


def test_the_flow_tools_have_schemas_and_honest_hints() -> None:
    assert set(TOOLS) == {
        "instruction_create", "instruction_list", "instruction_get", "instructions_refresh",
        "instruction_report", "registrations_process", "registration_approve", "registration_request_changes",
    }  # fmt: skip
    for spec in FLOW_TOOLS:
        spec.input_schema()
        spec.output_model.model_json_schema()
    assert TOOLS["instruction_list"].read_only and not TOOLS["instruction_create"].read_only
    assert not TOOLS["instruction_report"].read_only


async def test_registration_tools_process_approve_and_request_changes(flow_services: NexusServices) -> None:
    truth = flow_services.truth
    assert truth is not None
    first = await submit_registration(make_satellite(), truth, BASE_URL)
    second = await submit_registration(make_satellite("invoice-hub", "Invoice Hub"), truth, "http://invoices.test")

    processed = await call(flow_services, "registrations_process")
    assert [o.outcome for o in processed.outcomes] == ["waiting", "waiting"]
    approved = await call(flow_services, "registration_approve", {"issue_number": first.number, "reason": "ok"})
    assert approved.outcome == "approved"
    assert (await flow_services.registry.get("quote-engine")).status is AppStatus.approved
    asked = await call(
        flow_services, "registration_request_changes", {"issue_number": second.number, "problems": ["add a health URL"]}
    )
    assert asked.outcome == "changes_requested"
    with pytest.raises(Conflict):
        await call(flow_services, "registration_request_changes", {"issue_number": first.number, "problems": ["x"]})
    assert (await call(flow_services, "registrations_process")).outcomes == []


async def _unreachable(event: str, target: AppRecord, data: dict[str, Any]) -> str:
    raise UpstreamError("the satellite's webhook did not answer", hint="It is retried by instructions_refresh.")


async def test_instruction_tools_create_refresh_list_and_get(flow_services: NexusServices, settings: Settings) -> None:
    truth = flow_services.truth
    sat = make_satellite()
    await flow_services.registry.register(sat.app_record(BASE_URL, status=AppStatus.approved), "owner")

    with open_services_sync(settings, notify=_unreachable) as unwired:  # the notice cannot leave: it waits, pending
        created = await call(
            unwired,
            "instruction_create",
            {"targets": ["quote-engine"], "action": "backup", "description": "Nightly backup", "due_in_hours": 12},
        )
    assert created.delivered == 0
    [ins] = created.instructions
    assert ins.status == "pending" and ins.deadline is not None

    notify = RecordingNotify()
    with open_services_sync(settings, notify=notify) as wired:  # a process whose notices reach the satellite
        [pulled] = await pull_instructions("quote-engine", truth)
        await report_completion(truth, pulled, "completed", "backed up")
        refreshed = await call(wired, "instructions_refresh")
        assert [i.id for i in refreshed.redelivered] == [ins.id] and len(notify.calls) == 1
        assert [(r.instruction_id, r.outcome) for r in refreshed.reports] == [(ins.id, "completed")]

    page = await call(flow_services, "instruction_list", {"target": "quote-engine", "status": ["completed"]})
    assert [i.id for i in page.items] == [ins.id]
    detail = await call(flow_services, "instruction_get", {"id": ins.id})
    assert [h.to_status for h in detail.history] == ["pending", "delivered", "acknowledged", "completed"]


def test_the_public_names_of_the_flows_package_all_exist() -> None:
    import nexus_agent.flows as flows

    assert all(hasattr(flows, name) for name in flows.__all__)


def test_github_events_name_the_flows_to_run() -> None:
    issue = {"action": "opened", "issue": {"labels": [{"name": "registration"}, {"name": "pending-approval"}]}}
    assert flows_for_github_event("issues", issue) == {"registrations"}
    assert flows_for_github_event("issues", {**issue, "action": "closed"}) == set()
    assert flows_for_github_event("issues", {"action": "opened", "issue": {"labels": []}}) == set()
    push = {"ref": "refs/heads/main", "commits": [{"added": ["reports/quote-engine/ins-1.json"], "modified": []}]}
    assert flows_for_github_event("push", push) == {"reports"}
    push["commits"].append({"modified": ["registrations/quote-engine.json"]})
    assert flows_for_github_event("push", push) == {"reports", "registrations"}
    assert flows_for_github_event("push", {**push, "ref": "refs/heads/other"}) == set()
    assert flows_for_github_event("ping", {}) == set()
