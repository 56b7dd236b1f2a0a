"""The satellite's side of the flows through the truth source: register, pull instructions, report.

Registration (Nexus reviews it; the owner, or Nexus's auto-approve policy, decides)::

    issue = await submit_registration(sat, truth, "https://quotes.example", business_logic={...},
                                      backup_files={"src/app.py": b"..."})

Instructions (Nexus writes ``instructions/<slug>/<id>.json`` and sends the signed webhook
``instruction.created``; the satellite writes ``reports/<slug>/<id>.json``)::

    async def work(instruction: Instruction) -> tuple[str, dict[str, Any]]:
        return "exported 120 customers", {"rows": 120}

    serve_instructions(sat, truth, work)   # on each webhook: pull, carry out, report

``truth`` is anything that is a :class:`~nexus_agent.wire.truth.TruthRepository` (read, list,
write_many and a few issue calls): the satellite's own clone or GitHub client of the owner's truth
repository; Nexus's local-git and GitHub truth sources are ones. Every file and commit message
passes the secret guard here, before it reaches ``truth``, so a secret is refused before it is pushed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from nexus_agent.wire.errors import Conflict, InvalidInput, NexusError
from nexus_agent.wire.flows import (
    INSTRUCTION_EVENT,
    LABEL_APPROVED,
    LABEL_CHANGES_REQUESTED,
    LABEL_PENDING,
    LABEL_REGISTRATION,
    LABEL_SATELLITE,
    OPEN_STATUSES,
    Instruction,
    InstructionReport,
    RegistrationSubmission,
    backup_path,
    business_logic_path,
    registration_path,
    render_json,
)
from nexus_agent.wire.models import AppStatus, utcnow
from nexus_agent.wire.registration_file import render_app
from nexus_agent.wire.secret_guard import ensure_no_secrets, redact
from nexus_agent.wire.signing import WebhookEnvelope
from nexus_agent.wire.truth import Commit, Issue, TruthRepository
from satellite_template.kit import Satellite

__all__ = [
    "Work",
    "carry_out_instructions",
    "pull_instructions",
    "report_completion",
    "serve_instructions",
    "submit_registration",
]

log = logging.getLogger("satellite_template")

#: What a satellite does with one instruction: a one-line summary and its outputs (JSON values).
Work = Callable[[Instruction], Awaitable[tuple[str, dict[str, Any]]]]
_STATE_LABELS = {LABEL_PENDING, LABEL_APPROVED, LABEL_CHANGES_REQUESTED}


async def _commit(truth: TruthRepository, files: Mapping[str, bytes | None], message: str) -> Commit | None:
    """``write_many`` (after the secret guard), tried again when Nexus or another satellite moved the branch."""
    ensure_no_secrets(message, "commit message", "commit")
    for path, content in files.items():
        if content is not None:
            ensure_no_secrets(content, path, "commit")
    for attempt in range(3):
        try:
            return await truth.write_many(files, message)
        except Conflict:
            if attempt == 2:
                raise
    return None


async def _open_issue_of(truth: TruthRepository, slug: str) -> Issue | None:
    for issue in await truth.list_issues([LABEL_REGISTRATION], state="open"):
        submission = RegistrationSubmission.from_issue_body(issue.body)
        if submission is not None and submission.slug == slug:
            return issue
    return None


async def submit_registration(
    sat: Satellite,
    truth: TruthRepository,
    base_url: str,
    *,
    backup_files: Mapping[str, bytes] | None = None,
    business_logic: Mapping[str, Any] | None = None,
    token_env: str | None = None,
) -> Issue:
    """Commit this satellite's registration (and optional business logic and code backup) in one commit,
    then open ``[Registration] <name>`` labelled registration, satellite-app, pending-approval.

    Submitting again updates the files (a new ``backup_files`` replaces the whole backup) and, if
    the satellite's registration issue is still open, comments there and asks for review again.
    A secret anywhere is refused (:class:`~nexus_agent.wire.errors.SecretLeakRefused`) before anything is pushed.
    """
    record = sat.app_record(base_url, status=AppStatus.pending, token_env=token_env)
    slug = record.slug
    files: dict[str, bytes | None] = {registration_path(slug): render_app(record)}
    if business_logic is not None:
        if not isinstance(business_logic, Mapping):
            raise InvalidInput("business_logic must be a JSON object (a mapping)")
        text = json.dumps(dict(business_logic), indent=2, sort_keys=True, ensure_ascii=False, default=str)
        files[business_logic_path(slug)] = (text + "\n").encode("utf-8")
    backups: list[str] = []
    if backup_files is not None:
        backups = sorted(backup_path(slug, name) for name in backup_files)
        for name, content in backup_files.items():
            files[backup_path(slug, name)] = bytes(content)
        for old in await truth.list(f"backups/{slug}"):
            files.setdefault(old, None)  # the new backup replaces the old one
    else:
        backups = await truth.list(f"backups/{slug}")
    commit = await _commit(truth, files, f"Registration of {slug} {record.version}\n\nSubmitted by {slug}.")
    submission = RegistrationSubmission(
        slug=slug,
        registration=registration_path(slug),
        business_logic=business_logic_path(slug) if business_logic is not None else None,
        backups=backups,
        commit=commit.sha if commit else None,
    )
    existing = await _open_issue_of(truth, slug)
    if existing is not None:
        await truth.comment(
            existing.number, f"Registration updated; please review it again.\n\n{submission.to_marker()}"
        )
        labels = [x for x in existing.labels if x not in _STATE_LABELS]
        return await truth.set_labels(existing.number, [*labels, LABEL_PENDING])
    body = _issue_body(record.name, slug, record.version, submission)
    return await truth.create_issue(
        f"[Registration] {record.name}", body, [LABEL_REGISTRATION, LABEL_SATELLITE, LABEL_PENDING]
    )


def _issue_body(name: str, slug: str, version: str, sub: RegistrationSubmission) -> str:
    rows = [f"| `{sub.registration}` | registration (AppRecord JSON) |"]
    if sub.business_logic:
        rows.append(f"| `{sub.business_logic}` | extracted business logic |")
    if sub.backups:
        rows.append(f"| `backups/{slug}/` | code backup ({len(sub.backups)} files) |")
    return (
        f"Satellite **{name}** (`{slug}`, version {version}) asks to be registered with Nexus.\n\n"
        "| file | holds |\n|---|---|\n" + "\n".join(rows) + "\n\n"
        f"Commit: {sub.commit or '(unchanged)'}\n\n{sub.to_marker()}"
    )


# -- instructions ------------------------------------------------------------------------------
async def pull_instructions(sat_slug: str, truth: TruthRepository) -> list[Instruction]:
    """This satellite's open instructions that it has not reported on yet, oldest first.

    A file that is not a valid instruction for this satellite is skipped (and logged).
    """
    folder = f"instructions/{sat_slug}"
    reported = set(await truth.list(f"reports/{sat_slug}"))
    found: list[Instruction] = []
    for path in await truth.list(folder):
        if not path.endswith(".json"):
            continue
        try:
            instruction = Instruction.model_validate_json(await truth.read(path))
        except (ValidationError, ValueError):
            log.warning("skipping %s: not a valid instruction", path)
            continue
        if instruction.target != sat_slug or instruction.path != path:
            log.warning("skipping %s: it is not addressed to %s at that path", path, sat_slug)
            continue
        if instruction.status in OPEN_STATUSES and instruction.report_path not in reported:
            found.append(instruction)
    return sorted(found, key=lambda i: (i.created_at, i.id))


async def report_completion(
    truth: TruthRepository,
    instruction: Instruction,
    status: Literal["completed", "failed"],
    result_summary: str,
    outputs: Mapping[str, Any] | None = None,
    *,
    reported_by: str | None = None,
    now: datetime | None = None,
) -> InstructionReport:
    """Write ``reports/<slug>/<id>.json`` (and comment on the instruction's issue, if it has one)."""
    report = InstructionReport(
        instruction_id=instruction.id,
        target=instruction.target,
        status=status,
        result_summary=result_summary[:4000],
        outputs=dict(outputs or {}),
        reported_by=reported_by or instruction.target,
        reported_at=now or utcnow(),
    )
    message = f"Report {instruction.id}: {status}\n\nReported by {report.reported_by}."
    await _commit(truth, {instruction.report_path: render_json(report)}, message)
    if instruction.issue_number is not None:
        try:
            await truth.comment(instruction.issue_number, f"{instruction.target} reports {status}: {result_summary}")
        except NexusError as exc:  # the report file is what counts
            log.warning("could not comment on issue #%d: %s", instruction.issue_number, exc.message)
    return report


async def carry_out_instructions(sat_slug: str, truth: TruthRepository, work: Work) -> list[InstructionReport]:
    """Pull this satellite's open instructions, run ``work`` on each and report the outcome.

    ``work`` raising reports ``failed`` with the error's message (secrets redacted).
    """
    reports = []
    for instruction in await pull_instructions(sat_slug, truth):
        try:
            summary, outputs = await work(instruction)
        except Exception as exc:
            text = exc.message if isinstance(exc, NexusError) else f"{type(exc).__name__}: {exc}"
            log.exception("instruction %s failed", instruction.id)
            reports.append(await report_completion(truth, instruction, "failed", redact(text)))
            continue
        reports.append(await report_completion(truth, instruction, "completed", summary, outputs))
    return reports


def serve_instructions(sat: Satellite, truth: TruthRepository, work: Work) -> None:
    """Handle Nexus's ``instruction.created`` webhook: pull, carry out and report every open instruction."""

    @sat.on_event(INSTRUCTION_EVENT)
    async def on_instruction(event: WebhookEnvelope) -> None:
        await carry_out_instructions(sat.slug, truth, work)
