"""The shipped fake GitHub, driven by real PyGithub and plain HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import github
import httpx
import pytest

from nexus_agent.testing.fake_github import FakeGitHub
from nexus_agent.truth import blob_sha
from tests.truth.support import TOKEN


@pytest.fixture
def gh(github_url: str) -> Iterator[github.Github]:
    client = github.Github(
        auth=github.Auth.Token(TOKEN),
        base_url=github_url,
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    yield client
    client.close()


def test_requests_without_valid_credentials_get_401(github_url: str, github_repo: str) -> None:
    anonymous = httpx.get(f"{github_url}/repos/{github_repo}")
    assert anonymous.status_code == 401 and anonymous.json()["message"] == "Requires authentication"
    wrong = httpx.get(f"{github_url}/repos/{github_repo}", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["message"] == "Bad credentials"
    right = httpx.get(f"{github_url}/repos/{github_repo}", headers={"Authorization": f"token {TOKEN}"})
    assert right.status_code == 200 and right.json()["full_name"] == github_repo
    assert right.headers["X-RateLimit-Remaining"] == "4999"


def test_contents_use_git_blob_shas_and_check_them(gh: github.Github, github_repo: str) -> None:
    repo = gh.get_repo(github_repo)
    created = repo.create_file("docs/a.md", "Add a", b"hello\n", branch="main")
    assert created["content"].sha == blob_sha(b"hello\n")
    with pytest.raises(github.GithubException) as stale:
        repo.update_file("docs/a.md", "Stale", b"x", "0" * 40, branch="main")
    assert stale.value.status == 409
    with pytest.raises(github.GithubException) as missing_sha:
        repo.create_file("docs/a.md", "No sha", b"x", branch="main")
    assert missing_sha.value.status == 422
    listing = repo.get_contents("docs")
    assert isinstance(listing, list) and [f.path for f in listing] == ["docs/a.md"]


def test_lists_are_paginated_with_link_headers(gh: github.Github, github_repo: str) -> None:
    repo = gh.get_repo(github_repo)
    for i in range(35):
        repo.create_issue(f"Issue {i}", labels=["bulk"] if i % 2 else [])
    assert len(list(repo.get_issues(state="all"))) == 35  # PyGithub's default page size is 30: two pages
    assert len(list(repo.get_issues(state="open", labels=["bulk"]))) == 17


def test_webhooks_can_be_created_listed_and_deleted(gh: github.Github, github_repo: str) -> None:
    repo = gh.get_repo(github_repo)
    hook = repo.create_hook("web", {"url": "http://127.0.0.1:1/hook", "content_type": "json", "secret": "s3"},
                            events=["issues", "issue_comment"])  # fmt: skip
    assert hook.config["secret"] == "********"
    assert [h.id for h in repo.get_hooks()] == [hook.id]
    hook.delete()
    assert list(repo.get_hooks()) == []


def test_injected_faults_hit_only_matching_requests(
    fake_github: FakeGitHub, gh: github.Github, github_repo: str
) -> None:
    repo = gh.get_repo(github_repo)
    fake_github.fail_next(500, "boom", method="POST", path_contains="/issues")
    assert repo.get_contents("README.md").decoded_content.startswith(b"# ")
    with pytest.raises(github.GithubException) as caught:
        repo.create_issue("x")
    assert caught.value.status == 500
    assert repo.create_issue("y").number == 1
