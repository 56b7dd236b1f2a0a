"""Behaviour only the GitHub truth source has: authentication, error translation, the git data API."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from nexus_agent.testing.fake_github import FakeGitHub
from nexus_agent.testing.servers import free_port
from nexus_agent.truth import GitHubAppAuth, GitHubTruthSource
from nexus_agent.wire.errors import ConfigError, Conflict, NexusError, Unauthorized, UpstreamError
from tests.truth.support import TOKEN, make_github

pytestmark = pytest.mark.anyio


def _key_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@pytest.fixture(scope="module")
def key_pair() -> tuple[str, str]:
    return _key_pair()


def _everything_said(exc: BaseException) -> str:
    """Message, hint, repr and the formatted traceback of ``exc`` (what a log line could show)."""
    parts = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    if isinstance(exc, NexusError):
        parts += [exc.message, exc.hint or "", repr(exc.details)]
    return "\n".join(parts)


async def test_a_wrong_token_is_unauthorized_without_the_token_in_the_error(github_url: str, github_repo: str) -> None:
    wrong = "ghp_wrong_token_that_must_not_leak_42"
    source = make_github(github_url, github_repo, token=wrong)
    with pytest.raises(Unauthorized) as caught:
        await source.read("registry/apps/a.json")
    said = _everything_said(caught.value)
    assert wrong not in said and TOKEN not in said
    assert "GitHub rejected the credentials" in caught.value.message
    assert "NEXUS_GITHUB_TOKEN" in (caught.value.hint or "")
    assert wrong not in repr(source)


async def test_an_unknown_repository_is_a_config_error(github_url: str) -> None:
    source = make_github(github_url, "sfg/does-not-exist")
    with pytest.raises(ConfigError, match="not found"):
        await source.list()


def test_a_malformed_repository_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="owner/name"):
        make_github("http://127.0.0.1:1", "no-slash")


async def test_an_unreachable_api_is_an_upstream_error() -> None:
    source = make_github(f"http://127.0.0.1:{free_port()}", "sfg/truth")
    with pytest.raises(UpstreamError, match="cannot reach GitHub"):
        await source.list()


async def test_rate_limit_and_server_errors_are_upstream_errors(
    fake_github: FakeGitHub, github_truth: GitHubTruthSource
) -> None:
    await github_truth.list()  # the repository is looked up once, before the faults
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1900000000"}
    fake_github.fail_next(403, "API rate limit exceeded for user ID 1.", headers=headers)
    with pytest.raises(UpstreamError, match="rate limit") as caught:
        await github_truth.read("a.txt")
    assert "resets at" in caught.value.message
    fake_github.fail_next(502, "Server Error")
    with pytest.raises(UpstreamError, match="502"):
        await github_truth.read("a.txt")
    fake_github.fail_next(403, "Resource not accessible by personal access token")
    with pytest.raises(Unauthorized, match="refused access") as refused:
        await github_truth.read("a.txt")
    assert "Contents and Issues" in (refused.value.hint or "")


async def test_a_concurrent_change_during_a_write_is_a_conflict(
    fake_github: FakeGitHub, github_truth: GitHubTruthSource
) -> None:
    await github_truth.write("a.txt", b"1", "one")
    fake_github.fail_next(409, "a.txt does not match 1234", method="PUT")
    with pytest.raises(Conflict):
        await github_truth.write("a.txt", b"2", "two")
    fake_github.fail_next(422, "Update is not a fast forward", method="PATCH")
    with pytest.raises(Conflict, match="moved"):
        await github_truth.write_many({"a.txt": b"3"}, "three")
    assert await github_truth.read("a.txt") == b"1"


async def test_write_many_uses_the_git_data_api_for_one_commit(
    fake_github: FakeGitHub, github_truth: GitHubTruthSource, github_repo: str
) -> None:
    await github_truth.list()
    fake_github.requests.clear()
    await github_truth.write_many({"a/1.txt": b"1", "a/2.bin": b"\xff"}, "Two files")
    calls = [(m, p.removeprefix(f"/repos/{github_repo}")) for m, p in fake_github.requests]
    writes = [c for c in calls if c[0] != "GET"]
    assert writes == [("POST", "/git/blobs"), ("POST", "/git/trees"), ("POST", "/git/commits"),
                      ("PATCH", "/git/refs/heads/main")]  # fmt: skip
    assert [c.message for c in fake_github.repo(github_repo).log()] == ["Two files", "Initial commit"]


async def test_an_empty_repository_gets_a_first_commit_before_write_many(
    fake_github: FakeGitHub, github_url: str
) -> None:
    fake_github.create_repo("sfg/empty", auto_init=False)
    source = make_github(github_url, "sfg/empty")
    assert await source.list() == []
    assert await source.history() == []
    assert await source.get("a.txt") is None
    commit = await source.write_many({"registry/apps/a.json": b"{}\n"}, "Seed the registry")
    assert commit is not None
    assert [c.message for c in fake_github.repo("sfg/empty").log()] == [
        "Seed the registry",
        "Create the Nexus truth source",
    ]
    assert await source.list() == ["README.md", "registry/apps/a.json"]


async def test_an_enterprise_style_api_prefix_works(github_url: str, github_repo: str) -> None:
    source = make_github(f"{github_url}/api/v3", github_repo)
    await source.write("a.txt", b"a", "Add a")
    assert await source.read("a.txt") == b"a"
    assert [c.message for c in await source.history("a.txt")] == ["Add a"]


async def test_github_app_installation_auth(
    fake_github: FakeGitHub,
    github_url: str,
    github_repo: str,
    key_pair: tuple[str, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="github")
    private, public = key_pair
    fake_github.add_app(31337, public, installation_id=42, login="nexus-truth[bot]")
    key_file = tmp_path / "app.pem"
    key_file.write_text(private)
    auth = GitHubAppAuth.from_file(31337, "42", key_file)
    source = GitHubTruthSource(
        github_repo, auth, base_url=github_url, retries=0, seconds_between_requests=None, seconds_between_writes=None
    )
    fake_github.requests.clear()
    await source.write("a.txt", b"a", "Add a as the app")
    issue = await source.create_issue("[Registration] Quote Engine", "", ["registration"])
    assert issue.author == "nexus-truth[bot]"
    assert fake_github.requests.count(("POST", "/app/installations/42/access_tokens")) == 1
    minted = [token for token, login in fake_github.installation_tokens().items() if login == "nexus-truth[bot]"]
    assert minted and "access_tokens" in caplog.text  # PyGithub logged the exchange ...
    assert all(token not in caplog.text for token in minted)  # ... without the installation token
    assert "BEGIN" not in repr(auth) and "BEGIN" not in repr(source)
    assert private.splitlines()[1] not in repr(auth.model_dump())
    source.close()


async def test_a_wrong_app_key_is_unauthorized_without_the_key_in_the_error(
    fake_github: FakeGitHub, github_url: str, github_repo: str, key_pair: tuple[str, str]
) -> None:
    _, public = key_pair
    other_private, _ = _key_pair()
    fake_github.add_app(4242, public, installation_id=43)
    auth = GitHubAppAuth(app_id="4242", installation_id=43, private_key=other_private)
    source = GitHubTruthSource(github_repo, auth, base_url=github_url, retries=0, seconds_between_requests=None)
    with pytest.raises(Unauthorized) as caught:
        await source.list()
    said = _everything_said(caught.value)
    assert all(line not in said for line in other_private.splitlines()[1:-1])
    assert "NEXUS_GITHUB_APP_ID" in (caught.value.hint or "")


def test_an_invalid_app_key_file_is_a_config_error_that_does_not_echo_it(tmp_path: Path) -> None:
    key_file = tmp_path / "app.pem"
    key_file.write_text("not-a-key-but-secret-text")
    with pytest.raises(ConfigError) as caught:
        GitHubAppAuth.from_file(1, 2, key_file)
    assert "not-a-key-but-secret-text" not in _everything_said(caught.value)
    with pytest.raises(ConfigError, match="cannot read"):
        GitHubAppAuth.from_file(1, 2, tmp_path / "missing.pem")
