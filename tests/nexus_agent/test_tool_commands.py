"""`nexus tools search`, and `nexus ask` reaching a legacy app for a plain question."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus_agent.cli import main
from nexus_agent.testing.fake_legacy_app import FakeLegacyApp

SECRET = "ledger-secret-0123456789abcdef"


@pytest.fixture
def app() -> Iterator[FakeLegacyApp]:
    with FakeLegacyApp("stock-ledger", SECRET) as fake:
        yield fake


@pytest.fixture
def env(tmp_path: Path, app: FakeLegacyApp) -> dict[str, str]:
    env = {
        "NEXUS_HOME": str(tmp_path / "home"),
        "NEXUS_DB_SYNC": "normal",
        "SATELLITE_STOCK_LEDGER_WEBHOOK_SECRET": SECRET,
    }
    record = tmp_path / "stock-ledger.json"
    record.write_text(app.record().model_dump_json())
    assert main(["registry", "register", str(record)], env=env) == 0
    return env


def run(capsys: pytest.CaptureFixture[str], env: dict[str, str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv), env=env)
    out, err = capsys.readouterr()
    return code, out, err


def test_tools_search_ranks_the_legacy_query_first_with_its_app(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    code, out, _ = run(capsys, env, "tools", "search", "how much stock is in the north yard", "--json", "--limit", "3")
    assert code == 0
    found = json.loads(out)
    first = found["tools"][0]
    assert (first["tool"], first["app"], first["read_only"]) == (
        "stock-ledger__query_stock_level",
        "stock-ledger",
        True,
    )
    assert first["score"] > 0 and "yard" in first["matched"]
    assert len(found["tools"]) == 3 and found["catalogue_size"] > 3
    reserve = next(t for t in found["tools"] if t["tool"] == "stock-ledger__action_reserve_stock")
    assert reserve["needs_approval"] is True


def test_tools_search_prints_a_table_and_refuses_a_bad_limit(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    code, out, _ = run(capsys, env, "tools", "search", "reserve stock for an order")
    assert code == 0
    assert "stock-ledger__action_reserve_stock" in out.splitlines()[3]  # title, header, rule, then rank 1
    assert "side effect, asks first" in out
    code, _, err = run(capsys, env, "tools", "search", "stock", "--limit", "0")
    assert code == 2 and "--limit must be 1..100" in err


def test_ask_answers_a_plain_question_from_the_legacy_app(
    env: dict[str, str], app: FakeLegacyApp, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    code, out, _ = run(capsys, env, "ask", "How much EXT-6063-50x50 stock is in the north yard?")
    assert code == 0, out
    assert "stock-ledger__query_stock_level" in out and '"qty": 42' in out
    assert [m.type for m in app.messages] == ["query.stock_level"] and app.messages[0].signed_ok


def test_ask_the_readme_question_for_a_yard_the_app_lists_reaches_that_yard(
    env: dict[str, str], app: FakeLegacyApp, capsys: pytest.CaptureFixture[str]
) -> None:
    # README's own example, without the word 'stock', and for the yard that is not the app's default
    capsys.readouterr()
    code, out, _ = run(capsys, env, "ask", "How much EXT-6063-50x50 is in the south yard?")
    assert code == 0, out
    assert '"yard": "south"' in out and '"qty": 7' in out
    assert [(m.type, m.params.get("yard")) for m in app.messages] == [("query.stock_level", "south")]
