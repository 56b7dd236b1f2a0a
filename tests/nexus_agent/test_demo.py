"""`nexus demo` as the owner runs it: real satellites on 127.0.0.1, the real planner, memory and truth source."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nexus_agent.config import Settings
from nexus_agent.demo import DEMO_INSTRUCTION, demo_settings

REPO = Path(__file__).resolve().parents[2]
SATELLITES = ("quote-engine", "enquiries", "credit-check", "installation-scheduler", "invoicing")
OVER_25K_WAITING = ("Q-1042", "Q-1043", "Q-1047")  # sent, over £25k, waiting more than 7 days
NOT_TO_CHASE = ("Q-1039", "Q-1051", "Q-1055", "Q-1058", "Q-1060", "Q-1062", "Q-1063")  # accepted, recent, small, draft
HELD_FOR_APPROVAL = ("Q-1060", "Q-1062")


def nexus(home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """`python -m nexus_agent ...` in a clean environment: no terminal, no API key, HOME elsewhere."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        "HOME": str(home.parent),  # the owner's real ~/.nexus is out of reach either way
        "NEXUS_DB_SYNC": "normal",
    }
    return subprocess.run(
        [sys.executable, "-m", "nexus_agent", *argv, "--home", str(home)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def chase_lines(out: str) -> dict[str, str]:
    """quote id -> status of each chase_quote call listed under 'Calls:'."""
    found = re.findall(r'quote-engine__chase_quote\(\{"quote_id": "(Q-\d+)"\}\)\s+\[side effect\] -> (\w+)', out)
    return dict(found)


def assert_no_secret(out: str, home: Path) -> None:
    """No bearer token (``secrets.token_urlsafe(32)``: 43 random URL-safe characters) reached the output."""
    text = out.replace(str(home), "HOME")
    for word in re.findall(r"(?<![\w-])[\w-]{43}(?![\w-])", text):
        assert not (re.search("[A-Z]", word) and re.search("[0-9]", word)), "a bearer-token-like string was printed"
    assert "Bearer" not in text


@pytest.mark.slow
def test_demo_with_yes_chases_the_big_old_quotes_and_remembers_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run = nexus(home, "demo", "--yes")
    out = run.stdout
    assert run.returncode == 0, run.stderr + out
    assert "Traceback" not in run.stderr

    assert "Started 5 demo satellites" in out
    for slug in SATELLITES:
        assert re.search(rf"{slug}\s+http://127\.0\.0\.1:\d+/mcp", out), slug
        assert re.search(rf"{slug}\s+created \(active\)", out), slug
    # ... and one legacy app beside them, reached through its message handler
    assert "Started 1 legacy app (not MCP" in out
    assert re.search(r"stock-ledger\s+http://127\.0\.0\.1:\d+/api/messages/handle\s+query\.low_stock", out)
    assert re.search(r"stock-ledger\s+created \(active\)", out)
    assert f'Instruction: "{DEMO_INSTRUCTION}"' in out
    assert "--yes given, so calls with side effects are approved automatically" in out

    # The offline planner found the quotes over £25k waiting more than a week ...
    assert 'quote-engine__list_quotes({"min_total": 25000, "older_than_days": 7})  [read-only] -> succeeded' in out
    assert "3 quotes:" in out
    # ... chased each of them, and nothing else ...
    assert chase_lines(out) == dict.fromkeys(OVER_25K_WAITING, "succeeded")
    assert "quote-engine emailed 3 chaser(s):" in out
    recorded = out.split("What the satellites recorded:", 1)[1].split("Where it is kept:", 1)[0]
    assert all(q in recorded for q in OVER_25K_WAITING)
    assert not any(q in recorded for q in NOT_TO_CHASE)
    # ... asked the legacy stock ledger which extrusions run low (a signed message, its answer shown) ...
    assert "stock-ledger__query_low_stock({})  [read-only] -> succeeded" in out
    assert "EXT-6060-CW52 (curtain-wall mullion 52 mm): 18 in the north yard" in out
    assert "stock-ledger received 1 message(s), each signed correctly: query.low_stock" in out
    # ... and says which quotes need the owner's approval.
    approval = out.split("Needs your approval:", 1)[1].split("What the satellites recorded:", 1)[0]
    assert "2 quote(s) held for your approval" in approval
    assert all(q in approval for q in HELD_FOR_APPROVAL)
    assert "Plan 1: succeeded" in out
    assert "waiting for your yes" not in out

    assert f"nexus memory search quote --home {home}" in out
    assert str(home / "truth") in out
    assert out.rstrip().endswith("The demo satellites are shut down.")
    assert_no_secret(out + run.stderr, home)

    found = nexus(home, "memory", "search", "quote", "--json")
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)["hits"]
    assert any(h["kind"] == "plan" and h["title"].startswith("Chase every quote over £25k") for h in hits)
    tags = {t for h in hits if h["kind"] == "decision" for t in h["tags"]}
    assert {"planner-turn", "planner-approval", "planner-outcome"} <= tags
    approvals = [h for h in hits if "planner-approval" in h["tags"]]
    assert all("chase_quote" in h["title"] for h in approvals)

    for slug in SATELLITES:  # registered through registry_register, so committed to the local git truth source
        stored = json.loads((home / "truth" / "registry" / "apps" / f"{slug}.json").read_text())
        assert stored["status"] == "active"
        assert stored["endpoints"]["token_env"].startswith("SATELLITE_")
    log = subprocess.run(["git", "-C", str(home / "truth"), "log", "--format=%s"], capture_output=True, text=True)
    assert "quote-engine" in log.stdout


@pytest.mark.slow
def test_demo_without_yes_or_a_terminal_leaves_the_plan_waiting_and_approve_carries_it_on(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run = nexus(home, "demo")
    out = run.stdout
    assert run.returncode == 0, run.stderr + out
    assert "Plan 1: awaiting_approval" in out
    assert chase_lines(out) == dict.fromkeys(OVER_25K_WAITING, "awaiting_approval")
    assert "plan 1 is waiting for your yes to 3 call(s) with side effects" in out
    assert "Nothing with side effects was done" in out
    assert f"nexus plan approve 1 --home {home}" in out
    assert f"nexus demo --approve 1 --home {home}" in out
    assert "quote-engine emailed no chasers" in out
    assert all(q in out.split("Needs your approval:", 1)[1] for q in HELD_FOR_APPROVAL)
    assert_no_secret(out + run.stderr, home)

    approved = nexus(home, "demo", "--approve", "1")
    assert approved.returncode == 0, approved.stderr + approved.stdout
    assert "Plan 1: succeeded" in approved.stdout
    assert chase_lines(approved.stdout) == dict.fromkeys(OVER_25K_WAITING, "succeeded")
    assert "quote-engine emailed 3 chaser(s):" in approved.stdout


@pytest.mark.slow
def test_demo_rejects_a_bad_serve_address(tmp_path: Path) -> None:
    run = nexus(tmp_path / "home", "demo", "--serve", "nowhere")
    assert run.returncode == 2
    assert "--serve expects HOST:PORT" in run.stderr


def test_demo_settings_use_the_embedded_defaults_whatever_the_environment_says(tmp_path: Path) -> None:
    env = {
        "NEXUS_HOME": str(tmp_path / "real"),
        "ANTHROPIC_API_KEY": "sk-not-used-by-the-demo-0123456789",
        "NEXUS_AUTO_APPROVE": "quote-engine__*",
        "NEXUS_TRUTH": "github",
        "NEXUS_GITHUB_REPO": "sfg/truth",
        "NEXUS_GITHUB_TOKEN": "ghp_not_used_by_the_demo_0123456789",
    }
    settings = demo_settings(Settings.load(env), tmp_path / "demo")
    assert settings.db_path == tmp_path / "demo" / "nexus.db"
    assert settings.truth.kind == "local" and settings.truth.path == tmp_path / "demo" / "truth"
    assert settings.truth.github_auth is None
    assert settings.anthropic_api_key is None and settings.auto_approve_tools == ()
