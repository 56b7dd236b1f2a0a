"""`python -m nexus_agent.testing.legacy_app`: a newcomer's fake legacy app, served by hand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import pytest

from nexus_agent.wire.models import AppRecord


@pytest.mark.slow
@pytest.mark.anyio
async def test_the_fake_prints_its_secret_and_writes_a_registration_pointing_at_it(tmp_path: Path) -> None:
    record_file = tmp_path / "stock-ledger.json"
    cmd = [sys.executable, "-m", "nexus_agent.testing.legacy_app", "--port", "0", "--record", str(record_file)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(3)]
        assert lines[1].startswith("give Nexus its secret: export SATELLITE_STOCK_LEDGER_WEBHOOK_SECRET=")
        record = AppRecord.model_validate_json(record_file.read_text())
        assert record.status.value == "active" and "query.stock_level" in record.message_types
        health = str(record.endpoints.health_url)
        async with httpx.AsyncClient(timeout=1) as http:
            with anyio.fail_after(20):  # until it listens
                while True:
                    try:
                        assert (await http.get(health)).json() == {"status": "ok"}
                        break
                    except httpx.TransportError:
                        await anyio.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(10)
