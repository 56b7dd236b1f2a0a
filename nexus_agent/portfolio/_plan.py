"""From app folders to registry records: merging a folder's files, finding duplicates, choosing a status.

Pure apart from reading the portfolio (through :func:`._files.read_folder`);
nothing here writes. :func:`plan_portfolio` returns one :class:`FolderPlan` per
``apps/<folder>``, with the :class:`~nexus_agent.wire.models.AppRecord` to register
when the folder is an app.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import HttpUrl, TypeAdapter, ValidationError

from nexus_agent.portfolio._files import PortfolioFile, read_folder
from nexus_agent.portfolio._merge import merge_duplicates
from nexus_agent.portfolio._messages import merge_docs
from nexus_agent.portfolio._shapes import Draft, draft_from_json, draft_from_markdown
from nexus_agent.portfolio.report import FileFailure, ImportOutcome
from nexus_agent.wire.errors import describe_validation_error
from nexus_agent.wire.models import AppRecord, AppStatus, is_slug, slugify
from nexus_agent.wire.secret_env import app_env_prefix
from nexus_agent.wire.secret_guard import SecretFinding, is_secret_name, scan

__all__ = ["FolderPlan", "build_record", "env_name", "plan_portfolio"]

#: Which file wins when two disagree on a single value (lower wins); lists are merged in this order.
_FILE_RANK = {"registration-metadata.json": 0, "app-registration.json": 0, "metadata.json": 1, "business-logic.json": 2}
_GENERIC_CATEGORIES = {"", "sfg-aluminium-app", "sfg-app", "app", "application", "satellite", "uncategorised"}
#: A status word that, with a health or MCP URL, means the app is deployed (imported as ``approved``).
_DEPLOYED = {"production", "prod", "live", "deployed", "active"}
_SIGNATURE_HEADER = re.compile(r"^[A-Za-z0-9-]{1,100}$")
#: AppRecord's list fields and how many items each may hold.
_LIST_LIMITS = {
    "capabilities": 200, "workflows": 200, "business_rules": 500, "integrations": 200, "tags": 100,
    "subscribes_to": 200, "message_types": 200, "publishes": 200,
}  # fmt: skip
_SCALAR_LIMITS = {"description": 4000, "version": 50, "category": 100, "owner": 200}
_URL = TypeAdapter(HttpUrl)


@dataclass
class FolderPlan:
    folder: str
    slug: str
    outcome: ImportOutcome | None = None  # None: an app to register (imported / updated / unchanged decided later)
    merged_into: str | None = None
    merge_evidence: str | None = None
    files: list[PortfolioFile] = field(default_factory=list)
    drafts: list[Draft] = field(default_factory=list)
    record: AppRecord | None = None
    env_vars: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    failures: list[FileFailure] = field(default_factory=list)
    merged_secrets: list[SecretFinding] = field(default_factory=list)  # found in folders merged into this one
    where: str = ""  # how failures name the source: apps/<folder>/ (or the registration issue)

    def __post_init__(self) -> None:
        self.where = self.where or f"apps/{self.folder}/"

    @property
    def secrets(self) -> list[SecretFinding]:
        return [s for f in self.files for s in f.secrets]

    @property
    def files_used(self) -> list[str]:
        if self.outcome == "code_only":
            return [f.rel for f in self.files if f.failure is None and f.kind != "skipped"]
        return [d.file for d in self.drafts if d.registration]

    def weight(self) -> tuple[int, ...]:
        best_rank = min((d.rank for d in self.drafts), default=9)
        endpoints = len({k for d in self.drafts for k in d.endpoints})
        return (-best_rank, endpoints, len(self.drafts), int("-" in self.folder))


# -- one folder ---------------------------------------------------------------------
def _drafts(files: list[PortfolioFile]) -> list[Draft]:
    drafts = []
    for f in files:
        rank = _FILE_RANK.get(f.name, 9 if f.name == "package.json" else 4 if "/config/" in f.rel else 3)
        if f.kind == "json" and f.failure is None:
            drafts.append(draft_from_json(f.data, f.rel, rank))
        elif f.kind == "markdown":
            draft = draft_from_markdown(f.text, f.rel, 5)
            if draft.registration:
                drafts.append(draft)
    return drafts


def _read(folder: Path, root: Path) -> FolderPlan:
    slug = folder.name if is_slug(folder.name) else slugify(folder.name)
    plan = FolderPlan(folder=folder.name, slug=slug, files=read_folder(folder, root))
    plan.failures = [FileFailure(file=f.rel, reason=f.failure) for f in plan.files if f.failure]
    plan.drafts = _drafts(plan.files)
    plan.notes += [f"{f.rel.rsplit('/', 1)[-1]}: {f.note}" for f in plan.files if f.note]
    if not plan.files:
        plan.outcome = "failed"
        plan.failures.append(FileFailure(file=f"apps/{folder.name}/", reason="the folder is empty"))
    elif not any(d.registration for d in plan.drafts):
        usable = [f for f in plan.files if f.failure is None and f.kind != "skipped"]
        plan.outcome = "code_only" if usable else "failed"
        if usable:
            plan.notes.append(
                f"code only, no registration: {len(plan.files)} file(s), no app created and nothing backed up"
            )
        elif not plan.failures:
            reason = "no readable file (only links, binary or oversized files)"
            plan.failures.append(FileFailure(file=f"apps/{folder.name}/", reason=reason))
    elif not slug:
        plan.outcome = "failed"
        plan.failures.append(FileFailure(file=f"apps/{folder.name}/", reason="no usable slug in the folder name"))
    return plan


# -- duplicates -------------------------------------------------------------------------
def _merge_duplicates(plans: list[FolderPlan]) -> None:
    apps = [p for p in plans if p.outcome is None]
    for other, primary, why in merge_duplicates(apps, FolderPlan.weight):
        other.outcome, other.merged_into, other.merge_evidence = "merged", primary.slug, why
        other.notes.append(f"merged into '{primary.slug}' on evidence: {why}")
        primary.notes.append(f"merged with apps/{other.folder} on evidence: {why}; this folder wins conflicts")
        primary.drafts += [_demoted(d) for d in other.drafts]
        primary.merged_secrets += other.secrets


def _demoted(draft: Draft) -> Draft:
    draft.rank += 100
    return draft


# -- building the record -------------------------------------------------------------------
def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version)[:4])


def _dedupe(items: list[Any], key: Any) -> list[Any]:
    seen: dict[str, Any] = {}
    for item in items:
        seen.setdefault(key(item), item)
    return list(seen.values())


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def env_name(slug: str, suffix: str) -> str:
    """The environment variable Nexus reads an app's secret from: ``SATELLITE_<SLUG>_<SUFFIX>`` (its own)."""
    return f"{app_env_prefix(slug)}{suffix}"


