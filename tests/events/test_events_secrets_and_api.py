"""Webhook secrets come from the environment or a secret file; the package says what is public."""

from __future__ import annotations

from pathlib import Path

import pytest

import nexus_agent.events as events
from nexus_agent.events import WebhookSecrets, default_secret_env
from nexus_agent.wire.errors import ConfigError
from nexus_agent.wire.models import AppRecord
from nexus_agent.wire.secret_env import SatelliteSecrets

VALUE = "a-long-webhook-secret-0123456789"


def app(slug: str, secret_env: str | None = None) -> AppRecord:
    return AppRecord(slug=slug, name=slug, endpoints={"webhook_secret_env": secret_env} if secret_env else {})


def test_the_secret_is_read_from_the_variable_the_registry_names() -> None:
    secrets = WebhookSecrets({"SATELLITE_QE_HOOK": VALUE}, [app("qe", "SATELLITE_QE_HOOK")])
    assert secrets("qe") == VALUE
    assert secrets.variable("qe") == "SATELLITE_QE_HOOK"


def test_an_app_naming_no_variable_uses_the_default_name() -> None:
    assert default_secret_env("quote-engine") == "SATELLITE_QUOTE_ENGINE_WEBHOOK_SECRET"
    secrets = WebhookSecrets({"SATELLITE_QUOTE_ENGINE_WEBHOOK_SECRET": VALUE}, [app("quote-engine")])
    assert secrets("quote-engine") == VALUE
    with pytest.raises(ConfigError) as err:  # an unknown slug still gets the default name
        secrets("not-registered-yet")
    assert "SATELLITE_NOT_REGISTERED_YET_WEBHOOK_SECRET" in err.value.message


def test_the_secret_can_come_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "hook.secret"
    path.write_text(f"# quote-engine webhook secret\n\n{VALUE}\n")
    secrets = WebhookSecrets({"SATELLITE_QE_HOOK_FILE": str(path)}, [app("qe", "SATELLITE_QE_HOOK")])
    assert secrets("qe") == VALUE


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({}, "neither SATELLITE_QE_HOOK nor SATELLITE_QE_HOOK_FILE is set"),
        ({"SATELLITE_QE_HOOK": "short"}, "shorter than 16"),
        (
            {"SATELLITE_QE_HOOK": VALUE, "SATELLITE_QE_HOOK_FILE": "/x"},
            "both SATELLITE_QE_HOOK and SATELLITE_QE_HOOK_FILE",
        ),
        ({"SATELLITE_QE_HOOK_FILE": "/does/not/exist"}, "cannot read the secret file named by SATELLITE_QE_HOOK_FILE"),
    ],
)
def test_a_missing_or_bad_secret_is_a_config_error_naming_the_variable_not_the_value(env, says) -> None:
    with pytest.raises(ConfigError) as err:
        WebhookSecrets(env, [app("qe", "SATELLITE_QE_HOOK")])("qe")
    assert says in err.value.message and err.value.hint
    assert VALUE not in str(err.value)


def test_a_variable_that_is_not_the_apps_own_is_never_read() -> None:
    env = {"NEXUS_GITHUB_WEBHOOK_SECRET": VALUE, "SATELLITE_OTHER_WEBHOOK_SECRET": VALUE}
    for name in env:
        with pytest.raises(ConfigError) as err:
            WebhookSecrets(env, [app("qe", name), app("other")])("qe")
        assert name in err.value.message and "NEXUS_SECRET_ENV_ALLOW" in (err.value.hint or "")
        assert VALUE not in str(err.value)


def test_an_allow_listed_variable_may_be_named_by_any_app() -> None:
    env = SatelliteSecrets({"SHARED_HOOK_SECRET": VALUE, "HOME": "/root"}, allow=["SHARED_HOOK_SECRET"])
    assert "HOME" not in env
    assert WebhookSecrets(env, [app("qe", "SHARED_HOOK_SECRET")])("qe") == VALUE


def test_every_public_name_is_listed_and_importable() -> None:
    public = {name for name in dir(events) if not name.startswith("_")} - {
        "app_event_notices", "app_webhooks", "dispatcher", "github_webhooks", "lifespan", "models", "outbox", "schema",
        "store", "webhook_secrets",
    }  # fmt: skip
    assert set(events.__all__) == public
    for name in events.__all__:
        assert getattr(events, name) is not None
