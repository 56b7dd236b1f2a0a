"""``nexus doctor`` warns about live apps whose secret variable is not set (calls to them would fail)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nexus_agent.cli import main


def _register(tmp_path: Path, env: dict[str, str], slug: str, status: str, **endpoints: str) -> None:
    file = tmp_path / f"{slug}.json"
    record = {"slug": slug, "name": slug.title(), "status": status, "endpoints": endpoints}
    file.write_text(json.dumps(record), encoding="utf-8")
    assert main(["registry", "register", str(file)], env=env) == 0


def _doctor(capsys: pytest.CaptureFixture[str], env: dict[str, str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["doctor"], env=env)
    return code, capsys.readouterr().out


def test_a_live_app_without_its_secret_is_a_warning_naming_the_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"NEXUS_HOME": str(tmp_path / "home"), "NEXUS_DB_SYNC": "normal"}
    _register(
        tmp_path,
        env,
        "ledger",
        "approved",
        mcp_url="https://ledger.example.test/mcp",
        token_env="SATELLITE_LEDGER_TOKEN",
        webhook_secret_env="SATELLITE_LEDGER_WEBHOOK_SECRET",
    )
    _register(tmp_path, env, "draft", "placeholder", token_env="SATELLITE_DRAFT_TOKEN")

    code, out = _doctor(capsys, env)

    assert code == 0  # a warning, not a failure
    assert "[WARN] secret of ledger: endpoints.token_env names SATELLITE_LEDGER_TOKEN" in out
    assert "fix: Set SATELLITE_LEDGER_TOKEN and SATELLITE_LEDGER_WEBHOOK_SECRET in the environment" in out
    assert "draft" not in out.split("secret of ledger", 1)[1]  # a placeholder is not called
    assert "healthy, 1 warning(s)" in out

    secret = tmp_path / "hook.secret"
    secret.write_text("x" * 40, encoding="utf-8")
    env |= {"SATELLITE_LEDGER_TOKEN": "t" * 40, "SATELLITE_LEDGER_WEBHOOK_SECRET_FILE": str(secret)}
    code, out = _doctor(capsys, env)
    assert code == 0 and "secret of" not in out and out.rstrip().endswith("healthy")


def test_a_legacy_app_naming_no_variable_needs_the_default_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # what `python -m nexus_agent.testing.legacy_app --record` writes: a handler URL, no webhook_secret_env
    env = {"NEXUS_HOME": str(tmp_path / "home"), "NEXUS_DB_SYNC": "normal"}
    _register(tmp_path, env, "stock-ledger", "active", message_handler_url="https://ledger.example.test/handle")

    code, out = _doctor(capsys, env)
    assert code == 0
    assert "[WARN] secret of stock-ledger: its message handler needs SATELLITE_STOCK_LEDGER_WEBHOOK_SECRET" in out

    env["SATELLITE_STOCK_LEDGER_WEBHOOK_SECRET"] = "s" * 40
    code, out = _doctor(capsys, env)
    assert code == 0 and "secret of" not in out
