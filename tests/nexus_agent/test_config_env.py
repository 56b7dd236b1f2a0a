"""Settings from the environment: a mistyped yes/no or an out-of-range number is an error naming the variable."""

from __future__ import annotations

import pytest

from nexus_agent.config import Settings
from nexus_agent.wire.errors import ConfigError


@pytest.mark.parametrize(
    "var", ["NEXUS_HTTP_STATELESS", "NEXUS_OUTBOUND_ALLOW_PRIVATE", "NEXUS_REGISTRATION_AUTO_APPROVE"]
)
def test_a_yes_no_setting_that_is_neither_is_refused_not_quietly_off(var: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.load({"NEXUS_HOME": "/tmp/nexus-config-test", var: "ture"})
    assert f"{var} is 'ture', which is neither true nor false" in raised.value.message
    assert "true or false" in (raised.value.hint or "")


def test_yes_no_spellings_people_use_work() -> None:
    on = Settings.load({"NEXUS_HTTP_STATELESS": "Yes", "NEXUS_REGISTRATION_AUTO_APPROVE": "on"})
    off = Settings.load({"NEXUS_OUTBOUND_ALLOW_LOOPBACK": "OFF", "NEXUS_GATEWAY_FASTPATH": "0"})
    assert on.http_stateless and on.registration_auto_approve
    assert not off.outbound_allow_loopback and not off.gateway_fastpath


def test_an_out_of_range_number_names_its_variable_and_the_value_given() -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.load({"NEXUS_OUTBOX_LEASE_S": "2", "NEXUS_FANOUT_CONCURRENCY": "lots"})
    message = raised.value.message
    assert "NEXUS_OUTBOX_LEASE_S: Input should be greater than or equal to 4 (got '2')" in message
    assert "NEXUS_FANOUT_CONCURRENCY:" in message and "(got 'lots')" in message
    assert "errors.pydantic.dev" not in message
