"""The kit's registration through the truth repository, handed any small TruthRepository.

The kit stands on ``nexus_agent.wire`` alone: it is given a repository client (Nexus's own
truth sources are ones, structurally) and guards secrets itself before anything reaches it.
"""

from __future__ import annotations

import builtins
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

from nexus_agent.truth import LocalGitTruthSource
from nexus_agent.wire.errors import SecretLeakRefused
from nexus_agent.wire.flows import LABEL_PENDING, LABEL_REGISTRATION, RegistrationSubmission
from nexus_agent.wire.models import AppStatus
from nexus_agent.wire.registration_file import load_app_record
from nexus_agent.wire.truth import Commit, Issue, IssueComment, IssueState, TruthRepository
from satellite_template import Satellite
from satellite_template.truth_registration import submit_registration

SECRET = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


class MemoryRepository:
    """A bare TruthRepository: files and issues in dicts, no secret guard of its own."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.issues: dict[int, Issue] = {}
        self.commits = 0

    async def read(self, path: str) -> bytes:
        return self.files[path]

    async def list(self, prefix: str = "") -> builtins.list[str]:
        return sorted(p for p in self.files if p.startswith(prefix.rstrip("/") + "/"))

    async def write_many(self, files: Mapping[str, bytes | None], message: str) -> Commit | None:
        for path, content in files.items():
            if content is None:
                self.files.pop(path, None)
            else:
                self.files[path] = content
        self.commits += 1
        return Commit(sha=f"{self.commits:040x}", message=message)

    async def create_issue(self, title: str, body: str = "", labels: Iterable[str] = ()) -> Issue:
        issue = Issue(number=len(self.issues) + 1, title=title, body=body, labels=list(labels))
        self.issues[issue.number] = issue
        return issue

    async def list_issues(self, labels: Iterable[str] = (), state: IssueState | str = "open") -> builtins.list[Issue]:
        wanted = set(labels)
        return [i for i in self.issues.values() if wanted <= set(i.labels) and state in ("all", i.state)]

    async def comment(self, number: int, body: str) -> IssueComment:
        return IssueComment(id=1, body=body)

    async def set_labels(self, number: int, labels: Iterable[str]) -> Issue:
        self.issues[number] = self.issues[number].model_copy(update={"labels": list(labels)})
        return self.issues[number]


def _satellite() -> Satellite:
    return Satellite("survey-desk", "Survey Desk", description="Site surveys.", capabilities=["site survey"])


def test_nexus_truth_sources_are_repositories_the_kit_accepts(tmp_path: Path) -> None:
    local: TruthRepository = LocalGitTruthSource(tmp_path / "truth", author_name="T", author_email="t@test.invalid")
    assert isinstance(local, TruthRepository)
    assert isinstance(MemoryRepository(), TruthRepository)
    assert not isinstance(object(), TruthRepository)


@pytest.mark.anyio
async def test_a_registration_through_a_bare_repository_waits_for_review() -> None:
    repo = MemoryRepository()
    issue = await submit_registration(_satellite(), repo, "http://survey.test:8800", business_logic={"steps": 3})
    assert issue.title == "[Registration] Survey Desk"
    assert LABEL_REGISTRATION in issue.labels and LABEL_PENDING in issue.labels
    submission = RegistrationSubmission.from_issue_body(issue.body)
    assert submission is not None and submission.slug == "survey-desk"
    record = load_app_record(repo.files[submission.registration], submission.registration)
    assert record.status is AppStatus.pending
    assert str(record.endpoints.mcp_url).startswith("http://survey.test:8800/")


@pytest.mark.anyio
async def test_the_kit_refuses_a_secret_before_a_bare_repository_sees_it() -> None:
    repo = MemoryRepository()
    with pytest.raises(SecretLeakRefused) as refused:
        await submit_registration(
            _satellite(), repo, "http://survey.test:8800", business_logic={"webhook_secret": SECRET}
        )
    assert "business-logic" in str(refused.value)
    assert SECRET not in str(refused.value)
    assert repo.files == {} and repo.issues == {}


@pytest.mark.slow
def test_the_kit_loads_no_part_of_nexus_but_the_wire_package() -> None:
    code = (
        "import sys, satellite_template, satellite_template.truth_registration, satellite_template.replay\n"
        "print(sorted(m for m in sys.modules if m.startswith('nexus_agent')"
        " and m != 'nexus_agent' and not m.startswith('nexus_agent.wire')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
