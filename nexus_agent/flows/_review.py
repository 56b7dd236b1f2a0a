"""Checking one registration: the files it names, the AppRecord, secrets, likely duplicates.

A :class:`Review` holds every finding, each with a severity:

- ``problem``: the registration cannot be approved (invalid field, secret, missing file,
  slug owned by someone else, endpoint already used by another app);
- ``flag``: the owner must decide (a likely duplicate by name); blocks auto-approval only;
- ``note``: worth saying, blocks nothing (it updates an existing app; a placeholder secret).

Findings name a file and a JSON path, never a value: a secret found here is never copied
into a comment, the registry, memory or the truth source.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from nexus_agent.flows.models import RegistrationSubmission, business_logic_path, registration_path
from nexus_agent.registry import Registry, load_app_record
from nexus_agent.truth.base import TruthSource
from nexus_agent.truth.models import Issue
from nexus_agent.wire.errors import InvalidInput, NexusError
from nexus_agent.wire.models import AppRecord, AppStatus
from nexus_agent.wire.secret_guard import redact, scan

__all__ = ["RegistrationFinding", "Review", "find_duplicates", "read_submission", "review_registration"]

Severity = Literal["problem", "flag", "note"]
_URL_FIELDS = ("mcp_url", "health_url", "webhook_url", "message_handler_url")


class RegistrationFinding(BaseModel):
    """One thing the review found. ``location`` is a file, a JSON path or an app slug, never a value."""

    severity: Severity
    kind: str
    location: str = ""
    message: str

    def line(self) -> str:
        return f"`{self.location}`: {self.message}" if self.location else self.message


@dataclass
class Review:
    issue: Issue
    submission: RegistrationSubmission | None
    record: AppRecord | None = None
    findings: list[RegistrationFinding] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)  # path -> blob sha of what was reviewed

    def add(self, severity: Severity, kind: str, location: str, message: str) -> None:
        self.findings.append(RegistrationFinding(severity=severity, kind=kind, location=location, message=message))

    def of(self, severity: Severity) -> list[RegistrationFinding]:
        return [f for f in self.findings if f.severity == severity]

    @property
    def slug(self) -> str | None:
        return self.record.slug if self.record else self.submission.slug if self.submission else None

    @property
    def key(self) -> str:
        """Identifies the reviewed content: the same files at the same versions give the same key."""
        text = json.dumps([self.submission.slug if self.submission else "", sorted(self.versions.items())])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_submission(issue: Issue, comments: Sequence[str], review: Review) -> RegistrationSubmission | None:
    """The body's submission, replaced by the latest resubmission comment about the same slug."""
    submission = RegistrationSubmission.from_issue_body(issue.body)
    if submission is not None:
        for body in comments:
            update = RegistrationSubmission.from_issue_body(body)
            if update is not None and update.slug == submission.slug:
                submission = update
        return submission
    named = re.search(r"registrations/([a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?)\.json", issue.body or "")
    if named:
        return RegistrationSubmission(slug=named.group(1), registration=named.group(0))
    review.add(
        "problem",
        "missing",
        "",
        "the issue does not name a registration file; submit the registration with the satellite kit "
        "(satellite_template.truth_registration.submit_registration), which writes registrations/<slug>.json",
    )
    return None


def _check_paths(sub: RegistrationSubmission, review: Review) -> None:
    expected = registration_path(sub.slug)
    if sub.registration != expected:
        review.add("problem", "path", sub.registration, f"the registration of '{sub.slug}' must be at {expected}")
    if sub.business_logic is not None and sub.business_logic != business_logic_path(sub.slug):
        review.add("problem", "path", sub.business_logic, f"business logic must be at {business_logic_path(sub.slug)}")
    for path in sub.backups:
        if not path.startswith(f"backups/{sub.slug}/"):
            review.add("problem", "path", path, f"backup files must be under backups/{sub.slug}/")


def _scan_file(path: str, content: bytes, review: Review) -> Any:
    """Report every secret in one file (by JSON path when it is JSON); return the parsed JSON or None."""
    text = content.decode("utf-8", errors="replace").removeprefix("\ufeff")
    try:
        data: Any = json.loads(text) if path.endswith(".json") else None
    except ValueError:
        data = None
    findings = scan(data, location="$") if isinstance(data, dict | list) else scan(text, location="")
    for found in findings:
        where = f"{path} at {found.location}" if found.location else path
        if found.severity == "low":
            review.add("note", "placeholder_secret", where, "holds a placeholder secret; fine to store, but unused")
            continue
        review.add(
            "problem",
            "secret",
            where,
            f"a secret ({found.kind}) is committed here. Remove it, keep only the name of the environment "
            "variable that holds it (e.g. endpoints.webhook_secret_env), and rotate it: it stays in the git history",
        )
    return data


async def _read(truth: TruthSource, path: str, review: Review, what: str) -> bytes | None:
    try:
        found = await truth.get(path)
    except InvalidInput as exc:
        review.add("problem", "path", path, exc.message)
        return None
    if found is None:
        review.add("problem", "missing", path, f"the {what} is not on the branch; commit and push it, then resubmit")
        return None
    review.versions[path] = found.sha
    return found.content


