"""SqliteReplayGuard: claims survive a reopen, expire, can be released, and the guard is bounded."""

from __future__ import annotations

import pytest

from nexus_agent.wire.errors import ConfigError
from nexus_agent.wire.signing import ReplayGuard, WebhookRejected
from satellite_template import SqliteReplayGuard


@pytest.fixture
def guard(tmp_path):
    guard = SqliteReplayGuard(tmp_path / "replay.db", max_entries=3)
    yield guard
    guard.close()


def test_it_is_a_replay_guard(guard) -> None:
    assert isinstance(guard, ReplayGuard)


def test_a_claim_is_held_until_it_expires(guard) -> None:
    assert guard.claim("d1", now=100, expires_at=400)
    assert not guard.claim("d1", now=399, expires_at=700)
    assert guard.claim("d1", now=400, expires_at=700)


def test_a_released_claim_can_be_claimed_again(guard) -> None:
    assert guard.claim("d1", now=100, expires_at=400)
    guard.release("d1")
    assert guard.claim("d1", now=101, expires_at=400)


def test_claims_survive_reopening(tmp_path) -> None:
    first = SqliteReplayGuard(tmp_path / "replay.db")
    assert first.claim("d1", now=100, expires_at=400)
    first.close()
    second = SqliteReplayGuard(tmp_path / "replay.db")
    assert not second.claim("d1", now=200, expires_at=500)
    second.close()


def test_a_full_guard_fails_closed_until_entries_expire(guard) -> None:
    for n in range(3):
        assert guard.claim(f"d{n}", now=100, expires_at=400)
    with pytest.raises(WebhookRejected) as info:
        guard.claim("d3", now=100, expires_at=400)
    assert info.value.http_status == 503
    assert guard.claim("d3", now=400, expires_at=700)


def test_an_unusable_path_is_a_config_error(tmp_path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="SATELLITE_REPLAY_DB"):
        SqliteReplayGuard(tmp_path / "file" / "replay.db")
