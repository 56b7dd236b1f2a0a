"""run_cli: the satellite's serve / register / record commands."""

from __future__ import annotations

import json

import pytest

from nexus_agent.wire.errors import ConfigError
from satellite_template import run_cli
from satellite_template.cli import parse_host_port


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1:8800", ("127.0.0.1", 8800)), ("[::1]:9000", ("::1", 9000)), ("quotes:1", ("quotes", 1))],
)
def test_host_port_is_parsed(text, expected) -> None:
    assert parse_host_port(text) == expected


@pytest.mark.parametrize("text", ["8800", "host:", ":8800", "host:port", "host:70000"])
def test_a_bad_host_port_is_a_config_error(text) -> None:
    with pytest.raises(ConfigError):
        parse_host_port(text)


def test_record_prints_the_registration(example, capsys) -> None:
    code = run_cli(example.sat, ["record", "--base-url", "http://quotes.internal:8800"], env={})
    assert code == 0
    record = json.loads(capsys.readouterr().out)
    assert record["endpoints"]["mcp_url"] == "http://quotes.internal:8800/mcp"


def test_register_without_nexus_settings_exits_2_with_a_hint(example, capsys) -> None:
    code = run_cli(example.sat, ["register"], env={})
    assert code == 2
    assert "NEXUS_URL and NEXUS_TOKEN" in capsys.readouterr().err


def test_serve_refuses_an_open_mcp_endpoint_off_loopback(example, capsys) -> None:
    assert run_cli(example.sat, ["serve", "--http", "0.0.0.0:8800"], env={}) == 2
    assert "without bearer tokens" in capsys.readouterr().err


def test_a_secret_never_reaches_the_error_output(example, capsys) -> None:
    env = {"SATELLITE_WEBHOOK_SECRET": "tooshort-secret"}
    assert run_cli(example.sat, ["record"], env=env) == 2
    assert "tooshort-secret" not in capsys.readouterr().err
