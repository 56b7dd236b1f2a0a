"""The registration flow end to end: a kit satellite submits through the truth source, Nexus reviews,
the owner (or the auto-approve policy) decides. Against local git and the fake GitHub."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memory.models import SearchQuery
from memory.store import SqliteMemoryStore
from nexus_agent.flows import (
    RegistrationPolicy,
    RegistrationSubmission,
    approve_registration,
    find_duplicates,
    process_pending_registrations,
    request_changes,
)
from nexus_agent.registry import SqliteRegistry
from nexus_agent.wire.errors import Conflict, InvalidInput, NotFound, SecretLeakRefused
from nexus_agent.wire.models import AppStatus
from satellite_template import Satellite
from satellite_template.truth_registration import submit_registration
from tests.flows.conftest import make_satellite
from tests.flows.flow_support import BASE_URL, World, database_bytes, everything_nexus_published

pytestmark = pytest.mark.anyio

SECRET = "whsec_9fK2mQ7xLp4Rt8Vb3Nc6Yd1Zs5Hg0JwQe"
LABELS = ["registration", "satellite-app", "pending-approval"]


async def decisions(memory: SqliteMemoryStore, word: str = "registration") -> list[str]:
    page = await memory.search(SearchQuery(query=word, kinds=["decision"], limit=100))
    return [hit.title for hit in page.hits]


async def test_a_kit_registration_waits_for_the_owner_who_approves_it(
    world: World, registry: SqliteRegistry, memory: SqliteMemoryStore, sat: Satellite
) -> None:
    truth = world.nexus
    issue = await submit_registration(
        sat,
        world.satellite,
        BASE_URL,
        business_logic={"business_rules": ["quotes expire after 30 days"]},
        backup_files={"src/app.py": b"print('quotes')\n", "README.md": b"# Quote Engine\n"},
    )
    assert issue.title == "[Registration] Quote Engine"
    assert sorted(issue.labels) == sorted(LABELS)
    [commit] = await truth.history("registrations/quote-engine.json")
    assert commit.summary == "Registration of quote-engine 1.2.3"
    assert await truth.history("backups/quote-engine/src/app.py") == [commit]  # one commit for everything
    assert set(await truth.list("registrations")) == {
        "registrations/quote-engine.json",
        "registrations/quote-engine.business-logic.json",
    }
    assert await truth.list("backups/quote-engine") == [
        "backups/quote-engine/README.md",
        "backups/quote-engine/src/app.py",
    ]

    [outcome] = await process_pending_registrations(truth, registry, memory, actor="nexus")
    assert (outcome.outcome, outcome.slug, outcome.problems) == ("waiting", "quote-engine", [])
    [comment] = await truth.list_comments(issue.number)
    assert "Waiting for the owner's approval" in comment.body
    with pytest.raises(NotFound):
        await registry.get("quote-engine")

    # processing again changes nothing: no comment, no commit, no decision
    commits, logged = await truth.history(limit=50), await decisions(memory)
    assert [o.outcome for o in await process_pending_registrations(truth, registry, memory)] == ["unchanged"]
    assert len(await truth.list_comments(issue.number)) == 1
    assert await truth.history(limit=50) == commits
    assert await decisions(memory) == logged

    approved = await approve_registration(truth, registry, memory, issue.number, actor="owner", reason="looks right")
    assert approved.outcome == "approved"
    app = await registry.get("quote-engine")
    assert app.status is AppStatus.approved
    assert str(app.endpoints.mcp_url) == f"{BASE_URL}/mcp"
    assert json.loads(await truth.read("registry/apps/quote-engine.json"))["status"] == "approved"
    closed = await truth.get_issue(issue.number)
    assert (closed.state, sorted(closed.labels)) == ("closed", ["approved", "registration", "satellite-app"])
    last = (await truth.list_comments(issue.number))[-1].body
    assert "Approved by owner" in last and "looks right" in last
    assert await process_pending_registrations(truth, registry, memory) == []
    assert (await approve_registration(truth, registry, memory, issue.number, actor="owner")).outcome == "unchanged"
    assert len(await decisions(memory)) == 2


async def test_the_auto_approve_policy_registers_a_clean_registration_in_one_pass(
    world: World, registry: SqliteRegistry, memory: SqliteMemoryStore, sat: Satellite
) -> None:
    issue = await submit_registration(sat, world.satellite, BASE_URL)
    policy = RegistrationPolicy(auto_approve=True)
    [outcome] = await process_pending_registrations(world.nexus, registry, memory, policy=policy)
    assert outcome.outcome == "approved"
    assert outcome.app is not None and outcome.app.status is AppStatus.approved
    assert (await registry.get("quote-engine")).owner == "sales-team"
    final = await world.nexus.get_issue(issue.number)
    assert "approved" in final.labels and "pending-approval" not in final.labels
    assert await world.nexus.list("registry/apps") == ["registry/apps/quote-engine.json"]
    assert await process_pending_registrations(world.nexus, registry, memory, policy=policy) == []


async def _hand_made_registration(world: World, document: dict[str, object], logic: bytes | None = None) -> int:
    """A satellite that skips the kit: commits its own JSON (past the secret guard), opens the issue itself."""
    logic_path = "registrations/quote-engine.business-logic.json"
    files = {"registrations/quote-engine.json": json.dumps(document).encode(), **({logic_path: logic} if logic else {})}
    await world.raw_commit(files, "Register quote-engine by hand")
    submission = RegistrationSubmission(
        slug="quote-engine",
        registration="registrations/quote-engine.json",
        business_logic=logic_path if logic else None,
    )
    issue = await world.satellite.create_issue("[Registration] Quote Engine", submission.to_marker(), LABELS)
    return issue.number


async def test_an_invalid_registration_gets_one_comment_listing_every_bad_field(
    world: World, registry: SqliteRegistry, memory: SqliteMemoryStore
) -> None:
    document = {
        "slug": "quote-engine",
        "name": "",
        "status": "bogus",
        "colour": "blue",
        "endpoints": {"mcp_url": "not a url"},
    }
    number = await _hand_made_registration(world, document)
    [outcome] = await process_pending_registrations(world.nexus, registry, memory)
    assert outcome.outcome == "changes_requested"
    where = sorted(p.location for p in outcome.problems)
    assert where == [
        f"registrations/quote-engine.json at $.{field}" for field in ("colour", "endpoints.mcp_url", "name", "status")
    ]
    [comment] = await world.nexus.list_comments(number)
    for problem in outcome.problems:
        assert problem.location in comment.body
    assert "4 problems" in comment.body
    issue = await world.nexus.get_issue(number)
    assert sorted(issue.labels) == ["changes-requested", "registration", "satellite-app"]
    assert await process_pending_registrations(world.nexus, registry, memory) == []
    assert await registry.all() == []
    assert await decisions(memory, "changes") == [f"Registration of quote-engine (issue #{number}): changes requested"]


async def test_a_secret_is_refused_by_location_and_copied_nowhere(
    world: World, registry: SqliteRegistry, memory: SqliteMemoryStore, db_path: Path
) -> None:
    document = {
        "slug": "quote-engine",
        "name": "Quote Engine",
        "endpoints": {"webhook_url": "https://quotes.example.test/hook", "webhook_secret": SECRET},
    }
    logic = json.dumps({"integrations": [{"name": "crm", "api_key": SECRET}]}).encode()
    number = await _hand_made_registration(world, document, logic)

    [outcome] = await process_pending_registrations(world.nexus, registry, memory, policy=RegistrationPolicy(True))
    assert outcome.outcome == "changes_requested"
    secrets = sorted(p.location for p in outcome.problems if p.kind == "secret")
    assert secrets == [
        "registrations/quote-engine.business-logic.json at $.integrations[0].api_key",
        "registrations/quote-engine.json at $.endpoints.webhook_secret",
    ]
    [comment] = await world.nexus.list_comments(number)
    assert "$.endpoints.webhook_secret" in comment.body and "rotate" in comment.body
    with pytest.raises(Conflict) as refused:
        await approve_registration(world.nexus, registry, memory, number, actor="owner")
    assert SECRET not in str(refused.value) and SECRET not in json.dumps(refused.value.details)

    assert SECRET not in await everything_nexus_published(world.nexus)
    assert SECRET[6:30].encode() not in database_bytes(db_path)
    assert await world.nexus.list("registry") == []
    assert SECRET not in outcome.model_dump_json()


async def test_the_kit_refuses_to_push_a_secret(local_world: World, sat: Satellite) -> None:
    with pytest.raises(SecretLeakRefused) as refused:
        await submit_registration(sat, local_world.satellite, BASE_URL, business_logic={"webhook_secret": SECRET})
    assert SECRET not in str(refused.value)
    assert await local_world.nexus.list("registrations") == []
    assert await local_world.nexus.list_issues(state="all") == []


async def test_a_likely_duplicate_waits_for_the_owner_even_under_auto_approve(
    local_world: World, registry: SqliteRegistry, memory: SqliteMemoryStore
) -> None:
    survey = make_satellite("site-survey", "Site Survey", owner="ops").app_record("http://survey.test:8800")
    await registry.register(survey.model_copy(update={"status": AppStatus.active}), "owner")
    twin = make_satellite("sitesurvey", "SiteSurvey", owner="ops")
    issue = await submit_registration(twin, local_world.satellite, "http://survey-2.test:8800")

    policy = RegistrationPolicy(auto_approve=True)
    [outcome] = await process_pending_registrations(local_world.nexus, registry, memory, policy=policy)
    assert outcome.outcome == "waiting"
    assert [(f.kind, f.location) for f in outcome.flags] == [("similar_name", "site-survey")]
    [comment] = await local_world.nexus.list_comments(issue.number)
    assert "site-survey" in comment.body and "owner should check" in comment.body
    # the owner decides it is a different app after all
    approved = await approve_registration(local_world.nexus, registry, memory, issue.number, actor="owner")
    assert approved.outcome == "approved"
    assert (await registry.get("sitesurvey")).status is AppStatus.approved


def test_duplicates_by_slug_owner_and_endpoint_are_problems() -> None:
    existing = make_satellite("site-survey", "Site Survey", owner="ops").app_record("http://survey.test:8800")
    same_place = make_satellite("route-planner", "Route Planner", owner="ops").app_record("http://survey.test:8800")
    taken = make_satellite("site-survey", "Site Survey", owner="someone-else").app_record("http://other.test")
    update = make_satellite("site-survey", "Site Surveys", owner="ops").app_record("http://survey.test:8800")
    retired = existing.model_copy(update={"status": AppStatus.retired})

    clash = find_duplicates(same_place, [existing], similarity=0.85)
    assert {(f.severity, f.kind) for f in clash} == {("problem", "same_endpoint")}
    assert {f.location for f in clash} == {"endpoints.mcp_url", "endpoints.health_url", "endpoints.webhook_url"}
    assert [(f.severity, f.kind) for f in find_duplicates(taken, [existing], similarity=0.85)] == [
        ("problem", "slug_taken")
    ]
    assert [(f.severity, f.kind) for f in find_duplicates(update, [existing], similarity=0.85)] == [
        ("note", "updates_existing")
    ]
    assert [f.kind for f in find_duplicates(update, [retired], similarity=0.85)] == ["retired"]
    assert find_duplicates(same_place, [retired], similarity=0.85) == []


async def test_the_owner_asks_for_changes_and_a_resubmission_is_reviewed_again(
    local_world: World, registry: SqliteRegistry, memory: SqliteMemoryStore
) -> None:
    truth = local_world.nexus
    first = make_satellite(description="")
    issue = await submit_registration(first, local_world.satellite, BASE_URL)
    assert [o.outcome for o in await process_pending_registrations(truth, registry, memory)] == ["waiting"]

    asked = await request_changes(truth, memory, issue.number, ["the description is empty"], actor="owner")
    assert asked.outcome == "changes_requested"
    labelled = await truth.get_issue(issue.number)
    assert sorted(labelled.labels) == ["changes-requested", "registration", "satellite-app"]
    assert "the description is empty" in (await truth.list_comments(issue.number))[-1].body
    assert await process_pending_registrations(truth, registry, memory) == []

    again = await submit_registration(make_satellite(description="Quotes."), local_world.satellite, BASE_URL)
    assert again.number == issue.number and "pending-approval" in again.labels
    [outcome] = await process_pending_registrations(truth, registry, memory)
    assert outcome.outcome == "waiting"
    assert len(await truth.list_comments(issue.number)) == 4  # waiting, changes, resubmitted, waiting

    other = await truth.create_issue("Unrelated", "hello", ["question"])
    with pytest.raises(InvalidInput):
        await approve_registration(truth, registry, memory, other.number, actor="owner")
    with pytest.raises(InvalidInput):
        await request_changes(truth, memory, issue.number, ["  "], actor="owner")


async def test_an_issue_without_a_registration_file_is_asked_for_one(
    local_world: World, registry: SqliteRegistry, memory: SqliteMemoryStore
) -> None:
    issue = await local_world.satellite.create_issue("[Registration] Mystery", "please add me", LABELS)
    [outcome] = await process_pending_registrations(local_world.nexus, registry, memory)
    assert outcome.outcome == "changes_requested"
    assert [p.kind for p in outcome.problems] == ["missing"]
    assert "registrations/<slug>.json" in (await local_world.nexus.list_comments(issue.number))[0].body
