"""A replica's notices of app events: its own are announced once, other replicas' once, garbage never."""

from __future__ import annotations

import anyio
import pytest

from nexus_agent.events.app_event_notices import AppEventNotices, parse_notice

pytestmark = pytest.mark.anyio


async def test_an_event_recorded_here_is_not_announced_again_when_its_notice_comes_back() -> None:
    notices = AppEventNotices()
    notices.recorded("stock-ledger", 7)
    with anyio.fail_after(1):
        assert await notices.wait_changed() == {"stock-ledger"}
    notices.heard("stock-ledger 7")  # this replica's own NOTIFY
    notices.heard("yard-ledger 8")  # another replica's event
    with anyio.fail_after(1):
        assert await notices.wait_changed() == {"yard-ledger"}


async def test_only_the_newest_own_ids_are_kept_so_memory_stays_bounded() -> None:
    notices = AppEventNotices(kept=2)
    for event_id in (1, 2, 3):
        notices.recorded("stock-ledger", event_id)
    with anyio.fail_after(1):
        await notices.wait_changed()
    notices.heard("stock-ledger 1")  # forgotten, so announced (a repeat is harmless; a lost one is not)
    with anyio.fail_after(1):
        assert await notices.wait_changed() == {"stock-ledger"}


@pytest.mark.parametrize(
    "payload", ["", "stock-ledger", "stock-ledger x", "Stock 1", "../etc 1", "a 1 2", "a -1", "a " + "9" * 20]
)
def test_a_notice_that_is_not_a_slug_and_an_id_is_refused(payload: str) -> None:
    assert parse_notice(payload) is None


async def test_a_malformed_notice_wakes_nothing() -> None:
    notices = AppEventNotices()
    notices.heard("nexus://apps/x/events 1")
    notices.recorded("yard-ledger")
    with anyio.fail_after(1):
        assert await notices.wait_changed() == {"yard-ledger"}
