"""The `nexus` command line, as a person and a script use it."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from nexus_agent import __version__
from nexus_agent.cli import main

APP = {
    "slug": "site-survey",
    "name": "Site Survey",
    "category": "operations",
    "capabilities": ["site surveys", "measurements"],
}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"NEXUS_HOME": str(tmp_path / "home"), "NEXUS_DB_SYNC": "normal"}


def run(capsys: pytest.CaptureFixture[str], env: dict[str, str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv), env=env)
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_register_list_show_set_status(tmp_path: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "site-survey.json"
    path.write_text(json.dumps(APP))
    code, out, _ = run(capsys, env, "registry", "register", str(path))
    assert code == 0 and "registered site-survey (placeholder)" in out
    code, out, _ = run(capsys, env, "registry", "list")
    assert code == 0
    assert "SLUG" in out and "site-survey" in out and "placeholder" in out
    code, out, _ = run(capsys, env, "registry", "list", "--json")
    assert json.loads(out)["items"][0]["slug"] == "site-survey"
    code, out, _ = run(capsys, env, "registry", "set-status", "site-survey", "pending", "--reason", "built")
    assert code == 0 and "placeholder -> pending" in out
    code, out, _ = run(capsys, env, "registry", "show", "site-survey")
    assert code == 0 and "Site Survey" in out and "pending" in out and "built" in out


def test_bad_registration_file_names_fields_and_exits_nonzero(
    tmp_path: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"slug": "Bad Slug", "name": "", "status": "live"}))
    code, _, err = run(capsys, env, "registry", "register", str(path))
    assert code == 2
    assert "slug" in err and "status" in err and "name" in err
    assert "Traceback" not in err


def test_html_saved_as_json_is_reported(
    tmp_path: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "vendor-api.json"
    path.write_text("<!DOCTYPE html><html><body>Vendor portal</body></html>")
    code, _, err = run(capsys, env, "registry", "register", str(path))
    assert code == 2 and "JSON" in err and "Traceback" not in err


def test_unknown_slug_and_empty_query(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, env, "registry", "show", "nope")
    assert code == 2 and "not_found" in err
    code, _, err = run(capsys, env, "memory", "search", "  ")
    assert code == 2 and "query" in err


def test_memory_remember_and_search(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, env, "memory", "remember", "Invoice 4411 disputed by Harrow Homes", "--tag", "invoices")
    assert code == 0 and "remembered note" in out
    code, out, _ = run(capsys, env, "memory", "search", "Harrow invoice", "--json")
    assert code == 0 and json.loads(out)["hits"][0]["kind"] == "note"


def test_gaps_command(tmp_path: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "app.json"
    path.write_text(json.dumps(APP))
    run(capsys, env, "registry", "register", str(path))
    code, out, _ = run(capsys, env, "gaps", "site survey", "payroll", "--json")
    assert code == 0
    report = json.loads(out)
    assert "payroll" in json.dumps(report["gaps"])
    code, out, _ = run(capsys, env, "gaps", "site survey", "payroll")
    assert code == 0 and "payroll" in out


def test_doctor_reports_parts(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, env, "doctor")
    assert code == 0
    assert "database" in out and "healthy" in out
    code, out, _ = run(capsys, env, "doctor", "--json")
    assert {c["name"] for c in json.loads(out)["checks"]} >= {"python", "database", "registry", "git"}


def test_not_a_nexus_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    foreign = tmp_path / "other.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    code, _, err = run(capsys, {"NEXUS_DB": str(foreign)}, "registry", "list")
    assert code == 1 and "not a Nexus" in err and "Traceback" not in err
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite at all" * 100)
    code, _, err = run(capsys, {"NEXUS_DB": str(garbage)}, "registry", "list")
    assert code == 1 and "not_a_nexus_database" in err
    code, out, _ = run(capsys, {"NEXUS_DB": str(foreign)}, "doctor")
    assert code == 3 and "FAIL" in out


def test_locked_database_gives_clear_error(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, env, "memory", "remember", "first")[0] == 0
    db_path = Path(env["NEXUS_HOME"]) / "nexus.db"
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        code, _, err = run(capsys, {**env, "NEXUS_BUSY_TIMEOUT_MS": "100"}, "memory", "remember", "second")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert code == 1 and "database_locked" in err and "Traceback" not in err


@pytest.mark.slow
def test_cli_subprocess_exit_codes(tmp_path: Path) -> None:
    env = {"NEXUS_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    bad = subprocess.run(
        [sys.executable, "-m", "nexus_agent", "registry", "show", "missing-app"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert bad.returncode == 2
    assert "not_found" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_a_reader_that_leaves_early_gets_no_traceback(tmp_path: Path) -> None:
    # `nexus registry list | head -1`: the pipe closes before Nexus has written
    env = {"NEXUS_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    argv = [sys.executable, "-m", "nexus_agent", "registry", "list"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 1
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


FIXTURE = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "legacy-portfolio"


@pytest.mark.skipif(not FIXTURE.is_dir(), reason=f"legacy portfolio fixture not found at {FIXTURE}")
def test_registry_import_of_the_legacy_portfolio(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, env, "registry", "import", str(FIXTURE))
    assert code == 0
    assert "merged into site-survey" in out and "code only, no registration" in out and "secret not copied" in out
    code, out, _ = run(capsys, env, "registry", "import", str(FIXTURE), "--json")
    assert code == 0
    outcomes = {a["folder"]: a["outcome"] for a in json.loads(out)["apps"]}
    assert outcomes["quote-engine"] == "unchanged" and outcomes["portal-legacy"] == "code_only"
    code, out, _ = run(capsys, env, "registry", "list")
    assert "glazing-scheduler" in out and "sitesurvey" not in out.replace("site-survey", "")
    # Imported apps reach the truth source too, and no plaintext secret from the portfolio does.
    from tests.portfolio.conftest import secret_values

    truth = Path(env["NEXUS_HOME"]) / "truth"
    assert (truth / "registry" / "apps" / "glazing-scheduler.json").is_file()
    secrets = secret_values(FIXTURE)
    assert secrets
    stored = [p.read_bytes() for p in truth.rglob("*") if p.is_file()]
    assert not any(s.encode() in blob for s in secrets for blob in stored)
    assert run(capsys, env, "registry", "sync")[0] == 0


def test_registering_writes_the_truth_source_and_sync_agrees(
    tmp_path: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "app.json"
    path.write_text(json.dumps(APP))
    assert run(capsys, env, "registry", "register", str(path))[0] == 0
    truth = Path(env["NEXUS_HOME"]) / "truth"
    stored = json.loads((truth / "registry" / "apps" / "site-survey.json").read_text())
    assert stored["name"] == "Site Survey"
    log = subprocess.run(["git", "-C", str(truth), "log", "--format=%s"], capture_output=True, text=True, check=True)
    assert "site-survey" in log.stdout
    code, out, _ = run(capsys, env, "registry", "sync")
    assert code == 0, out
    # A change made behind Nexus's back shows up as a difference, and push repairs it.
    (truth / "registry" / "apps" / "site-survey.json").write_text(json.dumps({**stored, "name": "Renamed"}))
    subprocess.run(
        ["git", "-C", str(truth), "commit", "-qam", "edit"],
        check=True,
        env={
            "PATH": "/usr/bin:/bin",
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@x",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@x",
        },
    )
    code, out, _ = run(capsys, env, "registry", "sync", "--json")
    assert code == 1 and json.loads(out)["differing"][0]["slug"] == "site-survey"
    assert run(capsys, env, "registry", "sync", "--direction", "push")[0] == 0
    assert run(capsys, env, "registry", "sync")[0] == 0


def test_errors_raised_inside_the_satellite_lifespan_are_still_clean(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, env, "plan", "show", "99")
    assert code == 2 and "not_found" in err and "Traceback" not in err and "ExceptionGroup" not in err


@pytest.mark.parametrize("address", ["127.0.0.1:99999", "127.0.0.1:0", "127.0.0.1:http", ":8765"])
def test_serve_refuses_an_address_it_cannot_bind_with_a_message(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], address: str
) -> None:
    code, _, err = run(capsys, env, "serve", "--http", address)
    assert code == 2 and "--http expects HOST:PORT with a port from 1 to 65535" in err and "Traceback" not in err


def test_serve_on_a_port_in_use_says_so_without_a_traceback(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = run(capsys, {**env, "NEXUS_BACKUP_DIR": "off"}, "serve", "--http", f"127.0.0.1:{port}")
    assert code == 1 and f"could not listen on 127.0.0.1:{port}" in err
    assert "Traceback" not in err and "SystemExit" not in err


def test_serve_http_runs_on_uvloop_unless_turned_off(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    """uvloop (where installed: not on Windows) serves HTTP by default; NEXUS_HTTP_UVLOOP=false keeps asyncio's loop."""
    pytest.importorskip("uvloop", reason="uvloop is not built for this platform; `pip install uvloop` where it is")
    seen = []
    for flag in ("true", "false"):
        with socket.socket() as taken:  # the line is printed before binding; a taken port then ends the run
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            overrides = {"NEXUS_BACKUP_DIR": "off", "NEXUS_HTTP_UVLOOP": flag}
            code, _, err = run(capsys, {**env, **overrides}, "serve", "--http", f"127.0.0.1:{port}")
        assert code == 1
        seen.append(err.split("event loop: ", 1)[1].split(")", 1)[0] if "event loop: " in err else err[-300:])
    assert seen == ["uvloop", "asyncio"]
