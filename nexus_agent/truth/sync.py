"""Keep the SQLite registry and the truth source's ``registry/apps/*.json`` in step.

:func:`reconcile` compares both sides app by app (ignoring ``created_at`` and
``updated_at``, which registry files leave out) and, by ``direction``:

- ``report``: changes nothing;
- ``push``: writes apps missing or different in the truth source from SQLite, in one commit
  (an app only in the truth source is left there and reported);
- ``pull``: registers apps missing or different in SQLite from the truth source
  (status moves follow the registry's lifecycle; a refused move is reported in ``problems``);
- ``both``: copies each one-sided app across; for an app differing on both sides the newer
  side wins (the file's last commit time against the registry's ``updated_at``).

Files are rendered by :func:`~nexus_agent.truth.layout.render_app` (sorted keys, no
timestamps), so a second run finds no differences and makes no commit.

A truth repository that still has only the legacy layout (``apps/<slug>/...``, one folder
per app, written before Nexus) is not "in sync with 0 apps": the report lists those
folders (``legacy_apps``) and :meth:`SyncReport.summary` offers the import
(``nexus registry import``), which maps them onto registry records.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from nexus_agent.registry import Registry, load_app_record
from nexus_agent.truth.base import TruthSource
from nexus_agent.truth.layout import TruthLayout, app_document, render_app
from nexus_agent.truth.models import Commit
from nexus_agent.wire.errors import InvalidInput, NexusError
from nexus_agent.wire.models import AppRecord, slugify

__all__ = ["AppDifference", "Direction", "FieldDifference", "InvalidTruthFile", "SyncReport", "push_app", "reconcile"]

Direction = Literal["report", "push", "pull", "both"]
REASON = "synced from the truth source"
#: The folder of the legacy layout: one ``apps/<slug>/`` per app, as portfolios were kept before Nexus.
LEGACY_APPS = "apps"


class FieldDifference(BaseModel):
    registry: Any = None
    truth: Any = None


class AppDifference(BaseModel):
    slug: str
    fields: dict[str, FieldDifference]
    winner: Literal["registry", "truth"] | None = Field(None, description="The side applied, when one was.")


class InvalidTruthFile(BaseModel):
    path: str
    problem: str


class SyncReport(BaseModel):
    """What differed before the sync, and what the sync did about it."""

    direction: Direction
    only_in_registry: list[str] = Field(default_factory=list)
    only_in_truth: list[str] = Field(default_factory=list)
    differing: list[AppDifference] = Field(default_factory=list)
    invalid_in_truth: list[InvalidTruthFile] = Field(default_factory=list)
    pushed: list[str] = Field(default_factory=list, description="Slugs written to the truth source.")
    pulled: list[str] = Field(default_factory=list, description="Slugs registered in SQLite from the truth source.")
    commit: Commit | None = None
    problems: list[str] = Field(default_factory=list, description="What could not be applied, and why.")
    registry_count: int = Field(0, description="Apps in the SQLite registry.")
    truth_count: int = Field(0, description="Valid registry files (registry/apps/<slug>.json) in the truth source.")
    legacy_apps: list[str] = Field(
        default_factory=list,
        description="App folders of the legacy layout (apps/<folder>/...) in the truth source; "
        "`nexus registry import` maps them onto registry records.",
    )
    legacy_not_in_registry: list[str] = Field(
        default_factory=list, description="Legacy folders whose name is no registered slug."
    )

    @property
    def needs_import(self) -> bool:
        """The truth source holds legacy app folders and no registry files: it was never imported."""
        return bool(self.legacy_not_in_registry) and self.truth_count == 0 and not self.invalid_in_truth

    @property
    def in_sync(self) -> bool:
        """True when the two sides held the same apps with the same content (and nothing waits for an import)."""
        differs = self.only_in_registry or self.only_in_truth or self.differing or self.invalid_in_truth
        return not (differs or self.needs_import)

    def summary(self, import_from: str | None = None) -> str:
        """Readable lines for the CLI; ``import_from`` is the folder to name in the import offer."""
        state = ": in sync" if self.in_sync else ""
        counts = f" ({self.registry_count} app(s) in SQLite, {self.truth_count} in the truth source)"
        lines = [f"Registry sync ({self.direction}){state}{counts}"]
        lines += self._legacy_lines(import_from)
        if self.only_in_registry:
            lines.append(f"  only in SQLite ({len(self.only_in_registry)}): {', '.join(self.only_in_registry)}")
        if self.only_in_truth:
            lines.append(f"  only in the truth source ({len(self.only_in_truth)}): {', '.join(self.only_in_truth)}")
        for diff in self.differing:
            won = f" -> {diff.winner} applied" if diff.winner else ""
            lines.append(f"  differs: {diff.slug} ({', '.join(diff.fields)}){won}")
        lines += [f"  invalid file {bad.path}: {bad.problem}" for bad in self.invalid_in_truth]
        if self.pushed:
            lines.append(f"  written to the truth source: {', '.join(self.pushed)}")
        if self.commit:
            lines.append(f"  commit {self.commit.sha[:12]}: {self.commit.summary}")
        if self.pulled:
            lines.append(f"  registered in SQLite: {', '.join(self.pulled)}")
        lines += [f"  not applied: {p}" for p in self.problems]
        return "\n".join(lines)

    def _legacy_lines(self, import_from: str | None) -> list[str]:
        if not self.legacy_apps:
            return []
        shown = ", ".join(self.legacy_apps[:20]) + (", ..." if len(self.legacy_apps) > 20 else "")
        lines = [f"  legacy layout: {len(self.legacy_apps)} app folder(s) under apps/ ({shown})"]
        where = import_from or "<a checkout of the truth repository>"
        if self.needs_import:
            lines.append(
                f"  the truth source has no registry files yet; import them (--dry-run first shows what it would do): "
                f"nexus registry import {where}"
            )
        elif self.legacy_not_in_registry:
            lines.append(
                f"  {len(self.legacy_not_in_registry)} not registered under their folder name (merged or code-only "
                f"folders stay out); `nexus registry import {where}` again picks up changes"
            )
        return lines


def _field_diff(registry: AppRecord, truth: AppRecord) -> dict[str, FieldDifference]:
    ours, theirs = app_document(registry), app_document(truth)
    return {
        key: FieldDifference(registry=ours.get(key), truth=theirs.get(key))
        for key in sorted(set(ours) | set(theirs))
        if ours.get(key) != theirs.get(key)
    }


async def _load_truth(truth: TruthSource, report: SyncReport) -> dict[str, AppRecord]:
    records: dict[str, AppRecord] = {}
    for path in await truth.list(TruthLayout.APPS):
        slug = TruthLayout.slug_of(path)
        if slug is None:
            if path.endswith(".json"):
                report.invalid_in_truth.append(
                    InvalidTruthFile(path=path, problem="the file name is not <slug>.json with a valid slug")
                )
            continue
        try:
            record = load_app_record(await truth.read(path), path)
        except InvalidInput as exc:
            report.invalid_in_truth.append(InvalidTruthFile(path=path, problem=exc.message))
            continue
        if record.slug != slug:
            problem = f"it names slug {record.slug!r} but the file is {slug}.json"
            report.invalid_in_truth.append(InvalidTruthFile(path=path, problem=problem))
            continue
        records[slug] = record
    return records


async def _legacy_folders(truth: TruthSource) -> list[str]:
    """Folders of the legacy ``apps/<folder>/...`` layout that hold at least one file."""
    folders = set()
    for path in await truth.list(LEGACY_APPS):
        parts = path.split("/")
        if len(parts) >= 3 and not parts[1].startswith("."):
            folders.add(parts[1])
    return sorted(folders)


async def _truth_is_newer(truth: TruthSource, slug: str, registry_record: AppRecord) -> bool:
    last = await truth.history(TruthLayout.app(slug), limit=1)
    changed: datetime | None = last[0].committed_at if last else None
    if changed is None or registry_record.updated_at is None:
        return changed is not None
    return changed > registry_record.updated_at


async def _pull(registry: Registry, record: AppRecord, actor: str, report: SyncReport) -> None:
    try:
        result = await registry.register(record, actor, REASON)
        if result.app.status != record.status:
            await registry.set_status(record.slug, record.status, actor, REASON)
    except NexusError as exc:
        report.problems.append(f"{record.slug}: {exc.message}")
    else:
        report.pulled.append(record.slug)


def _message(actor: str, added: list[str], updated: list[str]) -> str:
    parts = [f"add {', '.join(added)}" if added else "", f"update {', '.join(updated)}" if updated else ""]
    return f"Sync the registry from Nexus: {'; '.join(p for p in parts if p)}\n\nRequested by {actor}."


async def reconcile(
    registry: Registry, truth: TruthSource, *, direction: Direction = "report", actor: str = "nexus"
) -> SyncReport:
    """Compare the SQLite registry with the truth source and apply ``direction`` (see the module doc)."""
    if direction not in ("report", "push", "pull", "both"):
        raise InvalidInput(f"{direction!r} is not a sync direction", hint="Use report, push, pull or both.")
    report = SyncReport(direction=direction)
    ours = {record.slug: record for record in await registry.all()}
    theirs = await _load_truth(truth, report)
    report.registry_count, report.truth_count = len(ours), len(theirs)
    report.legacy_apps = await _legacy_folders(truth)
    report.legacy_not_in_registry = [f for f in report.legacy_apps if slugify(f) not in ours]
    report.only_in_registry = sorted(set(ours) - set(theirs))
    report.only_in_truth = sorted(set(theirs) - set(ours))
    for slug in sorted(set(ours) & set(theirs)):
        fields = _field_diff(ours[slug], theirs[slug])
        if fields:
            report.differing.append(AppDifference(slug=slug, fields=fields))
    if direction == "report":
        return report

    to_push = list(report.only_in_registry) if direction in ("push", "both") else []
    to_pull = list(report.only_in_truth) if direction in ("pull", "both") else []
    for diff in report.differing:
        if direction == "both":
            diff.winner = "truth" if await _truth_is_newer(truth, diff.slug, ours[diff.slug]) else "registry"
        else:
            diff.winner = "registry" if direction == "push" else "truth"
        (to_push if diff.winner == "registry" else to_pull).append(diff.slug)
    # a broken file of an app SQLite knows is repaired by a push
    repair = [TruthLayout.slug_of(bad.path) for bad in report.invalid_in_truth] if direction != "pull" else []
    to_push += [slug for slug in repair if slug in ours and slug not in to_push]

    if to_push:
        files: dict[str, bytes | None] = {TruthLayout.app(slug): render_app(ours[slug]) for slug in sorted(to_push)}
        added = sorted(s for s in to_push if s not in theirs)
        report.commit = await truth.write_many(files, _message(actor, added, sorted(set(to_push) - set(added))))
        report.pushed = sorted(to_push)
    for slug in sorted(to_pull):
        await _pull(registry, theirs[slug], actor, report)
    return report


async def push_app(truth: TruthSource, record: AppRecord, *, actor: str, reason: str = "") -> Commit | None:
    """Write one app's registry file (after a register or status change); None if it was already current."""
    message = f"Update {record.slug} (status {record.status.value})" + (f": {reason}" if reason else "")
    return await truth.write(TruthLayout.app(record.slug), render_app(record), f"{message}\n\nRequested by {actor}.")
