"""The owner's source of truth: a git repository (local by default, or on GitHub) that Nexus reads and writes.

::

    TruthSource (Protocol, base.py)      read / get / list / write / write_many / delete / history,
    │                                    issues with labels and comments
    ├── LocalGitTruthSource              git under NEXUS_HOME, created on first use (local_git.py)
    └── GitHubTruthSource                a GitHub repository through PyGithub (github.py)

    TruthLayout                          where things live (layout.py, docs/truth-source.md)
    reconcile / SyncReport               SQLite registry <-> registry/apps/*.json (sync.py)
    TruthSettings / open_truth_source    which one to open, from NEXUS_* variables (settings.py)

``nexus_agent.testing.fake_github`` serves a fake GitHub API for tests.
"""

from nexus_agent.truth.auth import DEFAULT_API_URL, GitHubAppAuth, GitHubAuth, GitHubTokenAuth, read_secret_file
from nexus_agent.truth.base import NULL_SHA, TruthSource, blob_sha, check_path
from nexus_agent.truth.layout import NEXUS_SCOPE, TruthLayout, render_app
from nexus_agent.truth.local_git import LocalGitTruthSource
from nexus_agent.truth.models import Commit, Issue, IssueComment, IssueState, TruthFile
from nexus_agent.truth.settings import TruthSettings, open_truth_source
from nexus_agent.truth.sync import (
    AppDifference,
    Direction,
    FieldDifference,
    InvalidTruthFile,
    SyncReport,
    push_app,
    reconcile,
)

__all__ = [
    "DEFAULT_API_URL",
    "NEXUS_SCOPE",
    "NULL_SHA",
    "AppDifference",
    "Commit",
    "Direction",
    "FieldDifference",
    "GitHubAppAuth",
    "GitHubAuth",
    "GitHubTokenAuth",
    "GitHubTruthSource",
    "InvalidTruthFile",
    "Issue",
    "IssueComment",
    "IssueState",
    "LocalGitTruthSource",
    "SyncReport",
    "TruthFile",
    "TruthLayout",
    "TruthSettings",
    "TruthSource",
    "blob_sha",
    "check_path",
    "open_truth_source",
    "push_app",
    "read_secret_file",
    "reconcile",
    "render_app",
]


def __getattr__(name: str) -> object:
    # GitHubTruthSource pulls in PyGithub (~100 ms); load it only when someone asks for it.
    if name == "GitHubTruthSource":
        from nexus_agent.truth.github import GitHubTruthSource

        return GitHubTruthSource
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
