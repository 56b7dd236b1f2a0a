"""TruthSettings from NEXUS_* variables, and open_truth_source."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from nexus_agent.truth import (
    GitHubAppAuth,
    GitHubTokenAuth,
    GitHubTruthSource,
    LocalGitTruthSource,
    TruthSettings,
    open_truth_source,
)
from nexus_agent.wire.errors import ConfigError

SECRET = "ghp_settings_secret_value_123456"


@pytest.fixture(scope="module")
def pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def load(env: dict[str, str], tmp_path: Path) -> TruthSettings:
    return TruthSettings.load(env, truth_path=tmp_path / "truth")


def test_local_git_under_the_truth_path_is_the_default(tmp_path: Path) -> None:
    settings = load({}, tmp_path)
    assert settings.kind == "local" and settings.branch == "main"
    source = open_truth_source(settings)
    assert isinstance(source, LocalGitTruthSource) and source.root == tmp_path / "truth"


def test_the_commit_author_and_branch_are_configurable(tmp_path: Path) -> None:
    settings = load({"NEXUS_TRUTH_AUTHOR": "Owner Bot <bot@sfg.test>", "NEXUS_TRUTH_BRANCH": "truth"}, tmp_path)
    source = open_truth_source(settings)
    assert isinstance(source, LocalGitTruthSource)
    assert (source.author_name, source.author_email, source.branch) == ("Owner Bot", "bot@sfg.test", "truth")
    with pytest.raises(ConfigError, match="Name <email>"):
        load({"NEXUS_TRUTH_AUTHOR": "no email"}, tmp_path)


def test_github_with_a_token_or_a_token_file(tmp_path: Path) -> None:
    env = {"NEXUS_TRUTH": "github", "NEXUS_GITHUB_REPO": "sfg/truth", "NEXUS_GITHUB_TOKEN": SECRET}
    settings = load({**env, "NEXUS_GITHUB_API_URL": "https://ghe.sfg.test/api/v3/"}, tmp_path)
    assert isinstance(settings.github_auth, GitHubTokenAuth)
    assert settings.github_api_url == "https://ghe.sfg.test/api/v3"
    source = open_truth_source(settings, retries=0)
    assert isinstance(source, GitHubTruthSource) and source.repo_full_name == "sfg/truth"
    assert SECRET not in repr(settings) and SECRET not in settings.model_dump_json() and SECRET not in repr(source)

    token_file = tmp_path / "token"
    token_file.write_text(f"{SECRET}\n")
    del env["NEXUS_GITHUB_TOKEN"]
    from_file = load({**env, "NEXUS_GITHUB_TOKEN_FILE": str(token_file)}, tmp_path)
    assert isinstance(from_file.github_auth, GitHubTokenAuth)
    assert from_file.github_auth.token.get_secret_value() == SECRET


def test_github_app_with_a_key_file_or_inline_key(tmp_path: Path, pem: str) -> None:
    key_file = tmp_path / "app.pem"
    key_file.write_text(pem)
    env = {
        "NEXUS_TRUTH": "github",
        "NEXUS_GITHUB_REPO": "sfg/truth",
        "NEXUS_GITHUB_APP_ID": "123",
        "NEXUS_GITHUB_INSTALLATION_ID": "456",
    }
    settings = load({**env, "NEXUS_GITHUB_PRIVATE_KEY_FILE": str(key_file)}, tmp_path)
    assert isinstance(settings.github_auth, GitHubAppAuth)
    assert (settings.github_auth.app_id, settings.github_auth.installation_id) == ("123", 456)
    assert pem.splitlines()[1] not in repr(settings)
    inline = load({**env, "NEXUS_GITHUB_PRIVATE_KEY": pem.replace("\n", "\\n")}, tmp_path)
    assert isinstance(inline.github_auth, GitHubAppAuth)


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"NEXUS_TRUTH": "svn"}, "not a truth source"),
        ({"NEXUS_TRUTH": "github", "NEXUS_GITHUB_TOKEN": SECRET}, "NEXUS_GITHUB_REPO"),
        ({"NEXUS_TRUTH": "github", "NEXUS_GITHUB_REPO": "sfg/truth"}, "needs credentials"),
        (
            {"NEXUS_TRUTH": "github", "NEXUS_GITHUB_REPO": "sfg/truth", "NEXUS_GITHUB_TOKEN": SECRET,
             "NEXUS_GITHUB_APP_ID": "1"},
            "both",
        ),
        ({"NEXUS_TRUTH": "github", "NEXUS_GITHUB_REPO": "sfg/truth", "NEXUS_GITHUB_APP_ID": "1"}, "lack"),
        (
            {"NEXUS_TRUTH": "github", "NEXUS_GITHUB_REPO": "sfg/truth", "NEXUS_GITHUB_APP_ID": "1",
             "NEXUS_GITHUB_INSTALLATION_ID": "2", "NEXUS_GITHUB_PRIVATE_KEY": SECRET},
            "not an unencrypted PEM private key",
        ),
        (
            {"NEXUS_TRUTH": "github", "NEXUS_GITHUB_REPO": "sfg/truth", "NEXUS_GITHUB_TOKEN_FILE": "/nope"},
            "cannot read",
        ),
        ({"NEXUS_TRUTH_BRANCH": "bad branch"}, "branch"),
    ],
)  # fmt: skip
def test_bad_settings_are_config_errors_that_never_echo_secrets(
    tmp_path: Path, env: dict[str, str], problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(env, tmp_path)
    assert problem in caught.value.message
    assert SECRET not in str(caught.value)
