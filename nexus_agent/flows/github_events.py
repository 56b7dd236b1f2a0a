"""Which flow a GitHub webhook event of the truth repository should wake up (no I/O).

Point the truth repository's webhook (``issues`` and ``push`` events) at Nexus and, for each
verified delivery, run what :func:`flows_for_github_event` names:

- ``registrations``: :func:`~nexus_agent.flows.registration.process_pending_registrations`;
- ``reports``: :meth:`~nexus_agent.flows.instructions.InstructionService.collect_reports`.

Both are idempotent, so a redelivered or duplicate event does no harm.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from nexus_agent.flows.models import LABEL_REGISTRATION, REGISTRATIONS

__all__ = ["FlowName", "flows_for_github_event"]

FlowName = Literal["registrations", "reports"]
_ISSUE_ACTIONS = {"opened", "reopened", "edited", "labeled"}


def _labels(issue: Mapping[str, Any]) -> set[str]:
    return {str(label.get("name", "")) for label in issue.get("labels") or [] if isinstance(label, Mapping)}


def _pushed_paths(payload: Mapping[str, Any]) -> set[str]:
    paths: set[str] = set()
    for commit in payload.get("commits") or []:
        if isinstance(commit, Mapping):
            for key in ("added", "modified", "removed"):
                paths.update(str(p) for p in commit.get(key) or [])
    return paths


def flows_for_github_event(event: str, payload: Mapping[str, Any], *, branch: str = "main") -> frozenset[FlowName]:
    """The flows worth running for one GitHub webhook delivery (``X-GitHub-Event`` and its JSON body)."""
    wanted: set[FlowName] = set()
    if event == "issues" and payload.get("action") in _ISSUE_ACTIONS:
        issue = payload.get("issue")
        # an app's own script may open "[Registration] <name>" without labels (its body holds the fields)
        titled = isinstance(issue, Mapping) and str(issue.get("title", "")).lower().startswith("[registration]")
        if isinstance(issue, Mapping) and (LABEL_REGISTRATION in _labels(issue) or titled):
            wanted.add("registrations")
    elif event == "push" and payload.get("ref") == f"refs/heads/{branch}":
        paths = _pushed_paths(payload)
        if any(p.startswith("reports/") for p in paths):
            wanted.add("reports")
        if any(p.startswith((f"{REGISTRATIONS}/", "backups/")) for p in paths):
            wanted.add("registrations")
    return frozenset(wanted)
