"""Which truth source to open, and how: built by the CLI from ``NEXUS_*`` variables, passed down.

- ``NEXUS_TRUTH``: ``local`` (git under NEXUS_HOME, the default) or ``github``
- ``NEXUS_TRUTH_PATH``: folder of the local git repository (default ``$NEXUS_HOME/truth``)
- ``NEXUS_TRUTH_BRANCH``: the branch Nexus reads and commits to (default ``main``)
- ``NEXUS_TRUTH_AUTHOR``: author of local commits, ``Name <email>`` (default ``Nexus <nexus@localhost>``)
- ``NEXUS_GITHUB_REPO``: ``owner/name`` of the truth repository (needed for github)
- ``NEXUS_GITHUB_API_URL``: REST API root (default ``https://api.github.com``; Enterprise ``https://host/api/v3``)
- ``NEXUS_GITHUB_TOKEN`` or ``NEXUS_GITHUB_TOKEN_FILE``: a personal access token, or a file holding one
- ``NEXUS_GITHUB_APP_ID``, ``NEXUS_GITHUB_INSTALLATION_ID`` and ``NEXUS_GITHUB_PRIVATE_KEY_FILE``
  (or ``NEXUS_GITHUB_PRIVATE_KEY`` with the PEM text): a GitHub App installation instead of a token

Nothing here reads the process environment: :meth:`TruthSettings.load` takes the mapping it is given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from nexus_agent.truth.auth import DEFAULT_API_URL, GitHubAppAuth, GitHubAuth, GitHubTokenAuth, read_secret_file
from nexus_agent.truth.base import TruthSource
from nexus_agent.truth.local_git import LocalGitTruthSource
from nexus_agent.wire.errors import ConfigError
from nexus_agent.wire.secret_guard import KnownSecrets

__all__ = ["TruthSettings", "open_truth_source"]

_AUTHOR = re.compile(r"^\s*(?P<name>[^<>]+?)\s*<(?P<email>[^<>\s]+)>\s*$")
_APP_VARS = ("NEXUS_GITHUB_APP_ID", "NEXUS_GITHUB_INSTALLATION_ID")


class TruthSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    kind: Literal["local", "github"] = "local"
    path: Path = Field(description="The local repository (kind=local).")
    branch: str = Field("main", min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._/-]+$")
    author_name: str = "Nexus"
    author_email: str = "nexus@localhost"
    github_repo: str | None = None
    github_api_url: str = DEFAULT_API_URL
    github_auth: GitHubAuth | None = None

    @classmethod
    def load(cls, env: Mapping[str, str], *, truth_path: Path) -> TruthSettings:
        """Settings from an environment mapping; ``truth_path`` is ``Settings.truth_path``."""
        kind = (env.get("NEXUS_TRUTH") or "local").strip().lower()
        if kind not in {"local", "github"}:
            raise ConfigError(f"NEXUS_TRUTH={kind!r} is not a truth source", hint="Use 'local' or 'github'.")
        values: dict[str, object] = {"kind": kind, "path": truth_path}
        if env.get("NEXUS_TRUTH_BRANCH"):
            values["branch"] = env["NEXUS_TRUTH_BRANCH"].strip()
        if env.get("NEXUS_TRUTH_AUTHOR"):
            match = _AUTHOR.match(env["NEXUS_TRUTH_AUTHOR"])
            if not match:
                raise ConfigError(
                    "NEXUS_TRUTH_AUTHOR is not 'Name <email>'", hint="e.g. NEXUS_TRUTH_AUTHOR='Nexus <nexus@sfg.test>'."
                )
            values.update(author_name=match["name"], author_email=match["email"])
        if kind == "github":
            repo = (env.get("NEXUS_GITHUB_REPO") or "").strip()
            if not repo:
                raise ConfigError(
                    "NEXUS_TRUTH=github needs NEXUS_GITHUB_REPO", hint="Set it to owner/name of the truth repository."
                )
            values.update(github_repo=repo, github_auth=_github_auth(env))
            if env.get("NEXUS_GITHUB_API_URL"):
                values["github_api_url"] = env["NEXUS_GITHUB_API_URL"].strip().rstrip("/")
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False))
            raise ConfigError(
                f"invalid truth source settings: {problems}", hint="Check the NEXUS_TRUTH* variables."
            ) from None


def _github_auth(env: Mapping[str, str]) -> GitHubTokenAuth | GitHubAppAuth:
    token: SecretStr | None = None
    if env.get("NEXUS_GITHUB_TOKEN", "").strip():
        token = SecretStr(env["NEXUS_GITHUB_TOKEN"].strip())
    elif env.get("NEXUS_GITHUB_TOKEN_FILE"):
        token = read_secret_file(env["NEXUS_GITHUB_TOKEN_FILE"], "GitHub token")
    app_given = [v for v in (*_APP_VARS, "NEXUS_GITHUB_PRIVATE_KEY", "NEXUS_GITHUB_PRIVATE_KEY_FILE") if env.get(v)]
    if token is not None and app_given:
        raise ConfigError(
            "both a GitHub token and GitHub App settings are set",
            hint="Use either NEXUS_GITHUB_TOKEN(_FILE) or the NEXUS_GITHUB_APP_ID / INSTALLATION_ID / PRIVATE_KEY "
            "variables, not both.",
        )
    if token is not None:
        return GitHubTokenAuth(token=token)
    if not app_given:
        raise ConfigError(
            "NEXUS_TRUTH=github needs credentials",
            hint="Set NEXUS_GITHUB_TOKEN (or NEXUS_GITHUB_TOKEN_FILE), or NEXUS_GITHUB_APP_ID, "
            "NEXUS_GITHUB_INSTALLATION_ID and NEXUS_GITHUB_PRIVATE_KEY_FILE.",
        )
    missing = [v for v in _APP_VARS if not env.get(v)]
    if env.get("NEXUS_GITHUB_PRIVATE_KEY", "").strip():
        key: SecretStr | None = SecretStr(env["NEXUS_GITHUB_PRIVATE_KEY"].replace("\\n", "\n"))
    elif env.get("NEXUS_GITHUB_PRIVATE_KEY_FILE"):
        key = read_secret_file(env["NEXUS_GITHUB_PRIVATE_KEY_FILE"], "GitHub App private key")
    else:
        key, missing = None, [*missing, "NEXUS_GITHUB_PRIVATE_KEY_FILE"]
    if missing or key is None:
        raise ConfigError(f"the GitHub App settings lack {', '.join(missing)}", hint="Set all three App variables.")
    try:
        return GitHubAppAuth(
            app_id=env["NEXUS_GITHUB_APP_ID"].strip(),
            installation_id=env["NEXUS_GITHUB_INSTALLATION_ID"].strip(),  # type: ignore[arg-type]
            private_key=key,
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False))
        raise ConfigError(f"the GitHub App settings are invalid: {problems}", hint="Check the App variables.") from None


def open_truth_source(
    settings: TruthSettings, *, known_secrets: KnownSecrets | None = None, **github_options: object
) -> TruthSource:
    """The truth source ``settings`` describe. ``github_options`` pass through to :class:`GitHubTruthSource`.

    ``known_secrets``: configured secret values no commit or issue may carry.
    """
    if settings.kind == "local":
        return LocalGitTruthSource(
            settings.path,
            author_name=settings.author_name,
            author_email=settings.author_email,
            branch=settings.branch,
            known_secrets=known_secrets,
        )
    from nexus_agent.truth.github import GitHubTruthSource  # PyGithub loads only when GitHub is used

    assert settings.github_repo is not None and settings.github_auth is not None
    return GitHubTruthSource(
        settings.github_repo,
        settings.github_auth,
        base_url=settings.github_api_url,
        branch=settings.branch,
        known_secrets=known_secrets,
        **github_options,  # type: ignore[arg-type]
    )
