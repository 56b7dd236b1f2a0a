"""SSRF: Nexus refuses link-local, cloud-metadata, multicast, unspecified and (by default) private addresses.

The attacks (``ssrf_scenario.py``) run against a real ``nexus serve --http`` inside a fresh network
namespace (``unshare -n``: no packet can leave, so a refusal is Nexus's policy, not the network's), with
a private mount namespace whose /etc/hosts makes ``rebind.test`` resolve to 169.254.169.254: a name
that passes registration is still refused at connect time, on the address it resolves to. Where the
machine allows no namespaces the scenario runs directly (every refusal happens before any connection)
and the rebinding case is covered by the unit tests of ``nexus_agent.outbound``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .ssrf_scenario import REGISTERED

pytestmark = pytest.mark.slow

SCENARIO = Path(__file__).with_name("ssrf_scenario.py")
POLICY_WORDS = ("outbound URL policy",)


def _can(*args: str) -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", *args, "true"], capture_output=True, timeout=30).returncode == 0


def run_scenario(home: Path) -> tuple[dict[str, Any], str]:
    """Run the scenario in the strongest isolation the machine allows; return its results and how it ran."""
    python = [sys.executable, str(SCENARIO), str(home)]
    if _can("-n", "-m"):
        hosts = home / "hosts"
        hosts.write_text("127.0.0.1 localhost\n::1 localhost\n169.254.169.254 rebind.test\n")
        inner = f'mount --bind {hosts} /etc/hosts && ip link set lo up && exec "$@"'
        command = ["unshare", "-n", "-m", "sh", "-c", inner, "sh", *python, "rebind.test"]
        how = "netns+hosts"
    elif _can("-n"):
        command = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *python]
        how = "netns"
    else:
        command, how = python, "direct"
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"scenario failed ({how}): {done.stderr[-3000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1]), how


def test_ssrf_attempts_are_refused_by_policy(tmp_path: Path) -> None:
    results, how = run_scenario(tmp_path)
    if how == "direct":
        print("unshare -n is not allowed here: ran without a network namespace (refusals precede any connection)")
    for name in REGISTERED:
        outcome = results[f"register:{name}"]
        assert outcome["error"], f"{name}: registered a refused URL"
        assert "outbound URL policy" in outcome["text"], f"{name}: refused without naming the rule: {outcome['text']}"
    assert "private addresses are not allowed" in results["register:private"]["text"]
    assert "cloud-metadata" in results["register:metadata-name"]["text"]
    assert results["register:webhook"]["error"] and "webhook_url" in results["register:webhook"]["text"]
    # A stored row from before the policy: refused at connect time, by the policy, not by the network
    # (satellite_tools_list reports a failure per app, so the refusal is in that app's error).
    assert "was not contacted" in results["connect:old-row"]["text"]
    assert "outbound URL policy" in results["connect:old-row"]["text"]
    assert "outbound URL policy" in results["health:old-row"]["text"]
    if how == "netns+hosts":
        assert not results["register:rebind"]["error"], "a name is checked where it resolves, at connect time"
        rebind = results["connect:rebind"]
        assert "was not contacted" in rebind["text"] and "resolved to 169.254.169.254" in rebind["text"]
        assert "outbound URL policy" in rebind["text"]
