"""``nexus doctor``: what Nexus will use, and whether each part is healthy."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import sys
from collections.abc import Iterable, Mapping
from typing import Literal

from pydantic import BaseModel

from nexus_agent import __version__
from nexus_agent.config import Settings
from nexus_agent.events.webhook_secrets import default_secret_env
from nexus_agent.services import ALL_MIGRATIONS, open_database, services_from_database
from nexus_agent.wire.errors import NexusError
from nexus_agent.wire.models import AppRecord, AppStatus

__all__ = ["DoctorReport", "run_doctor"]


class DoctorCheck(BaseModel):
    name: str
    status: Literal["ok", "warn", "fail"]
    detail: str
    fix: str = ""


class DoctorReport(BaseModel):
    version: str
    settings: dict[str, str]
    checks: list[DoctorCheck]

    @property
    def healthy(self) -> bool:
        return all(c.status != "fail" for c in self.checks)

    def to_text(self) -> str:
        width = max(len(k) for k in self.settings)
        lines = [f"Nexus {self.version}", ""]
        lines += [f"  {k.ljust(width)}  {v}" for k, v in self.settings.items()]
        lines.append("")
        marks = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
        for c in self.checks:
            lines.append(f"  [{marks[c.status]}] {c.name}: {c.detail}")
            if c.fix and c.status != "ok":
                lines.append(f"         fix: {c.fix}")
        warned = sum(c.status == "warn" for c in self.checks)
        state = f"healthy, {warned} warning(s): see WARN lines above" if warned else "healthy"
        lines += ["", state if self.healthy else "NOT healthy: see FAIL lines above"]
        return "\n".join(lines)


def _package(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _unset_secrets(
    records: Iterable[AppRecord], secrets: Mapping[str, str], live: frozenset[AppStatus]
) -> list[DoctorCheck]:
    """A warning for each live app whose token_env / webhook_secret_env names a variable that is not set."""
    checks = []
    for record in records:
        if record.status not in live:
            continue
        ep = record.endpoints
        # a legacy app naming no variable signs with the default one, so it needs that one set
        hook = ep.webhook_secret_env or (default_secret_env(record.slug) if ep.message_handler_url else None)
        # the webhook secret may come from NAME_FILE too; a satellite token only from NAME
        unset = [
            (field, name)
            for field, name, files in (("token_env", ep.token_env, False), ("webhook_secret_env", hook, True))
            if name and not (secrets.get(name, "").strip() or (files and secrets.get(f"{name}_FILE", "").strip()))
        ]
        if unset:
            names = " and ".join(name for _, name in unset)
            fields = ", ".join(
                f"endpoints.{field} names {name}" if getattr(ep, field) else f"its message handler needs {name}"
                for field, name in unset
            )
            checks.append(
                DoctorCheck(
                    name=f"secret of {record.slug}",
                    status="warn",
                    detail=f"{fields}, which is not set, so calls to {record.slug} ({record.status.value}) fail",
                    fix=f"Set {names} in the environment Nexus runs in, then restart it.",
                )
            )
    return checks


async def run_doctor(settings: Settings, secrets: Mapping[str, str] | None = None) -> DoctorReport:
    """What Nexus will use and whether each part works. ``secrets``: the satellite variables the CLI resolved
    (:class:`~nexus_agent.wire.secret_env.SatelliteSecrets`), to tell which live apps have no secret set."""
    checks: list[DoctorCheck] = []
    shown = {
        "home": str(settings.home),
        "database": str(settings.db_path),
        "truth source": f"local git at {settings.truth.path}"
        if settings.truth.kind == "local"
        else f"GitHub {settings.truth.github_repo} via {settings.truth.github_api_url}",
        "db durability": f"synchronous={settings.db_sync}",
        "http tokens": f"{len(settings.tokens)} configured" if settings.tokens else "none (loopback only)",
        "actor": settings.actor,
        "python": sys.version.split()[0],
        "mcp sdk": _package("mcp"),
    }
    checks.append(
        DoctorCheck(
            name="python",
            status="ok" if sys.version_info >= (3, 11) else "fail",
            detail=sys.version.split()[0],
            fix="Install Python 3.11 or newer.",
        )
    )
    try:
        database = open_database(settings)
    except NexusError as exc:
        checks.append(DoctorCheck(name="database", status="fail", detail=exc.message, fix=exc.hint or ""))
    else:
        services = None
        try:
            services = services_from_database(settings, database)
            pending = database.pending_migrations(ALL_MIGRATIONS)
            counts = await services.memory.stats()
            apps = await services.registry.count_by_status()
            writable = os.access(settings.db_path, os.W_OK)
            checks.append(
                DoctorCheck(
                    name="database",
                    status="ok" if not pending and writable else "fail",
                    detail=(
                        "SQLite WAL" if services.shared is None else f"SQLite WAL + {services.shared.database.path}"
                    )
                    + f", migrations applied, {sum(counts.values())} memory items"
                    + ("" if writable else "; file is not writable"),
                    fix="Point NEXUS_HOME at a writable folder." if not writable else "",
                )
            )
            checks.append(
                DoctorCheck(
                    name="registry",
                    status="ok",
                    detail=f"{sum(apps.values())} apps"
                    + (" (" + ", ".join(f"{k} {v}" for k, v in sorted(apps.items())) + ")" if apps else ""),
                )
            )
            live = settings.pool.callable_statuses
            checks += _unset_secrets(await services.registry.all(), secrets or {}, live)
        except NexusError as exc:
            checks.append(DoctorCheck(name="database", status="fail", detail=exc.message, fix=exc.hint or ""))
        finally:
            if services is not None and services.shared is not None:
                services.shared.close()  # the PostgreSQL pool (NEXUS_DATABASE_URL)
            database.close()
    git = shutil.which("git")
    needs_git = settings.truth.kind == "local"
    checks.append(
        DoctorCheck(
            name="git",
            status="ok" if git else ("fail" if needs_git else "warn"),
            detail=git or "git not found on PATH",
            fix="Install git; the local truth source needs it.",
        )
    )
    return DoctorReport(version=__version__, settings=shown, checks=checks)
