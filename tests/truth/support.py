"""Helpers shared by the truth tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nexus_agent.truth import GitHubTokenAuth, GitHubTruthSource
from nexus_agent.wire.models import AppRecord

MakeApp = Callable[..., AppRecord]
TOKEN = "ghp_test_token_0123456789abcdef"


def make_github(url: str, repo: str, *, token: str = TOKEN, **options: Any) -> GitHubTruthSource:
    """A GitHub truth source for tests: no retries, no throttling sleeps, short timeouts."""
    defaults: dict[str, Any] = {"retries": 0, "seconds_between_requests": None, "seconds_between_writes": None}
    return GitHubTruthSource(repo, GitHubTokenAuth(token=token), base_url=url, timeout=5, **{**defaults, **options})
