"""What a portfolio import did, per app folder: :class:`ImportReport` and its text table."""

from __future__ import annotations

from collections import Counter
from typing import Literal

from pydantic import BaseModel, Field

from nexus_agent.wire.secret_guard import SecretFinding

__all__ = ["AppImportResult", "FileFailure", "ImportOutcome", "ImportReport"]

#: ``imported``: a new registry entry; ``updated`` / ``unchanged``: it existed already;
#: ``merged``: the same app as another folder (``merged_into``, on ``merge_evidence``);
#: ``code_only``: code and no registration (no app is created, nothing is backed up);
#: ``failed``: nothing usable (see ``failures``).
ImportOutcome = Literal["imported", "updated", "unchanged", "merged", "code_only", "failed"]

_LABELS = {"code_only": "code only, no registration"}
_ORDER = ["imported", "updated", "unchanged", "merged", "code_only", "failed"]


class FileFailure(BaseModel):
    """A file that could not be used, and why (never its content)."""

    file: str = Field(description="Path relative to the portfolio root, e.g. apps/site-survey/config/x.json.")
    reason: str


class AppImportResult(BaseModel):
    """The outcome for one ``apps/<folder>``."""

    folder: str
    slug: str = Field(description="The registry slug (the folder name when it is a valid slug).")
    outcome: ImportOutcome
    merged_into: str | None = None
    merge_evidence: str | None = Field(
        None, description="Why this folder is the same app as merged_into, e.g. same normalised folder name."
    )
    files_used: list[str] = Field(default_factory=list)
    failures: list[FileFailure] = Field(default_factory=list)
    secrets: list[SecretFinding] = Field(
        default_factory=list, description="Secrets found in the folder's files; none of them was copied."
    )
    env_vars: dict[str, str] = Field(
        default_factory=dict,
        description="Record field -> environment variable that must hold the secret, "
        "e.g. endpoints.webhook_secret_env -> GLAZING_SCHEDULER_WEBHOOK_SECRET.",
    )
    changed_fields: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(
        default_factory=list,
        description="What was left out of this app and how to get it in, e.g. an endpoint URL the outbound "
        "URL policy refuses (the rule and the setting that allows it).",
    )

    @property
    def label(self) -> str:
        label = _LABELS.get(self.outcome, self.outcome)
        return f"merged into {self.merged_into}" if self.outcome == "merged" else label


class ImportReport(BaseModel):
    """Every app folder of a portfolio and what the import did with it."""

    path: str
    dry_run: bool = False
    apps: list[AppImportResult] = Field(default_factory=list)
    other_secrets: list[SecretFinding] = Field(
        default_factory=list,
        description="Secrets in files outside apps/ (a root .env, docs, registration issues); none was copied.",
    )
    written: bool = Field(False, description="Whether the registry was written (all apps at once, or none).")
    write_error: str | None = Field(None, description="Why the registry was not written, when it was not.")
    truth_commit: str | None = Field(None, description="The truth-source commit that holds the imported apps.")
    truth_files: int = Field(0, description="Registry files written to the truth source.")
    truth_error: str | None = Field(None, description="Why the truth source was not updated, when it was not.")

    def counts(self) -> dict[str, int]:
        return dict(Counter(app.outcome for app in self.apps))

    def secret_count(self) -> int:
        return sum(len(app.secrets) for app in self.apps) + len(self.other_secrets)

    @property
    def ok(self) -> bool:
        """No folder failed, and every write the import attempted went through."""
        failed = any(a.outcome == "failed" for a in self.apps)
        return not (failed or self.write_error or self.truth_error)

    def app(self, folder: str) -> AppImportResult:
        """The result for ``apps/<folder>``."""
        for app in self.apps:
            if app.folder == folder:
                return app
        raise KeyError(folder)

    def to_text(self) -> str:
        head = f"Portfolio import from {self.path}" + (" (dry run: nothing was written)" if self.dry_run else "")
        rows = [("folder", "outcome", "slug", "files", "secrets", "failures")]
        rows += [
            (a.folder, a.label, a.slug, str(len(a.files_used)), str(len(a.secrets)), str(len(a.failures)))
            for a in self.apps
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [head, ""] + ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
        for a in self.apps:
            lines += ["", f"{a.folder}: {a.label}"]
            prefix = f"apps/{a.folder}/"
            if a.files_used:
                lines.append("  files: " + ", ".join(f.removeprefix(prefix) for f in a.files_used))
            if a.merge_evidence:
                lines.append(f"  evidence: {a.merge_evidence}")
            lines += [f"  failed: {f.file.removeprefix(prefix) or f.file}: {f.reason}" for f in a.failures]
            lines += [f"  warning: {w}" for w in a.warnings]
            for s in a.secrets:
                lines.append(f"  secret not copied: {s.location.removeprefix(prefix)} ({s.kind}, {s.severity})")
            for field, env in a.env_vars.items():
                lines.append(f"  {field} = {env}  (put the secret in this variable; it is not stored)")
            if a.changed_fields:
                lines.append("  changed: " + ", ".join(a.changed_fields))
            lines += [f"  note: {n}" for n in a.notes]
        if self.other_secrets:
            lines += ["", "outside apps/:"]
            lines += [f"  secret not copied: {s.location} ({s.kind}, {s.severity})" for s in self.other_secrets]
        counts = self.counts()
        summary = ", ".join(f"{counts[o]} {_LABELS.get(o, o)}" for o in _ORDER if counts.get(o))
        lines += ["", f"Summary: {summary or 'no app folders'}; {self.secret_count()} secret(s) found, none copied."]
        if warned := [a.folder for a in self.apps if a.warnings]:
            lines.append(f"Warnings for {len(warned)} app(s) ({', '.join(warned)}): see their 'warning:' lines.")
        lines += self._writes()
        return "\n".join(lines)

    def _writes(self) -> list[str]:
        if self.dry_run:
            return []
        if self.write_error and not self.written:
            return [f"registry: NOT written ({self.write_error}); nothing was changed, fix it and import again"]
        if self.write_error:
            return [f"registry: partly written ({self.write_error}); fix it and import again"]
        lines = []
        if self.truth_commit:
            lines.append(f"truth source: {self.truth_files} app file(s) written in commit {self.truth_commit[:12]}")
        elif self.truth_error:
            lines.append(
                f"truth source: NOT updated ({self.truth_error}); the registry holds the import: "
                "run `nexus registry sync --direction push` once the truth source works"
            )
        return lines