def _clean_url(slot: str, value: str, notes: list[str]) -> str | None:
    if "[REDACTED:" in value or scan(value):
        notes.append(f"endpoints.{slot} carried a secret; not kept (store the URL without it)")
        return None
    try:
        return str(_URL.validate_python(value))
    except ValidationError:
        notes.append(f"endpoints.{slot} {value[:80]!r} is not an http(s) URL; not kept")
        return None


def _secret_slot(finding: SecretFinding) -> str | None:
    path = finding.location.split(":$", 1)[-1].lower()
    if "webhook" in path or "signing" in path or "signature" in path:
        return "webhook"
    if any(word in path for word in ("endpoints", "message_handler", "messagehandler", "mcp", "nexus")):
        return "token"
    return None


def _scalars(drafts: list[Draft], notes: list[str]) -> dict[str, str]:
    """Description, owner and category from the strongest file that has one; the highest version."""
    scalars: dict[str, str] = {}
    for slot in ("description", "owner", "category"):
        for d in drafts:
            value = d.scalars.get(slot, "")
            if value and not (slot == "category" and value.lower() in _GENERIC_CATEGORIES):
                scalars[slot] = value.lower() if slot == "category" else value
                break
    # a package.json version is the code's, not the app's: used only when no registration gives one
    versioned = [d for d in drafts if "version" in d.scalars]
    versioned = [d for d in versioned if d.registration] or versioned
    versions = list(dict.fromkeys(d.scalars["version"] for d in versioned))
    if versions:
        scalars["version"] = max(versions, key=_version_key)
        if len(versions) > 1:
            notes.append(f"version {scalars['version']} chosen, the highest of {', '.join(versions)}")
    return {k: _clip(v, _SCALAR_LIMITS[k]) for k, v in scalars.items()}


def _lists(drafts: list[Draft]) -> dict[str, list[Any]]:
    """Every list field merged across files (strongest file first), without duplicates, within the model's limits."""
    lists: dict[str, list[Any]] = {}
    for slot, limit in _LIST_LIMITS.items():
        items = [i for d in drafts for i in d.lists.get(slot, [])]
        if slot in {"capabilities", "workflows"}:
            items = _dedupe(items, lambda i: i["name"].lower())
            for item in items:
                item["name"] = _clip(item["name"], 200)
                if "steps" in item:
                    item["steps"] = [_clip(step, 500) for step in item["steps"]][:100]
        else:
            width = {"business_rules": 2000, "tags": 100}.get(slot, 200)
            items = [_clip(str(i), width) for i in _dedupe(items, lambda i: str(i).lower())]
        lists[slot] = items[:limit]
    return lists


