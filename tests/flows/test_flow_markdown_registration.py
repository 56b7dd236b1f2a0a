"""A [Registration] issue written in Markdown by an app's own (TypeScript) script, posted to GitHub's REST API,
reviewed through the importer's mapping: a pasted secret is flagged by line, a clean body is approved."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import httpx
import pytest

from memory.store import SqliteMemoryStore
from nexus_agent.flows import approve_registration, process_pending_registrations
from nexus_agent.flows.github_events import flows_for_github_event
from nexus_agent.registry import SqliteRegistry
from nexus_agent.testing.fake_github import FakeGitHub
from nexus_agent.truth import GitHubTruthSource, TruthLayout
from nexus_agent.wire.errors import Conflict
from nexus_agent.wire.models import AppStatus
from tests.flows.conftest import NEXUS_TOKEN, SATELLITE_TOKEN, _github
from tests.portfolio.conftest import REAL_SHAPES

pytestmark = pytest.mark.anyio
ISSUE = REAL_SHAPES / "registrations" / "yard-tracker-issue.md"
LABELS = ["registration", "satellite-app", "pending-approval"]
_repos = itertools.count(1)


@pytest.fixture
def body() -> str:
    if not ISSUE.is_file():
        pytest.skip(f"the shared portfolio-real-shapes fixture is not at {REAL_SHAPES}")
    return ISSUE.read_text(encoding="utf-8")


@pytest.fixture
def repo(fake_github: FakeGitHub) -> str:
    name = f"sfg/markdown-{next(_repos)}"
    fake_github.create_repo(name)
    return name


@pytest.fixture
def nexus(github_url: str, repo: str) -> Iterator[GitHubTruthSource]:
    source = _github(github_url, repo, NEXUS_TOKEN)
    yield source
    source.close()


def open_issue(github_url: str, repo: str, body: str, labels: list[str]) -> int:
    """What the app's script does: POST /repos/{repo}/issues with its own token, no Nexus client involved."""
    reply = httpx.post(
        f"{github_url}/repos/{repo}/issues",
        json={"title": "[Registration] Yard Tracker", "body": body, "labels": labels},
        headers={"Authorization": f"token {SATELLITE_TOKEN}"},
        timeout=5,
    )
    reply.raise_for_status()
    return int(reply.json()["number"])


def without_secret(body: str) -> str:
    return "\n".join(line for line in body.splitlines() if not line.lstrip().startswith("- Secret:"))


async def test_a_secret_pasted_in_the_body_is_flagged_by_line_and_never_repeated(
    github_url: str, repo: str, nexus: GitHubTruthSource, body: str, registry: SqliteRegistry,
    memory: SqliteMemoryStore,
) -> None:  # fmt: skip
    number = open_issue(github_url, repo, body, LABELS)
    pasted = body.splitlines()[14].split("`")[1]

    [outcome] = await process_pending_registrations(nexus, registry, memory)

    assert outcome.outcome == "changes_requested" and outcome.slug == "yard-tracker"
    assert [(p.kind, p.location) for p in outcome.problems] == [("secret", "issue body:15")]
    [comment] = await nexus.list_comments(number)
    assert "issue body:15" in comment.body and "rotate" in comment.body
    assert "SATELLITE_YARD_TRACKER_WEBHOOK_SECRET" in comment.body
    assert pasted not in comment.body and pasted not in outcome.model_dump_json()
    assert "changes-requested" in (await nexus.get_issue(number)).labels
    with pytest.raises(Conflict):
        await approve_registration(nexus, registry, memory, number, actor="owner")
    assert await registry.all() == []


async def test_a_clean_unlabelled_markdown_registration_is_reviewed_and_approved(
    github_url: str, repo: str, nexus: GitHubTruthSource, body: str, registry: SqliteRegistry,
    memory: SqliteMemoryStore,
) -> None:  # fmt: skip
    number = open_issue(github_url, repo, without_secret(body), labels=[])

    [outcome] = await process_pending_registrations(nexus, registry, memory)

    assert outcome.outcome == "waiting" and outcome.problems == []
    assert any(n.kind == "markdown" for n in outcome.notes)
    assert {"registration", "pending-approval"} <= set((await nexus.get_issue(number)).labels)
    [again] = await process_pending_registrations(nexus, registry, memory)
    assert again.outcome == "unchanged"

    approved = await approve_registration(nexus, registry, memory, number, actor="owner")

    app = await registry.get("yard-tracker")
    assert approved.outcome == "approved" and app.status is AppStatus.approved
    assert app.message_types == ["query.bay_occupancy", "action.reserve_bay", "action.release_bay", "test.ping"]
    assert str(app.endpoints.message_handler_url) == "https://yard-tracker.example.test/api/messages/handle"
    assert app.endpoints.webhook_secret_env == "SATELLITE_YARD_TRACKER_WEBHOOK_SECRET"
    assert app.endpoints.mcp_command is None
    assert b'"yard-tracker"' in await nexus.read(TruthLayout.app("yard-tracker"))


def test_an_unlabelled_registration_issue_wakes_the_registration_flow() -> None:
    opened = {"action": "opened", "issue": {"title": "[Registration] Yard Tracker", "labels": []}}
    other = {"action": "opened", "issue": {"title": "Bug in the yard page", "labels": []}}

    assert flows_for_github_event("issues", opened) == {"registrations"}
    assert flows_for_github_event("issues", other) == frozenset()
