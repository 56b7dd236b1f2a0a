"""Where things live in the truth repository (documented in docs/truth-source.md).

::

    README.md                          what this repository is (written when Nexus creates it)
    registry/apps/<slug>.json          one AppRecord per app (pretty JSON, sorted keys, no timestamps)
    instructions/<slug>/<id>.json      instructions for a satellite
    instructions/_nexus/<id>.json      instructions for Nexus itself
    reports/<slug>/<id>.json           reports a satellite or Nexus produced about an app
    backups/<slug>/<name>              backups of an app's data, any format
    analysis/<name>                    gap analysis and other owner-facing analysis
    docs/<name>                        documentation
    .nexus/issues/<n>.json             the issue store of a *local* truth source (GitHub uses real issues)
"""

from __future__ import annotations

import re

from nexus_agent.truth.base import check_path
from nexus_agent.wire.errors import InvalidInput
from nexus_agent.wire.models import is_slug
from nexus_agent.wire.registration_file import APP_FILE_EXCLUDE, app_document, render_app

__all__ = ["APP_FILE_EXCLUDE", "NEXUS_SCOPE", "TruthLayout", "app_document", "render_app", "truth_readme"]

#: The instruction scope of Nexus itself (not a valid app slug, so it cannot clash with one).
NEXUS_SCOPE = "_nexus"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def _slug(slug: str) -> str:
    if not is_slug(slug):
        raise InvalidInput(f"{slug!r} is not an app slug", hint="Use lower-case letters, digits and hyphens.")
    return slug


def _id(value: str, what: str) -> str:
    if not _ID.match(value) or ".." in value:
        raise InvalidInput(
            f"{value!r} is not a valid {what}",
            hint="Use 1..128 letters, digits, '.', '_' or '-', starting with a letter or digit.",
        )
    return value


class TruthLayout:
    """The documented paths. Every method validates its arguments and returns a checked path."""

    APPS = "registry/apps"
    INSTRUCTIONS = "instructions"
    REPORTS = "reports"
    BACKUPS = "backups"
    ANALYSIS = "analysis"
    DOCS = "docs"

    @classmethod
    def app(cls, slug: str) -> str:
        return f"{cls.APPS}/{_slug(slug)}.json"

    @classmethod
    def slug_of(cls, path: str) -> str | None:
        """'registry/apps/quote-engine.json' -> 'quote-engine'; None for any other path."""
        head, _, name = path.rpartition("/")
        if head != cls.APPS or not name.endswith(".json"):
            return None
        slug = name.removesuffix(".json")
        return slug if is_slug(slug) else None

    @classmethod
    def instruction(cls, slug: str, instruction_id: str) -> str:
        scope = slug if slug == NEXUS_SCOPE else _slug(slug)
        return f"{cls.INSTRUCTIONS}/{scope}/{_id(instruction_id, 'instruction id')}.json"

    @classmethod
    def report(cls, slug: str, report_id: str) -> str:
        return f"{cls.REPORTS}/{_slug(slug)}/{_id(report_id, 'report id')}.json"

    @classmethod
    def backups(cls, slug: str) -> str:
        return f"{cls.BACKUPS}/{_slug(slug)}"

    @classmethod
    def backup(cls, slug: str, name: str) -> str:
        return check_path(f"{cls.backups(slug)}/{_id(name, 'backup name')}")

    @classmethod
    def analysis(cls, name: str) -> str:
        return check_path(f"{cls.ANALYSIS}/{_id(name, 'analysis name')}")

    @classmethod
    def doc(cls, name: str) -> str:
        return check_path(f"{cls.DOCS}/{_id(name, 'document name')}")


def truth_readme() -> bytes:
    """README.md for a newly created truth repository."""
    return (
        b"# Nexus source of truth\n\n"
        b"Nexus reads and writes this repository; every change is a commit saying what changed and who asked.\n\n"
        b"| path | holds |\n|---|---|\n"
        b"| `registry/apps/<slug>.json` | one app of the registry (AppRecord JSON) |\n"
        b"| `instructions/<slug>/<id>.json` | instructions for a satellite (`_nexus` for Nexus itself) |\n"
        b"| `reports/<slug>/<id>.json` | reports about an app |\n"
        b"| `backups/<slug>/` | backups of an app's data |\n"
        b"| `analysis/` | gap analysis and other analysis |\n"
        b"| `docs/` | documentation |\n"
        b"| `.nexus/issues/<n>.json` | issues, labels and comments (local repositories only) |\n\n"
        b"Edit files by committing; uncommitted edits are not seen by Nexus. "
        b"Run `nexus registry sync` after editing registry files.\n"
    )