def _endpoints(plan: FolderPlan, drafts: list[Draft], notes: list[str]) -> dict[str, str]:
    """The URLs (secret-free, valid), and an environment variable's name for each secret Nexus needs."""
    endpoints: dict[str, str] = {}
    for d in drafts:
        for slot, url in d.endpoints.items():
            if slot not in endpoints and (clean := _clean_url(slot, url, notes)):
                endpoints[slot] = clean
    refs = {kind: ref for d in reversed(drafts) for kind, ref in d.env_refs.items()}
    needed = {s for s in map(_secret_slot, plan.secrets + plan.merged_secrets) if s} | set(refs)
    if any(d.signature_header for d in drafts):
        needed.add("webhook")  # the app signs and checks signatures: Nexus needs the shared secret
    for kind, field_name, suffix in (
        ("webhook", "webhook_secret_env", "WEBHOOK_SECRET"),
        ("token", "token_env", "TOKEN"),
    ):
        if kind in needed:
            env = env_name(plan.slug, suffix)
            endpoints[field_name] = plan.env_vars[f"endpoints.{field_name}"] = env
            if refs.get(kind) and refs[kind] != env:
                notes.append(f"the app's own files name {refs[kind]} for its {kind} secret; Nexus reads it from {env}")
    for finding in plan.secrets:
        if _secret_slot(finding) or finding.severity == "low":
            continue
        if ":$" in finding.location:
            notes.append(f"secret at {finding.location} has no Nexus field; it stays in the app's own environment")
        else:  # written in a document or source file: nobody should find it there
            notes.append(f"secret at {finding.location} is written in a file; remove it from there and rotate it")
    return endpoints


def _status(drafts: list[Draft], endpoints: dict[str, str], notes: list[str]) -> AppStatus:
    statuses = [s for d in drafts for s in d.statuses]
    deployed = [s for s in statuses if s.lower() in _DEPLOYED]
    reachable = any(k in endpoints for k in ("health_url", "mcp_url", "message_handler_url"))
    if deployed and reachable:
        notes.append(f"status approved: the files say '{deployed[0]}' and give a health, MCP or message-handler URL")
        return AppStatus.approved
    if statuses:
        why = (
            "no health, MCP or message-handler URL"
            if deployed
            else f"'{statuses[0]}' is not production (only a production app Nexus can reach is approved)"
        )
        notes.append(f"status placeholder: the files say '{statuses[0]}'; {why}")
    return AppStatus.placeholder


def _signature_header(drafts: list[Draft], notes: list[str]) -> str | None:
    for header in (d.signature_header for d in drafts if d.signature_header):
        if _SIGNATURE_HEADER.match(header):
            return header
        notes.append(f"signature header {header[:60]!r} is not an HTTP header name; not kept")
    return None


def _messages(drafts: list[Draft], types: list[str]) -> list[dict[str, Any]]:
    specs = merge_docs([m for d in drafts for m in d.messages], types)
    return [spec.model_dump(mode="json") for spec in specs]


def build_record(plan: FolderPlan) -> None:
    """Merge ``plan.drafts`` into ``plan.record`` (or a failure saying which fields are invalid)."""
    drafts = sorted(plan.drafts, key=lambda d: d.rank)
    notes = plan.notes
    # a package.json name ("app") names the code, not the app: the folder name beats it
    names = [n for d in drafts if d.registration for n in d.names]
    name = max(names, key=lambda n: n[0], default=(0, plan.folder))[1]
    data: dict[str, Any] = {"slug": plan.slug, "name": _clip(name, 200), **_scalars(drafts, notes), **_lists(drafts)}
    data["endpoints"] = _endpoints(plan, drafts, notes)
    if header := _signature_header(drafts, notes):
        data["endpoints"]["signature_header"] = header
    data["status"] = _status(drafts, data["endpoints"], notes)
    data["message_specs"] = _messages(drafts, data["message_types"])
    published = [_clip(e, 200) for e in dict.fromkeys(e for d in drafts for e in d.published)]
    data["publishes"] = published[: _LIST_LIMITS["publishes"]]
    notes += list(dict.fromkeys(n for d in drafts for n in d.notes))
    unmapped = list(dict.fromkeys(k for d in drafts if d.registration for k in d.unmapped if not is_secret_name(k)))
    if unmapped:
        notes.append(f"left in the portfolio (no registry field): {', '.join(unmapped)}")
    try:
        plan.record = AppRecord.model_validate(data)
    except ValidationError as exc:
        plan.outcome = "failed"
        problems = "; ".join(f"{p['field']}: {p['problem']}" for p in describe_validation_error(exc))
        reason = f"the merged record is invalid: {problems}"
        plan.failures.append(FileFailure(file=plan.where, reason=reason))


def plan_portfolio(root: Path) -> list[FolderPlan]:
    """Read every ``root/apps/<folder>`` and plan what to register (synchronous: call it in a worker thread)."""
    folders = sorted(p for p in (root / "apps").iterdir() if p.is_dir() and not p.is_symlink())
    plans = [_read(folder, root) for folder in folders if not folder.name.startswith(".")]
    _merge_duplicates(plans)
    for plan in plans:
        if plan.outcome is None:
            build_record(plan)
    return plans
