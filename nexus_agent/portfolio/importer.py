"""``import_portfolio``: register every app of a legacy portfolio, report what happened to each folder.

Reading and planning run in a worker thread (:func:`._plan.plan_portfolio`);
then each app goes through the registry. The import never copies a secret:
secret fields are dropped when a file is read, each one becomes a finding in
the report and, when Nexus needs it, the name of an environment variable in the
record (``endpoints.webhook_secret_env`` / ``endpoints.token_env``). Every record
also passes :func:`~nexus_agent.wire.secret_guard.ensure_no_secrets` before it is
written.

Re-importing is safe: an app that already exists keeps its status and every
field the portfolio leaves empty; fields the portfolio fills are taken from it.
Importing the same portfolio twice therefore reports every app ``unchanged``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import anyio.to_thread

from nexus_agent.portfolio._plan import FolderPlan, plan_portfolio
from nexus_agent.portfolio.report import AppImportResult, FileFailure, ImportOutcome, ImportReport
from nexus_agent.registry import Registry
from nexus_agent.wire.errors import InvalidInput, NexusError, NotFound
from nexus_agent.wire.models import AppRecord
from nexus_agent.wire.secret_guard import ensure_no_secrets

__all__ = ["import_portfolio"]

log = logging.getLogger("nexus.portfolio")
_TIMESTAMPS = {"created_at", "updated_at"}


def _check_root(path: Path) -> Path:
    root = Path(path).expanduser()
    if not root.is_dir():
        raise InvalidInput(
            f"the portfolio folder {root} does not exist" + (" (it is a file)" if root.exists() else ""),
            hint="Give the folder that holds apps/<slug>/..., e.g. a clone of the portfolio repository.",
        )
    if not (root / "apps").is_dir():
        hint = (
            f"Give its parent folder instead: {root.parent}"
            if root.name == "apps"
            else "A portfolio has one folder per app under apps/, e.g. apps/quote-engine/business-logic.json."
        )
        raise InvalidInput(f"{root} has no apps/ folder, so it is not a portfolio", hint=hint)
    return root


def _overlay(imported: AppRecord, existing: AppRecord | None) -> AppRecord:
    """The imported record laid over the registered one: what the portfolio says wins, the rest is kept."""
    if existing is None:
        return imported
    data = existing.model_dump()
    for key, value in imported.model_dump(include=imported.model_fields_set - {"status", "slug"}).items():
        if key == "endpoints":
            data["endpoints"] = {**data["endpoints"], **{k: v for k, v in value.items() if v is not None}}
        elif value not in (None, "", [], {}):
            data[key] = value
    return AppRecord.model_validate(data)


def _changed(old: AppRecord, new: AppRecord) -> list[str]:
    a, b = old.model_dump(mode="json", exclude=_TIMESTAMPS), new.model_dump(mode="json", exclude=_TIMESTAMPS)
    return [k for k in b if a.get(k) != b[k]]


async def _register(
    plan: FolderPlan, result: AppImportResult, registry: Registry, actor: str, reason: str, dry_run: bool
) -> None:
    assert plan.record is not None
    try:
        existing: AppRecord | None = await registry.get(plan.slug)
    except NotFound:
        existing = None
    record = _overlay(plan.record, existing)
    if existing is not None and existing.status != plan.record.status:
        result.notes.append(
            f"status stays '{existing.status.value}' (the import sets a status only for new apps; "
            f"the portfolio suggests '{plan.record.status.value}')"
        )
    try:
        ensure_no_secrets(record.model_dump(mode="json"), f"record.{plan.slug}", "register")
        if dry_run:
            result.changed_fields = [] if existing is None else _changed(existing, record)
            result.outcome = "imported" if existing is None else "updated" if result.changed_fields else "unchanged"
            return
        done = await registry.register(record, actor, reason)
    except NexusError as exc:
        result.outcome = "failed"
        result.failures.append(FileFailure(file=f"apps/{plan.folder}/", reason=exc.message))
        return
    outcomes: dict[str, ImportOutcome] = {"created": "imported", "updated": "updated", "unchanged": "unchanged"}
    result.outcome = outcomes[done.action]
    result.changed_fields = done.changed_fields if done.action == "updated" else []
    result.notes += done.notes


async def import_portfolio(path: Path, registry: Registry, actor: str, *, dry_run: bool = False) -> ImportReport:
    """Import ``path/apps/<folder>/...`` into ``registry``; with ``dry_run`` nothing is written.

    Raises :class:`~nexus_agent.wire.errors.InvalidInput` when ``path`` is not a
    portfolio; every problem inside one is reported per folder instead.
    """
    root = _check_root(path)
    plans = await anyio.to_thread.run_sync(plan_portfolio, root)
    report = ImportReport(path=str(root), dry_run=dry_run)
    reason = f"imported from the legacy portfolio {root.name}"
    for plan in plans:
        fields: dict[str, Any] = {
            "folder": plan.folder,
            "slug": plan.slug,
            "outcome": plan.outcome or "failed",
            "merged_into": plan.merged_into,
            "files_used": plan.files_used,
            "failures": plan.failures,
            "secrets": plan.secrets,
            "env_vars": plan.env_vars,
            "notes": plan.notes,
        }
        result = AppImportResult.model_validate(fields)
        if plan.outcome is None and plan.record is not None:
            await _register(plan, result, registry, actor, reason, dry_run)
        for finding in result.secrets:
            log.warning("portfolio import: not copying the %s at %s", finding.kind, finding.location)
        log.info("portfolio import: apps/%s -> %s", plan.folder, result.label)
        report.apps.append(result)
    return report
