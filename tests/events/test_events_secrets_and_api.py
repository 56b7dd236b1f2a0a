"""Webhook secrets come from the environment or a secret file; the package says what is public."""

from __future__ import annotations

from pathlib import Path

import pytest

import nexus_agent.events as events
from nexus_agent.events import WebhookSecrets, default_secret_env
from nexus_agent.wire.errors import ConfigError
from nexus_agent.wire.models import AppRecord

VALUE = "a-long-webhook-secret-0123456789"


def app(slug: str, secret_env: str | None = None) -> AppRecord:
    return AppRecord(slug=slug, name=slug, endpoints={"webhook_secret_env": secret_env} if secret_env else {})


def test_the_secret_is_read_from_the_variable_the_registry_names() -> None:
    secrets = WebhookSecrets({"QUOTES_HOOK": VALUE}, [app("quote-engine", "QUOTES_HOOK")])
    assert secrets("quote-engine") == VALUE
    assert secrets.variable("quote-engine") == "QUOTES_HOOK"


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
    secrets = WebhookSecrets({"QUOTES_HOOK_FILE": str(path)}, [app("quote-engine", "QUOTES_HOOK")])
    assert secrets("quote-engine") == VALUE


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({}, "neither QUOTES_HOOK nor QUOTES_HOOK_FILE is set"),
        ({"QUOTES_HOOK": "short"}, "shorter than 16"),
        ({"QUOTES_HOOK": VALUE, "QUOTES_HOOK_FILE": "/x"}, "both QUOTES_HOOK and QUOTES_HOOK_FILE"),
        ({"QUOTES_HOOK_FILE": "/does/not/exist"}, "cannot read the secret file named by QUOTES_HOOK_FILE"),
    ],
)
def test_a_missing_or_bad_secret_is_a_config_error_naming_the_variable_not_the_value(env, says) -> None:
    with pytest.raises(ConfigError) as err:
        WebhookSecrets(env, [app("quote-engine", "QUOTES_HOOK")])("quote-engine")
    assert says in err.value.message and err.value.hint
    assert VALUE not in str(err.value)


def test_every_public_name_is_listed_and_importable() -> None:
    public = {name for name in dir(events) if not name.startswith("_")} - {
        "app_webhooks", "dispatcher", "github_webhooks", "lifespan", "models", "outbox", "schema", "store",
        "webhook_secrets",
    }  # fmt: skip
    assert set(events.__all__) == public
    for name in events.__all__:
        assert getattr(events, name) is not None
