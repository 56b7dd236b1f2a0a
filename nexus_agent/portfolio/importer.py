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

Writes: every record is checked first (a record that cannot be stored fails its own
folder); then all of them are registered at once, in one savepoint of the SQLite
group writer, so a refusal leaves the registry exactly as it was (a backend without a
batch write, such as PostgreSQL today, goes one app at a time and the report says how
far it got). Only then is the truth source updated (``reconcile(direction="push")``);
a failed commit is ``report.truth_error``, under a report that is complete.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import anyio.to_thread

from memory.database import Database
from nexus_agent.outbound import OutboundPolicy
from nexus_agent.portfolio._files import scan_outside_apps
from nexus_agent.portfolio._plan import FolderPlan, plan_portfolio
from nexus_agent.portfolio.report import AppImportResult, FileFailure, ImportOutcome, ImportReport
from nexus_agent.registry import Registry, SqliteRegistry
from nexus_agent.registry_policy import URL_FIELDS, EndpointPolicy
from nexus_agent.truth.base import TruthSource
from nexus_agent.wire.errors import InvalidInput, NexusError, NotFound
from nexus_agent.wire.models import AppRecord, AppStatus, RegisterResult
from nexus_agent.wire.secret_guard import SecretFinding, ensure_no_secrets

__all__ = ["import_portfolio"]

log = logging.getLogger("nexus.portfolio")
_TIMESTAMPS = {"created_at", "updated_at"}
_REACHABLE_STATUSES = {AppStatus.approved, AppStatus.active, AppStatus.degraded}


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


class _WriteRefused(Exception):
    """One app of the batch was refused. ``done``: what was written before it (only a backend without a
    batch write leaves any; on SQLite the whole batch is rolled back)."""

    def __init__(self, folder: str, message: str, done: list[RegisterResult] | None = None) -> None:
        super().__init__(message)
        self.folder, self.message, self.done = folder, message, done or []


def _outbound(registry: Registry) -> OutboundPolicy:
    """The outbound URL policy the registry will apply (the default policy when it has none of its own)."""
    policy = getattr(registry, "_policy", None)
    return policy.outbound if isinstance(policy, EndpointPolicy) else OutboundPolicy()


def _without_refused_urls(record: AppRecord, outbound: OutboundPolicy, result: AppImportResult) -> AppRecord:
    """``record`` without the endpoint URLs the outbound policy refuses; each one is a warning for its app.

    The app is still imported (its other facts are worth keeping) and the URL is left in the portfolio:
    once the owner allows the address (e.g. ``NEXUS_OUTBOUND_ALLOW_PRIVATE=true``), importing again fills it in.
    """
    dropped: dict[str, None] = {}
    for name in URL_FIELDS:
        url = getattr(record.endpoints, name)
        if url is None:
            continue
        try:
            outbound.check_url(str(url), what=f"endpoints.{name}")
        except NexusError as exc:
            dropped[name] = None
            how = f"{exc.hint} Then import again to fill it in." if exc.hint else ""
            result.warnings.append(f"{exc.message}; not imported (the app is imported without it). {how}".strip())
    if not dropped:
        return record
    data = record.model_dump()
    data["endpoints"] = {**data["endpoints"], **dropped}
    reachable = any(data["endpoints"].get(k) for k in ("mcp_url", "mcp_command", "health_url", "message_handler_url"))
    if not reachable and record.status in _REACHABLE_STATUSES:  # approved means Nexus can reach it
        result.notes.append(f"status placeholder instead of '{record.status.value}': no allowed URL reaches it")
        data["status"] = AppStatus.placeholder
    return AppRecord.model_validate(data)


async def _prepare(plan: FolderPlan, result: AppImportResult, registry: Registry) -> AppRecord | None:
    """The record to write for ``plan`` (overlaid on the registered one), checked before anything is written."""
    assert plan.record is not None
    try:
        existing: AppRecord | None = await registry.get(plan.slug)
    except NotFound:
        existing = None
    record = _overlay(_without_refused_urls(plan.record, _outbound(registry), result), existing)
    if existing is not None and existing.status != plan.record.status:
        result.notes.append(
            f"status stays '{existing.status.value}' (the import sets a status only for new apps; "
            f"the portfolio suggests '{plan.record.status.value}')"
        )
    try:
        ensure_no_secrets(record.model_dump(mode="json"), f"record.{plan.slug}", "register")
    except NexusError as exc:
        result.outcome = "failed"
        result.failures.append(FileFailure(file=f"apps/{plan.folder}/", reason=exc.message))
        return None
    result.changed_fields = [] if existing is None else _changed(existing, record)
    result.outcome = "imported" if existing is None else "updated" if result.changed_fields else "unchanged"
    return record


def _with_hint(exc: NexusError) -> str:
    return f"{exc.message} ({exc.hint})" if exc.hint else exc.message


def _write_batch(
    registry: SqliteRegistry, batch: list[tuple[str, AppRecord]], actor: str, reason: str
) -> list[RegisterResult]:
    done = []
    for folder, record in batch:
        try:
            done.append(registry.register_sync(record, actor, reason))
        except NexusError as exc:
            raise _WriteRefused(folder, _with_hint(exc)) from exc
    return done


