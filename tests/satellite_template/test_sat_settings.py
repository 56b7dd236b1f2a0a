"""SatelliteSettings.from_env: secrets from the environment or files, never shown; bad values named."""

from __future__ import annotations

import pytest

from nexus_agent.wire.errors import ConfigError
from satellite_template import SatelliteSettings

TOKEN = "test-token-0123456789abcdef"
SECRET = "test-webhook-secret-0123456789"


def test_defaults_listen_on_loopback_without_secrets() -> None:
    settings = SatelliteSettings.from_env({})
    assert (settings.host, settings.port) == ("127.0.0.1", 8800)
    assert settings.tokens == () and settings.webhook_secret is None
    assert settings.base_url() == "http://127.0.0.1:8800"


def test_everything_comes_from_the_environment_and_secret_files(tmp_path) -> None:
    (tmp_path / "secret").write_text(f"# webhook secret\n{SECRET}\n")
    (tmp_path / "tokens").write_text(f"{TOKEN}\n# comment\n\n{TOKEN[::-1]}\n")
    (tmp_path / "nexus").write_text("nexus-token-0123456789\n")
    env = {
        "SATELLITE_HOST": "0.0.0.0",
        "SATELLITE_PORT": "9000",
        "SATELLITE_PUBLIC_URL": "https://quotes.sfg.example/",
        "SATELLITE_TOKENS": f" {TOKEN} , ",
        "SATELLITE_TOKEN_FILE": str(tmp_path / "tokens"),
        "SATELLITE_WEBHOOK_SECRET_FILE": str(tmp_path / "secret"),
        "SATELLITE_WEBHOOK_WINDOW_S": "60",
        "SATELLITE_REPLAY_DB": str(tmp_path / "replay.db"),
        "SATELLITE_ALLOWED_HOSTS": "quotes.sfg.example, quotes.internal:9000",
        "SATELLITE_LOG_LEVEL": "debug",
        "NEXUS_URL": "http://nexus.internal:8765/mcp",
        "SATELLITE_NEXUS_TOKEN_FILE": str(tmp_path / "nexus"),
    }
    settings = SatelliteSettings.from_env(env)
    assert settings.token_values() == [TOKEN, TOKEN, TOKEN[::-1]]
    assert settings.webhook_secret.get_secret_value() == SECRET
    assert settings.nexus_token.get_secret_value() == "nexus-token-0123456789"
    assert (settings.port, settings.webhook_window_s, settings.log_level) == (9000, 60, "DEBUG")
    assert settings.allowed_hosts == ("quotes.sfg.example", "quotes.internal:9000")
    assert settings.base_url() == "https://quotes.sfg.example"
    assert str(settings.nexus_url) == "http://nexus.internal:8765/mcp"
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert SECRET not in text and TOKEN not in text


def test_flags_override_the_environment() -> None:
    settings = SatelliteSettings.from_env({"SATELLITE_PORT": "9000"}, host="::1", port=9100)
    assert settings.base_url() == "http://[::1]:9100"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SATELLITE_TOKENS": "short"}, "shorter than 16"),
        ({"SATELLITE_WEBHOOK_SECRET": "short"}, "shorter than 16"),
        ({"SATELLITE_WEBHOOK_SECRET": SECRET, "SATELLITE_WEBHOOK_SECRET_FILE": "/x"}, "both"),
        ({"SATELLITE_WEBHOOK_SECRET_FILE": "/nonexistent/secret"}, "cannot read"),
        ({"SATELLITE_PORT": "eighty"}, "port"),
        ({"SATELLITE_PORT": "70000"}, "port"),
        ({"NEXUS_URL": "nexus"}, "nexus_url"),
    ],
)
def test_bad_configuration_is_a_config_error_naming_the_problem(env, message) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        SatelliteSettings.from_env(env)
    assert "short" not in info.value.message.replace("shorter", "")


def test_an_empty_secret_file_is_refused(tmp_path) -> None:
    (tmp_path / "secret").write_text("# nothing here\n")
    with pytest.raises(ConfigError, match="holds no secret"):
        SatelliteSettings.from_env({"SATELLITE_WEBHOOK_SECRET_FILE": str(tmp_path / "secret")})


def test_the_public_url_is_required_when_listening_on_every_interface() -> None:
    with pytest.raises(ConfigError, match="SATELLITE_PUBLIC_URL"):
        SatelliteSettings(host="0.0.0.0").base_url()


def test_mcp_without_tokens_is_refused_off_loopback(example) -> None:
    with pytest.raises(ConfigError, match="without bearer tokens"):
        example.sat.create_app(SatelliteSettings(host="0.0.0.0"))
    example.sat.create_app(SatelliteSettings(host="0.0.0.0", tokens=(TOKEN,)))
