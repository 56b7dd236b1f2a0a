"""``nexus recover --from BACKUP``: the seed's recovery plan, one step at a time.

1. verify the backup (checksums, integrity, counts, truth bundle);
2. restore the truth repository and 3. the database (atomic renames, see ``restore``); with
   ``NEXUS_DATABASE_URL``, the shared PostgreSQL database first (``pg_restore``, one transaction);
4. check every callable satellite's connection (health endpoint, or tools/list over stdio);
5. resume orchestration: webhook deliveries still pending (leases left by the dead process
   are released first; satellites drop a delivery id they have already processed), then
   plans that were interrupted (a completed call is never repeated; a write that may have
   run waits for approval, see ``nexus_agent.planner.recovery``).

Each step's result is printed; a failed step stops the ones that depend on it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import anyio
import httpx
from pydantic import BaseModel

from nexus_agent.config import Settings
from nexus_agent.events import Dispatcher, WebhookSecrets
from nexus_agent.ops.restore import restore_backup, verify_backup
from nexus_agent.ops.secrets_box import SecretsKey
from nexus_agent.ops.serve_lock import exclusive_home
from nexus_agent.outbound import OutboundPolicy, httpx_client
from nexus_agent.services import NexusServices, open_services
from nexus_agent.wire.errors import NexusError

__all__ = ["RecoveryReport", "Step", "run_recovery"]

PlannerFactory = Callable[[NexusServices], Any]


class Step(BaseModel):
    name: str
    ok: bool
    detail: str


class RecoveryReport(BaseModel):
    backup: str
    steps: list[Step] = []

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)

    def add(self, name: str, ok: bool, detail: str) -> bool:
        self.steps.append(Step(name=name, ok=ok, detail=detail))
        return ok

    def to_text(self) -> str:
        lines = [f"recovery from {self.backup}"]
        lines += [f"{i}. [{'ok' if s.ok else 'FAILED'}] {s.name}: {s.detail}" for i, s in enumerate(self.steps, 1)]
        lines.append("recovered: Nexus can be started" if self.ok else "recovery did NOT complete: see the failed step")
        return "\n".join(lines)


async def run_recovery(
    settings: Settings,
    backup: Path,
    *,
    force: bool = False,
    resume: bool = True,
    secrets: Mapping[str, str] | None = None,
    key: SecretsKey | None = None,
    planner_factory: PlannerFactory | None = None,
    http: httpx.AsyncClient | None = None,
    skip_shared: bool = False,
) -> RecoveryReport:
    with exclusive_home(settings):  # refused while `nexus serve` runs here (before any step); restore re-checks
        pass
    report = RecoveryReport(backup=str(backup))
    verified = await anyio.to_thread.run_sync(lambda: verify_backup(backup, key=key))
    failed = [f"{c.name}: {c.detail}" for c in verified.checks if not c.ok]
    if not report.add(
        "verify the backup", verified.ok, f"taken {verified.created_at}" if verified.ok else "; ".join(failed)
    ):
        return report
    try:
        restored = await anyio.to_thread.run_sync(
            lambda: restore_backup(settings, backup, force=force, key=key, skip_shared=skip_shared)
        )
    except NexusError as exc:
        report.add("restore the truth repository and the database", False, exc.user_message())
        return report
    aside = f"; previous copy kept at {', '.join(restored.kept_aside)}" if restored.kept_aside else ""
    report.add("restore the truth repository", True, restored.truth)
    if restored.shared:
        report.add("restore the shared PostgreSQL database", True, restored.shared)
    report.add("restore the database", True, restored.database + aside)
    # As given (the CLI's SatelliteSecrets keeps its allow-list; a copy into a dict would drop it).
    async with open_services(settings, secrets=secrets if secrets is not None else {}, satellites=True) as services:
        await _check_satellites(services, report)
        if not resume:
            report.add("resume orchestration", True, "skipped (--skip-resume): `nexus serve` resumes on start")
            return report
        await _deliver_pending(services, report, secrets or {}, http)
        await _resume_plans(services, report, planner_factory)
    return report


async def _check_satellites(services: NexusServices, report: RecoveryReport) -> None:
    pool = services.satellites
    results = await pool.health()
    if not results:
        report.add("check satellite connections", True, "no callable satellites registered")
        return
    down = [f"{h.slug} ({h.state.value}: {h.detail[:80]})" for h in results if h.state.value != "up"]
    up = len(results) - len(down)
    detail = f"{up} of {len(results)} callable satellites answer"
    # An unreachable satellite does not fail the recovery: Nexus is back; the satellite needs its owner.
    report.add("check satellite connections", True, detail + (f"; not answering: {', '.join(down)}" if down else ""))


async def _deliver_pending(
    services: NexusServices, report: RecoveryReport, secrets: Mapping[str, str], http: httpx.AsyncClient | None
) -> None:
    outbox = services.outbox
    assert outbox is not None
    released = 0
    # Nothing else runs on a home being recovered (on PostgreSQL the restore found no other client):
    # every lease is a dead process's. Read through the outbox, so either engine's table is seen.
    for owner in await _lease_owners(outbox):
        released += await outbox.release(owner)
    # services.secrets: only each app's own variables (and allow-listed ones) are ever read.
    webhook_secrets = WebhookSecrets(services.secrets, await services.registry.all())
    async with _client(http, services.settings) as client:
        sent = await Dispatcher(outbox, webhook_secrets, client, on_delivered=services.after_delivery).drain()
    left = await outbox.stats()
    detail = f"{sent.delivered} webhook(s) delivered, {sent.retrying} to retry, {sent.dead} dead"
    detail += f" ({released} released from the dead process)" if released else ""
    detail += f"; still pending (retried by `nexus serve`): {left.pending}" if left.pending else ""
    detail += f"; not sent, no webhook secret: {sent.not_sent}" if sent.not_sent else ""
    report.add("resume webhook deliveries", True, detail)


async def _lease_owners(outbox: Any) -> set[str]:
    owners: set[str] = set()
    offset = 0
    while True:
        page = await outbox.list("in_flight", limit=1000, offset=offset)
        owners |= {entry.lease_owner for entry in page.items if entry.lease_owner}
        offset += len(page.items)
        if not page.items or offset >= page.total:
            return owners


def _client(http: httpx.AsyncClient | None, settings: Settings) -> Any:
    if http is not None:
        return contextlib.nullcontext(http)
    return httpx_client(OutboundPolicy.from_settings(settings))  # the outbound URL policy, as everywhere


async def _resume_plans(
    services: NexusServices, report: RecoveryReport, planner_factory: PlannerFactory | None
) -> None:
    from nexus_agent.planner.build import planner_from_settings

    planner = planner_factory(services) if planner_factory is not None else planner_from_settings(services)
    states = planner.states
    for plan_id in await states.ids_with_status("claimed"):  # claimed by the process that died
        state = await states.load(plan_id)
        await states.release(plan_id, state.status)
    interrupted = await states.ids_with_status("running")
    waiting = await states.ids_with_status("awaiting_approval")
    outcomes = []
    for plan_id in interrupted:
        try:
            result = await planner.resume(plan_id)
            outcomes.append(f"plan {plan_id}: {result.status}")
        except NexusError as exc:
            outcomes.append(f"plan {plan_id}: not resumed ({exc.message})")
    detail = f"{len(interrupted)} interrupted plan(s) resumed" + (f" ({'; '.join(outcomes)})" if outcomes else "")
    if waiting:
        detail += f"; waiting for approval: {', '.join(str(p) for p in waiting)} (nexus plan approve ID)"
    report.add("resume interrupted plans", all("not resumed" not in o for o in outcomes), detail)
