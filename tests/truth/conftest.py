from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus_agent.testing.fake_github import FakeGitHub
from nexus_agent.truth import GitHubTruthSource, LocalGitTruthSource, TruthSource
from tests.truth.support import TOKEN, make_github

_names = itertools.count(1)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def fake_github() -> FakeGitHub:
    return FakeGitHub(tokens={TOKEN: "owner"})


@pytest.fixture(scope="session")
def github_url(fake_github: FakeGitHub) -> Iterator[str]:
    with fake_github.serve() as url:
        yield url


@pytest.fixture
def github_repo(fake_github: FakeGitHub) -> str:
    """A fresh repository (with GitHub's initial README commit) for each test."""
    name = f"sfg/truth-{next(_names)}"
    fake_github.create_repo(name)
    return name


@pytest.fixture
def github_truth(github_url: str, github_repo: str) -> Iterator[GitHubTruthSource]:
    source = make_github(github_url, github_repo)
    yield source
    source.close()


@pytest.fixture
def local_truth(tmp_path: Path) -> LocalGitTruthSource:
    return LocalGitTruthSource(tmp_path / "truth", author_name="Nexus Test", author_email="nexus@test.invalid")


@pytest.fixture(params=["local", "github"])
def truth(request: pytest.FixtureRequest) -> TruthSource:
    """Each implementation in turn: the contract suite runs against both."""
    fixture = "local_truth" if request.param == "local" else "github_truth"
    return request.getfixturevalue(fixture)
