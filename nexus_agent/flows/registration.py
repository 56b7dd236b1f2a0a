"""The registration flow: satellites ask through the truth source, Nexus checks, the owner decides.

A satellite (the kit's ``submit_registration``) commits ``registrations/<slug>.json`` (plus,
optionally, ``registrations/<slug>.business-logic.json`` and ``backups/<slug>/...``) and opens
an issue ``[Registration] <name>`` labelled ``registration``, ``satellite-app``,
``pending-approval``. Apps with scripts of their own may instead write the registration in the
issue body (Markdown fields, a fenced JSON block; labels optional): it is mapped like an imported
portfolio app (:mod:`nexus_agent.flows._markdown_review`). :func:`process_pending_registrations`
reviews each such open issue (:mod:`nexus_agent.flows._review`) and then:

- problems (invalid fields, secrets, a taken slug, a used endpoint) -> a comment listing every
  one, label ``changes-requested`` instead of ``pending-approval``;
- no problems, ``policy.auto_approve`` and nothing for the owner to decide -> approved;
- otherwise -> one comment "validated, waiting for the owner's approval" (with any flags);
  the owner then calls :func:`approve_registration` or :func:`request_changes`.

Approval registers the app (status ``approved``), writes ``registry/apps/<slug>.json``,
comments, labels the issue ``approved`` and closes it. Every outcome is a memory decision.

Idempotent: each Nexus comment carries a marker with the reviewed content's key (the files'
blob shas), so processing again without a change comments, labels and logs nothing new.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from memory.models import DecisionIn
from memory.store import MemoryStore
from nexus_agent.flows._markdown_review import is_markdown_registration, review_markdown_registration
from nexus_agent.flows._review import RegistrationFinding, Review, read_submission, review_registration
from nexus_agent.flows.models import (
    LABEL_APPROVED,
    LABEL_CHANGES_REQUESTED,
    LABEL_PENDING,
    LABEL_REGISTRATION,
    LABEL_SATELLITE,
)
from nexus_agent.registry import Registry
from nexus_agent.truth.base import TruthSource
from nexus_agent.truth.models import Issue
from nexus_agent.truth.sync import push_app
from nexus_agent.wire.errors import Conflict, InvalidInput, NexusError
from nexus_agent.wire.models import AppRecord, AppStatus, is_slug

__all__ = [
    "Outcome",
    "RegistrationFinding",
    "RegistrationOutcome",
    "RegistrationPolicy",
    "approve_registration",
    "process_pending_registrations",
    "process_registration",
    "request_changes",
]

log = logging.getLogger("nexus.flows.registration")

Outcome = Literal["approved", "waiting", "changes_requested", "unchanged", "error"]
_STATE_LABELS = (LABEL_PENDING, LABEL_APPROVED, LABEL_CHANGES_REQUESTED)
_TITLE = re.compile(r"^\s*\[registration\]", re.IGNORECASE)
_MARKER = re.compile(r"<!-- nexus-review key=(?P<key>[0-9a-f]+|owner) outcome=(?P<outcome>[a-z_]+) -->")


@dataclass(frozen=True)
class RegistrationPolicy:
    """How Nexus treats registrations. The default waits for the owner."""

    auto_approve: bool = False
    name_similarity: float = 0.85
    close_approved_issues: bool = True


class RegistrationOutcome(BaseModel):
    """What processing one registration issue did."""

    issue_number: int
    slug: str | None = None
    outcome: Outcome
    problems: list[RegistrationFinding] = Field(default_factory=list)
    flags: list[RegistrationFinding] = Field(default_factory=list, description="For the owner to decide.")
    notes: list[RegistrationFinding] = Field(default_factory=list)
    app: AppRecord | None = Field(None, description="The registered record, when approved.")
    decision_id: int | None = Field(None, description="The memory decision logged for this outcome.")
    message: str = ""


# -- reading the issue ----------------------------------------------------------------------------
def _previous(comments: Sequence[str], key: str) -> str | None:
    """The outcome of Nexus's latest review comment if it was about the content ``key``, else None.

    A later comment about other content (or the owner's request for changes) makes it None: that
    content is reviewed again.
    """
    last = None
    for body in comments:
        for match in _MARKER.finditer(body):
            last = match
    return last["outcome"] if last is not None and last["key"] == key else None


def _labels(issue: Issue, state: str) -> list[str]:
    kept = [label for label in issue.labels if label not in _STATE_LABELS]
    return [*dict.fromkeys([LABEL_REGISTRATION, LABEL_SATELLITE, *kept]), state]


async def _relabel(truth: TruthSource, issue: Issue, state: str) -> Issue:
    wanted = _labels(issue, state)
    if sorted(wanted) == sorted(issue.labels):
        return issue
    return await truth.set_labels(issue.number, wanted)


def _bullets(findings: Sequence[RegistrationFinding]) -> str:
    return "\n".join(f"- {f.line()}" for f in findings)


def _outcome(review: Review, outcome: Outcome, **extra: object) -> RegistrationOutcome:
    return RegistrationOutcome(
        issue_number=review.issue.number,
        slug=review.slug,
        outcome=outcome,
        problems=review.of("problem"),
        flags=review.of("flag"),
        notes=review.of("note"),
        **extra,  # type: ignore[arg-type]
    )


async def _decide(memory: MemoryStore, review: Review, outcome: Outcome, actor: str, rationale: str) -> int:
    slug = review.slug
    what = {"approved": "approved", "waiting": "waits for the owner", "changes_requested": "changes requested"}
    decision = await memory.log_decision(
        DecisionIn(
            decision=f"Registration of {slug or 'an unnamed app'} (issue #{review.issue.number}): {what[outcome]}",
            rationale=rationale[:16_000],
            decided_by=actor,
            apps=[slug] if slug and is_slug(slug) else [],
            tags=["registration", outcome],
        )
    )
    return decision.id


async def _review(
    truth: TruthSource, registry: Registry, issue: Issue, comments: Sequence[str], similarity: float
) -> Review:
    """A kit registration (files in the repository), or one written in the issue body (Markdown, JSON block)."""
    if is_markdown_registration(issue, comments):
        return await review_markdown_registration(registry, issue, similarity=similarity)
    return await review_registration(truth, registry, issue, comments=comments, similarity=similarity)


# -- the three outcomes ------------------------------------------------------------------------
async def _request_changes(
    truth: TruthSource, memory: MemoryStore, review: Review, problems: list[RegistrationFinding], actor: str, key: str
) -> RegistrationOutcome:
    secret = any(p.kind == "secret" for p in problems)
    body = (
        f"Nexus cannot register this app yet ({len(problems)} problem{'s' if len(problems) != 1 else ''}). "
        "Fix every one, push, and submit the registration again:\n\n"
        + _bullets(problems)
        + ("\n\nA secret committed to this repository stays in its git history: rotate it as well." if secret else "")
        + f"\n\n<!-- nexus-review key={key} outcome=changes_requested -->"
    )
    await truth.comment(review.issue.number, body)
    await _relabel(truth, review.issue, LABEL_CHANGES_REQUESTED)
    rationale = f"Requested by {actor}. Problems:\n" + _bullets(problems)
    decision_id = await _decide(memory, review, "changes_requested", actor, rationale)
    log.info("registration #%d: changes requested (%d problems)", review.issue.number, len(problems))
    outcome = _outcome(review, "changes_requested", decision_id=decision_id)
    outcome.problems = problems
    return outcome


async def _wait(truth: TruthSource, memory: MemoryStore, review: Review, actor: str) -> RegistrationOutcome:
    flags, notes = review.of("flag"), review.of("note")
    body = "Nexus validated this registration: it is a valid app record and holds no secrets. "
    body += "Waiting for the owner's approval."
    if flags:
        body += "\n\nThe owner should check:\n" + _bullets(flags)
    if notes:
        body += "\n\nNotes:\n" + _bullets(notes)
    body += f"\n\n<!-- nexus-review key={review.key} outcome=waiting -->"
    await truth.comment(review.issue.number, body)
    await _relabel(truth, review.issue, LABEL_PENDING)  # an issue opened without labels gets them now
    rationale = "Valid and free of secrets; the policy leaves approval to the owner."
    if flags:
        rationale += "\nFor the owner to check:\n" + _bullets(flags)
    decision_id = await _decide(memory, review, "waiting", actor, rationale)
    return _outcome(review, "waiting", decision_id=decision_id)


async def _approve(
    truth: TruthSource,
    registry: Registry,
    memory: MemoryStore,
    review: Review,
    *,
    actor: str,
    reason: str,
    policy: RegistrationPolicy,
    previous: str | None,
    auto: bool,
) -> RegistrationOutcome:
    assert review.record is not None
    number = review.issue.number
    record = review.record.model_copy(update={"status": AppStatus.approved})
    why = reason or f"registration approved (issue #{number})"
    result = await registry.register(record, actor, why)
    notes = list(result.notes)
    try:
        await push_app(truth, result.app, actor=actor, reason=why)
    except NexusError as exc:
        notes.append(f"registry file not written ({exc.message}); run `nexus registry sync --direction push`")
    if previous != "approved":
        body = f"Approved by {actor}: `{result.app.slug}` is registered with status {result.app.status.value}."
        if reason:
            body += f"\n\n{reason}"
        body += "".join(f"\n- note: {n}" for n in notes)
        await truth.comment(number, body + f"\n\n<!-- nexus-review key={review.key} outcome=approved -->")
    issue = await _relabel(truth, review.issue, LABEL_APPROVED)
    if policy.close_approved_issues and issue.state == "open":
        await truth.close_issue(number)
    rationale = f"{'Auto-approved by policy' if auto else f'Approved by {actor}'}: {why}."
    if review.of("flag"):
        rationale += "\nApproved despite:\n" + _bullets(review.of("flag"))
    decision_id = await _decide(memory, review, "approved", actor, rationale)
    log.info("registration #%d: %s approved (%s)", number, result.app.slug, result.action)
    return _outcome(review, "approved", app=result.app, decision_id=decision_id, message="; ".join(notes))


# -- public API --------------------------------------------------------------------------------
async def process_registration(
    truth: TruthSource,
    registry: Registry,
    memory: MemoryStore,
    issue_number: int,
    *,
    policy: RegistrationPolicy | None = None,
    actor: str = "nexus",
) -> RegistrationOutcome:
    """Review one registration issue and act on it (see the module doc)."""
    policy = policy or RegistrationPolicy()
    issue = await truth.get_issue(issue_number)
    comments = [c.body for c in await truth.list_comments(issue_number)]
    review = await _review(truth, registry, issue, comments, policy.name_similarity)
    previous = _previous(comments, review.key)
    problems = review.of("problem")
    if problems:
        if previous == "changes_requested":
            await _relabel(truth, issue, LABEL_CHANGES_REQUESTED)
            return _outcome(review, "unchanged", message="already asked for these changes")
        return await _request_changes(truth, memory, review, problems, actor, review.key)
    if policy.auto_approve and not review.of("flag"):
        return await _approve(
            truth, registry, memory, review, actor=actor, reason="", policy=policy, previous=previous, auto=True
        )
    if previous == "waiting":
        return _outcome(review, "unchanged", message="already validated; waiting for the owner")
    return await _wait(truth, memory, review, actor)


async def process_pending_registrations(
    truth: TruthSource,
    registry: Registry,
    memory: MemoryStore,
    *,
    policy: RegistrationPolicy | None = None,
    actor: str = "nexus",
) -> list[RegistrationOutcome]:
    """Process every open issue labelled ``registration`` and ``pending-approval``, oldest first.

    A failure on one issue (e.g. GitHub unreachable) is returned as outcome ``error`` and the others go on.
    """
    issues = await truth.list_issues([LABEL_REGISTRATION, LABEL_PENDING], state="open")
    # an app's own script may open "[Registration] <name>" without labels: reviewing it labels it
    issues += [i for i in await truth.list_issues(state="open") if not i.labels and _TITLE.match(i.title)]
    outcomes = []
    for issue in sorted(issues, key=lambda i: i.number):
        try:
            outcomes.append(
                await process_registration(truth, registry, memory, issue.number, policy=policy, actor=actor)
            )
        except NexusError as exc:
            log.warning("registration #%d not processed: %s", issue.number, exc.message)
            outcomes.append(RegistrationOutcome(issue_number=issue.number, outcome="error", message=exc.message))
    return outcomes


async def _registration_issue(truth: TruthSource, issue_number: int) -> Issue:
    issue = await truth.get_issue(issue_number)
    if LABEL_REGISTRATION not in issue.labels:
        raise InvalidInput(
            f"issue #{issue_number} is not a registration (no '{LABEL_REGISTRATION}' label)",
            hint="List the pending registrations with `nexus registrations process`.",
        )
    return issue


async def approve_registration(
    truth: TruthSource,
    registry: Registry,
    memory: MemoryStore,
    issue_number: int,
    *,
    actor: str,
    reason: str = "",
    policy: RegistrationPolicy | None = None,
) -> RegistrationOutcome:
    """The owner approves a registration. It is reviewed again first: problems refuse it (:class:`Conflict`);
    flags (likely duplicates) are the owner's call and do not. Approving an approved one changes nothing."""
    policy = policy or RegistrationPolicy()
    issue = await _registration_issue(truth, issue_number)
    comments = [c.body for c in await truth.list_comments(issue_number)]
    review = await _review(truth, registry, issue, comments, policy.name_similarity)
    previous = _previous(comments, review.key)
    if LABEL_APPROVED in issue.labels and previous == "approved":
        return _outcome(review, "unchanged", message="already approved")
    problems = review.of("problem")
    if problems:
        raise Conflict(
            f"registration #{issue_number} cannot be approved ({len(problems)} problems):\n" + _bullets(problems),
            hint="Ask the satellite for changes (request_changes), or wait for it to fix and resubmit.",
            details=[p.model_dump() for p in problems],
        )
    return await _approve(
        truth, registry, memory, review, actor=actor, reason=reason, policy=policy, previous=previous, auto=False
    )


async def request_changes(
    truth: TruthSource, memory: MemoryStore, issue_number: int, problems: Sequence[str], *, actor: str
) -> RegistrationOutcome:
    """The owner asks the satellite for changes: a comment listing ``problems``, label ``changes-requested``."""
    texts = [p.strip() for p in problems if p and p.strip()]
    if not texts:
        raise InvalidInput("say what must change", hint="Give at least one problem, e.g. 'the description is empty'.")
    issue = await _registration_issue(truth, issue_number)
    if LABEL_APPROVED in issue.labels:
        raise Conflict(f"registration #{issue_number} is already approved", hint="Change the app in the registry.")
    comments = [c.body for c in await truth.list_comments(issue_number)]
    review = Review(issue=issue, submission=read_submission(issue, comments, Review(issue=issue, submission=None)))
    for text in texts:
        review.add("problem", "owner", "", text[:2000])
    return await _request_changes(truth, memory, review, review.of("problem"), actor, "owner")
