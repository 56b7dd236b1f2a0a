"""``backup restore`` and ``recover`` refuse while a real ``nexus serve`` runs on the home, even with --force.

Before, a forced restore renamed the live database aside under a running server, which went on writing
to the copy set aside: every write after the restore was silently lost.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from nexus_agent.cli import main
from nexus_agent.config import Settings
from nexus_agent.ops.backup import create_backup
from tests.security.nexus_process import OWNER, NexusProcess, base_env

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _backup_of(home: Path, where: Path) -> Path:
    env = {"NEXUS_HOME": str(home), "NEXUS_DB_SYNC": "normal"}
    assert main(["memory", "remember", "Harrogate showroom lintel ordered"], env=env) == 0
    return Path(create_backup(Settings.load(env), where).path)


async def _nexus(env: dict[str, str], *args: str) -> tuple[int, str]:
    """The ``nexus`` command line in its own process: (exit code, stdout + stderr)."""
    done = await anyio.run_process([sys.executable, "-m", "nexus_agent", *args], env={**os.environ, **env}, check=False)
    return done.returncode, (done.stdout + done.stderr).decode(errors="replace")


async def test_restore_and_recover_refuse_while_nexus_serves_over_http(tmp_path: Path) -> None:
    home = tmp_path / "home"
    backup = await anyio.to_thread.run_sync(_backup_of, home, tmp_path / "backups")
    with NexusProcess(home, base_env(home)) as nexus:
        restore = nexus.cli("backup", "restore", str(backup), "--force")
        recover = nexus.cli("recover", "--from", str(backup), "--force")
        error, _, _ = await nexus.call(OWNER, "memory_remember", {"text": "written while serving"})
        assert nexus.proc is not None
        pid = nexus.proc.pid
    assert restore.returncode != 0 and f"Nexus is serving this home (pid {pid}); stop it first" in restore.stderr
    assert recover.returncode != 0 and "Nexus is serving this home" in recover.stderr + recover.stdout
    assert not error and not list(home.glob("nexus.db.before-restore-*"))  # nothing was set aside
    env = {"NEXUS_HOME": str(home), "NEXUS_DB_SYNC": "normal"}
    code, recent = await _nexus(env, "memory", "recent")
    assert code == 0 and "written while serving" in recent  # the server's write is in the live database
    # Once the server has stopped, the lock is gone with it: the forced restore runs.
    assert (await _nexus(env, "backup", "restore", str(backup), "--force"))[0] == 0


async def test_restore_refuses_while_nexus_serves_over_stdio(tmp_path: Path) -> None:
    home = tmp_path / "home"
    backup = await anyio.to_thread.run_sync(_backup_of, home, tmp_path / "backups")
    env = {"NEXUS_HOME": str(home), "NEXUS_DB_SYNC": "normal"}
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "nexus_agent", "serve"], env={**os.environ, **env}
    )
    with anyio.fail_after(60):
        async with Client(params) as client:
            assert not (await client.call_tool("nexus_health", {})).is_error
            code, said = await _nexus(env, "backup", "restore", str(backup), "--force")
    assert code != 0 and "Nexus is serving this home (pid " in said
