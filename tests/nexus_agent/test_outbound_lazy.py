"""`nexus serve` start-up: the outbound policy and its clients import httpcore (and load the trust store) only
when a client first contacts something, and a client built that way still enforces the policy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nexus_agent.outbound import OutboundPolicy, httpx2_client, httpx_client
from nexus_agent.wire.errors import ConfigError

PROBE = """
import sys, anyio
import nexus_agent.config
from nexus_agent.outbound import OutboundPolicy, httpx_client, httpx2_client
print("config:", sorted(m for m in ("httpx", "httpcore", "httpcore2", "h11") if m in sys.modules))

async def main():
    async with httpx_client(OutboundPolicy()) as a, httpx2_client(OutboundPolicy()) as b:
        print("built:", sorted(m for m in ("httpcore", "httpcore2", "h11") if m in sys.modules))
        try:
            await a.get("http://169.254.169.254/latest/meta-data/")
        except Exception as exc:
            print("refused:", type(exc).__name__, "link-local" in str(exc) or "metadata" in str(exc))
        print("used:", "httpcore" in sys.modules)

anyio.run(main)
"""


def test_httpcore_waits_for_the_first_request_and_the_policy_still_holds() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    lines = out.stdout.splitlines()
    assert lines == ["config: []", "built: []", "refused: ConnectError True", "used: True"], out.stdout + out.stderr


def test_a_bad_ca_file_still_fails_when_the_client_is_built(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    policy = OutboundPolicy(ca_file=bad)
    for build in (httpx_client, httpx2_client):
        with pytest.raises(ConfigError, match="NEXUS_CA_FILE"):
            build(policy)
