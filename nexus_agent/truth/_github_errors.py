"""GitHub failures as NexusErrors: what went wrong and how to fix it, never a secret."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import requests
from github.GithubException import GithubException, RateLimitExceededException

from nexus_agent.wire.errors import Conflict, InvalidInput, NexusError, NotFound, Unauthorized, UpstreamError

_ACCESS = "Contents and Issues (read and write)"


def scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _header(headers: Any, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if str(key).lower() == name:
            return str(value)
    return None


def github_message(exc: GithubException, secrets: list[str]) -> str:
    data = exc.data if isinstance(exc.data, dict) else {}
    text = str(data.get("message") or "").strip().replace("\n", " ")
    return scrub(text[:300], secrets)


def translate(
    exc: Exception, *, what: str, repo: str, base_url: str, auth_kind: str, secrets: list[str]
) -> NexusError | None:
    """The NexusError for a PyGithub or requests failure; None if ``exc`` is neither."""
    if isinstance(exc, requests.RequestException):
        return UpstreamError(
            f"cannot reach GitHub at {base_url} ({type(exc).__name__}) while working on {what}",
            hint="Check the network and NEXUS_GITHUB_API_URL, then retry.",
        )
    if not isinstance(exc, GithubException):
        return None
    status, message = exc.status, github_message(exc, secrets)
    said = f" ({status}{': ' + message if message else ''})"
    remaining = _header(exc.headers, "x-ratelimit-remaining")
    if isinstance(exc, RateLimitExceededException) or status == 429 or (status == 403 and remaining == "0"):
        reset = _header(exc.headers, "x-ratelimit-reset")
        when = datetime.fromtimestamp(int(reset), UTC).strftime("%H:%M UTC") if reset and reset.isdigit() else "later"
        return UpstreamError(
            f"GitHub's rate limit is exhausted for {repo}{said}; it resets at {when}",
            hint="Wait until then, or authenticate as a GitHub App installation for a higher limit.",
        )
    if status == 401:
        hint = (
            "Check NEXUS_GITHUB_TOKEN (or NEXUS_GITHUB_TOKEN_FILE): the token may be mistyped, expired or revoked."
            if auth_kind == "token"
            else "Check NEXUS_GITHUB_APP_ID, NEXUS_GITHUB_INSTALLATION_ID and the private key file of the GitHub App."
        )
        return Unauthorized(f"GitHub rejected the credentials for {repo}{said}", hint=hint)
    if status == 403:
        return Unauthorized(
            f"GitHub refused access to {what} in {repo}{said}",
            hint=f"Give the token or GitHub App {_ACCESS} permission on {repo}.",
        )
    if status == 404:
        return NotFound(
            f"{what} was not found in {repo} on GitHub",
            hint=f"Check the name; a repository the credentials cannot see also answers 404 (grant {_ACCESS}).",
        )
    if status == 409:
        return Conflict(
            f"{what} changed on GitHub while Nexus was writing it{said}",
            hint="Read it again, reapply the change and retry.",
        )
    if status == 422:
        return InvalidInput(f"GitHub refused the change to {what}{said}", hint="Correct the request and retry.")
    return UpstreamError(
        f"GitHub failed on {what} in {repo}{said}", hint="GitHub may be having trouble; retry in a minute."
    )
