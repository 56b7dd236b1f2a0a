"""The daily backup: taken when due, old ones pruned, every attempt recorded and counted."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from prometheus_client.parser import text_string_to_metric_families

from nexus_agent.config import Settings
from nexus_agent.ops.backup import list_backups
from nexus_agent.ops.metrics import DatabaseCollector, NexusMetrics
from nexus_agent.ops.scheduler import DAY, RETRY_S, BackupScheduler, last_backup
from nexus_agent.services import NexusServices
from tools.health_tools import collect_health

pytestmark = pytest.mark.anyio


def backups_total(services: NexusServices) -> dict[str, float]:
    metrics = NexusMetrics()
    metrics.registry.register(DatabaseCollector(services.database))
    families = text_string_to_metric_families(metrics.render().decode())
    return {s.labels["outcome"]: s.value for f in families if f.name == "nexus_backups" for s in f.samples}


async def test_a_due_backup_is_taken_recorded_and_old_ones_pruned(
    settings: Settings, services: NexusServices, tmp_path: Path
) -> None:
    folder = tmp_path / "daily"
    now = [1_900_000_000.0]
    scheduler = BackupScheduler(settings, services.database, folder=folder, keep=2, clock=lambda: now[0])
    assert scheduler.due_in() == 0  # never backed up: due now
    for _ in range(3):
        assert await scheduler.take()
        assert 0 < scheduler.due_in() <= DAY
        now[0] += DAY
    assert len(list_backups(folder)) == 2  # keep=2
    assert backups_total(services) == {"ok": 3.0, "failed": 0.0}
    health = await collect_health(services)
    assert next(c for c in health.checks if c.name == "backup").status == "ok"


async def test_a_failed_backup_is_recorded_retried_within_the_hour_and_alerts(
    settings: Settings, services: NexusServices, tmp_path: Path
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the backup folder should be")
    scheduler = BackupScheduler(settings, services.database, folder=blocked, keep=7)
    assert not await scheduler.take()
    last = last_backup(services.database)
    assert last is not None and not last.ok and "cannot create" in last.error
    assert 0 < scheduler.due_in() <= RETRY_S
    assert backups_total(services)["failed"] == 1
    health = await collect_health(services)
    check = next(c for c in health.checks if c.name == "backup")
    assert check.status == "warn" and "FAILED" in check.detail and health.status == "degraded"


async def test_the_scheduler_takes_its_first_backup_after_the_start_delay(
    settings: Settings, services: NexusServices, tmp_path: Path
) -> None:
    folder = tmp_path / "daily"
    scheduler = BackupScheduler(settings, services.database, folder=folder, keep=7, first_delay=0)
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(scheduler.run)
            while last_backup(services.database) is None:  # recorded after the file is in place
                await anyio.sleep(0.05)
            tg.cancel_scope.cancel()
    last = last_backup(services.database)
    assert last is not None and last.ok and Path(last.path).parent == folder