def _invalid_record(path: str, exc: InvalidInput, review: Review) -> None:
    details = exc.details if isinstance(exc.details, list) else []
    if not details:
        review.add("problem", "invalid", path, redact(exc.message))
        return
    for detail in details:
        problem = str(detail.get("problem", "invalid value"))
        got = detail.get("got")
        if got:  # never echo a value: it may be the secret
            problem = problem.replace(f" (got {got})", "")
        review.add("problem", "invalid", f"{path} at $.{detail.get('field', '')}", redact(problem))


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _urls(record: AppRecord) -> dict[str, str]:
    urls = {name: getattr(record.endpoints, name) for name in _URL_FIELDS}
    return {name: str(url).rstrip("/") for name, url in urls.items() if url is not None}


def find_duplicates(record: AppRecord, existing: list[AppRecord], *, similarity: float) -> list[RegistrationFinding]:
    """Apps ``record`` clashes with or likely duplicates (same slug, same endpoint, similar name)."""
    out: list[RegistrationFinding] = []

    def add(severity: Severity, kind: str, location: str, message: str) -> None:
        out.append(RegistrationFinding(severity=severity, kind=kind, location=location, message=message))

    ours = _urls(record)
    for app in existing:
        if app.slug == record.slug:
            if app.status is AppStatus.retired:
                add("problem", "retired", app.slug, "an app with this slug is retired; the owner must reactivate it")
            elif app.owner and record.owner and app.owner != record.owner:
                add("problem", "slug_taken", app.slug, f"this slug is registered to another owner ({app.owner})")
            elif app.name != record.name:
                add(
                    "note", "updates_existing", app.slug, f"updates the registered app and renames it from {app.name!r}"
                )
            else:
                add("note", "updates_existing", app.slug, f"updates the registered app (status {app.status.value})")
            continue
        if app.status is AppStatus.retired:
            continue
        theirs = set(_urls(app).values())
        for name, url in ours.items():
            if url in theirs:
                add("problem", "same_endpoint", f"endpoints.{name}", f"is already registered to '{app.slug}'")
        ratio = max(
            difflib.SequenceMatcher(None, _norm(record.name), _norm(app.name)).ratio(),
            difflib.SequenceMatcher(None, _norm(record.slug), _norm(app.slug)).ratio(),
        )
        if ratio >= similarity:
            add(
                "flag",
                "similar_name",
                app.slug,
                f"likely the same app as '{app.slug}' ({app.name}, {app.status.value}): "
                f"the names are {ratio:.0%} alike",
            )
    return out


_NO_COMMAND = (
    "a registration cannot set a command Nexus would run on its host; give endpoints.mcp_url instead "
    "(only the owner sets mcp_command, on the Nexus machine)"
)


async def review_registration(
    truth: TruthSource,
    registry: Registry,
    issue: Issue,
    *,
    comments: Sequence[str] = (),
    similarity: float = 0.85,
) -> Review:
    """Read and check everything one registration issue names; never raises for a bad registration.

    ``comments``: the issue's comment bodies, oldest first (a resubmission comment updates the file list).
    """
    review = Review(issue=issue, submission=None)
    sub = review.submission = read_submission(issue, comments, review)
    review.versions["#submission"] = sub.model_dump_json() if sub else (issue.body or "")
    if sub is None:
        return review
    _check_paths(sub, review)
    content = await _read(truth, sub.registration, review, "registration file")
    if content is not None:
        _scan_file(sub.registration, content, review)
        try:
            record = load_app_record(content, sub.registration)
        except InvalidInput as exc:
            _invalid_record(sub.registration, exc, review)
        else:
            if record.slug != sub.slug:
                review.add("problem", "invalid", f"{sub.registration} at $.slug", f"must be {sub.slug!r}")
            else:
                review.record = record
            if record.endpoints.mcp_command:  # data never becomes a command on the host (docs/security.md)
                where = f"{sub.registration} at $.endpoints.mcp_command"
                review.add("problem", "command", where, _NO_COMMAND)
    if sub.business_logic is not None:
        logic = await _read(truth, sub.business_logic, review, "business logic file")
        if logic is not None and not isinstance(_scan_file(sub.business_logic, logic, review), dict):
            review.add("problem", "invalid", sub.business_logic, "must be a JSON object")
    await _review_backups(truth, sub, review)
    if review.record is not None:
        try:
            existing = await registry.all()
        except NexusError as exc:
            review.add("flag", "registry", "", f"duplicates not checked: {exc.message}")
        else:
            review.findings += find_duplicates(review.record, existing, similarity=similarity)
    return review


async def _review_backups(truth: TruthSource, sub: RegistrationSubmission, review: Review) -> None:
    committed = await truth.list(f"backups/{sub.slug}")
    for path in sub.backups:
        if path.startswith(f"backups/{sub.slug}/") and path not in committed:
            review.add("problem", "missing", path, "the backup file is not on the branch; push it, then resubmit")
    for path in committed:
        content = await _read(truth, path, review, "backup file")
        if content is not None:
            _scan_file(path, content, review)