async def _write_all(
    registry: Registry, batch: list[tuple[str, AppRecord]], actor: str, reason: str
) -> list[RegisterResult]:
    """Every record at once: in one savepoint of the SQLite writer, so a refusal leaves the registry as it was."""
    database = getattr(registry, "_db", None)
    if isinstance(registry, SqliteRegistry) and isinstance(database, Database):
        # The group-commit writer runs the batch in one savepoint (register_sync's own write() joins it).
        return await database.run_write(_write_batch, registry, batch, actor, reason)
    # Another backend (PostgreSQL): one transaction per app. Each record passed _prepare's checks, so a
    # refusal here is rare; a registry with a batch write of its own would make this atomic too.
    done: list[RegisterResult] = []
    for folder, record in batch:
        try:
            done.append(await registry.register(record, actor, reason))
        except NexusError as exc:
            raise _WriteRefused(folder, _with_hint(exc), done) from exc
    return done


def _apply(results: dict[str, AppImportResult], batch: list[tuple[str, AppRecord]], done: list[RegisterResult]) -> None:
    outcomes: dict[str, ImportOutcome] = {"created": "imported", "updated": "updated", "unchanged": "unchanged"}
    for (folder, _), registered in zip(batch, done, strict=True):
        result = results[folder]
        result.outcome = outcomes[registered.action]
        result.changed_fields = registered.changed_fields if registered.action == "updated" else []
        result.notes += registered.notes


def _refuse_all(
    report: ImportReport,
    results: dict[str, AppImportResult],
    batch: list[tuple[str, AppRecord]],
    refused: _WriteRefused,
) -> None:
    report.write_error = f"apps/{refused.folder}: {refused.message}"
    written = len(refused.done)
    if written:  # a backend without a batch write: say exactly what went in
        _apply(results, batch[:written], refused.done)
        report.written = True
        report.write_error += f" ({written} app(s) before it were written; this registry writes one app at a time)"
    for folder, _ in batch[written:]:
        result = results[folder]
        result.outcome = "failed"
        why = refused.message if folder == refused.folder else f"the registry refused apps/{refused.folder}"
        scope = "" if written else " (the import writes every app or none)"
        result.failures.append(FileFailure(file=f"apps/{folder}/", reason=f"not written: {why}{scope}"))


async def _push(report: ImportReport, registry: Registry, truth: TruthSource, actor: str) -> None:
    """Write the registry files to the truth source; a failure is reported, never raised."""
    from nexus_agent.truth.sync import reconcile

    try:
        synced = await reconcile(registry, truth, direction="push", actor=actor)
    except NexusError as exc:
        report.truth_error = exc.message
        log.warning("portfolio import: the truth source was not updated: %s", exc.message)
        return
    report.truth_files = len(synced.pushed)
    report.truth_commit = synced.commit.sha if synced.commit else None
    if synced.problems:
        report.truth_error = "; ".join(synced.problems)


def _result(plan: FolderPlan) -> AppImportResult:
    fields: dict[str, Any] = {
        "folder": plan.folder,
        "slug": plan.slug,
        "outcome": plan.outcome or "failed",
        "merged_into": plan.merged_into,
        "merge_evidence": plan.merge_evidence,
        "files_used": plan.files_used,
        "failures": plan.failures,
        "secrets": plan.secrets,
        "env_vars": plan.env_vars,
        "notes": plan.notes,
    }
    return AppImportResult.model_validate(fields)


async def import_portfolio(
    path: Path, registry: Registry, actor: str, *, dry_run: bool = False, truth: TruthSource | None = None
) -> ImportReport:
    """Import ``path/apps/<folder>/...`` into ``registry``; with ``dry_run`` nothing is written.

    The registry is written all at once or not at all (``report.write_error`` says why not).
    With ``truth``, the registry files are then pushed to it; a failure there is reported in
    ``report.truth_error`` (the per-folder report stands). Raises
    :class:`~nexus_agent.wire.errors.InvalidInput` when ``path`` is not a portfolio; every problem
    inside one is reported per folder instead.
    """
    root = _check_root(path)
    plans, outside = await anyio.to_thread.run_sync(_plan_and_scan, root)
    report = ImportReport(path=str(root), dry_run=dry_run, other_secrets=outside)
    reason = f"imported from the legacy portfolio {root.name}"
    results: dict[str, AppImportResult] = {}
    batch: list[tuple[str, AppRecord]] = []
    for plan in plans:
        result = _result(plan)
        report.apps.append(result)
        if plan.outcome is None and plan.record is not None:
            record = await _prepare(plan, result, registry)
            if record is not None:
                results[plan.folder] = result
                batch.append((plan.folder, record))
    if not dry_run and batch:
        try:
            _apply(results, batch, await _write_all(registry, batch, actor, reason))
            report.written = True
        except _WriteRefused as refused:
            _refuse_all(report, results, batch, refused)
    for result in report.apps:
        for finding in result.secrets:  # the report says all of this; the log keeps it for debugging only
            log.debug("portfolio import: not copying the %s at %s", finding.kind, finding.location)
        log.debug("portfolio import: apps/%s -> %s", result.folder, result.label)
    for finding in outside:
        log.debug("portfolio import: not copying the %s at %s", finding.kind, finding.location)
    if report.written and truth is not None:
        await _push(report, registry, truth, actor)
    return report


def _plan_and_scan(root: Path) -> tuple[list[FolderPlan], list[SecretFinding]]:
    return plan_portfolio(root), scan_outside_apps(root)
