"""Reviewing a registration written in the issue body (Markdown fields, a fenced JSON block).

Apps that register with their own scripts (a TypeScript app, say) open ``[Registration] <name>``
with the fields in the body instead of committing ``registrations/<slug>.json`` with the kit.
The body goes through the portfolio importer's mapping
(:func:`~nexus_agent.portfolio.issue.map_registration_issue`) and then the same checks as a
kit registration: every secret pasted in the body is a ``problem`` named by line (never by
value), an unusable body is a ``problem``, likely duplicates are ``flag``\\s. The review key
is the body's hash, so editing the body gets it reviewed again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from nexus_agent.flows._review import Review, find_duplicates
from nexus_agent.portfolio.issue import BODY, looks_like_registration, map_registration_issue
from nexus_agent.registry import Registry
from nexus_agent.truth.base import blob_sha
from nexus_agent.truth.models import Issue
from nexus_agent.wire.errors import NexusError
from nexus_agent.wire.flows import RegistrationSubmission
from nexus_agent.wire.secret_guard import redact

__all__ = ["is_markdown_registration", "review_markdown_registration"]

_KIT_FILE = re.compile(r"registrations/[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?\.json")
#: Notes of the mapping that the review says in its own words (secrets are problems here).
_SKIPPED_NOTES = ("secret at ",)


def is_markdown_registration(issue: Issue, comments: Sequence[str] = ()) -> bool:
    """The body is a registration in Markdown: no kit marker, no registration file named, fields present."""
    body = issue.body or ""
    if RegistrationSubmission.from_issue_body(body) is not None or _KIT_FILE.search(body):
        return False
    if any(RegistrationSubmission.from_issue_body(c) is not None for c in comments):
        return False
    return looks_like_registration(body)


def _secret_message(kind: str, env: str | None) -> str:
    where = f"(Nexus reads it from {env})" if env else "(e.g. endpoints.webhook_secret_env)"
    return (
        f"a secret ({kind}) is pasted in the issue body. Edit the issue to remove it, keep only the name of the "
        f"environment variable that holds it {where}, and rotate it: the issue's edit history keeps it"
    )


async def review_markdown_registration(registry: Registry, issue: Issue, *, similarity: float = 0.85) -> Review:
    """Map and check the registration in ``issue``'s body; never raises for a bad registration."""
    review = Review(issue=issue, submission=None)
    review.versions["#body"] = blob_sha((issue.body or "").encode("utf-8"))
    mapping = map_registration_issue(issue.body or "", issue.title)
    env = mapping.env_vars.get("endpoints.webhook_secret_env")
    for secret in mapping.secrets:
        review.add("problem", "secret", secret.location, _secret_message(secret.kind, env))
    for failure in mapping.failures:
        review.add("problem", "invalid", BODY, redact(failure))
    if mapping.record is None or mapping.failures:
        return review
    review.record = mapping.record
    review.add("note", "markdown", BODY, "read from the Markdown fields and JSON block of the issue body")
    for note in mapping.notes:
        if not note.startswith(_SKIPPED_NOTES):
            review.add("note", "mapping", BODY, redact(note))
    try:
        existing = await registry.all()
    except NexusError as exc:
        review.add("flag", "registry", "", f"duplicates not checked: {exc.message}")
    else:
        review.findings += find_duplicates(review.record, existing, similarity=similarity)
    return review
