"""Status changes: lifecycle rules, who/why history, reachability for live statuses."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from nexus_agent.registry import REACTIVATE_TO, TRANSITIONS, SqliteRegistry
from nexus_agent.wire.errors import Conflict, InvalidInput, NotFound
from nexus_agent.wire.models import AppRecord, AppStatus

MakeApp = Callable[..., AppRecord]  # the make_app fixture (tests/registry/conftest.py)

pytestmark = pytest.mark.anyio

REACHABLE = {"health_url": "https://site-survey.example.test/api/health"}


async def test_status_changes_are_recorded_with_who_and_why(registry: SqliteRegistry, make_app: MakeApp) -> None:
    await registry.register(make_app("site-survey", endpoints=REACHABLE), "owner")

    change = await registry.set_status("site-survey", AppStatus.pending, "owner", "build started")
    await registry.set_status("site-survey", "approved", "director", "signed off at the Monday meeting")
    await registry.set_status("site-survey", "active", "deployer", "deployed v1.0.0")

    assert (change.old_status, change.new_status, change.changed_by) == (
        AppStatus.placeholder,
        AppStatus.pending,
        "owner",
    )
    history = await registry.history("site-survey")
    assert [(h.old_status, h.new_status, h.changed_by, h.reason) for h in history] == [
        (None, AppStatus.placeholder, "owner", "registered"),
        (AppStatus.placeholder, AppStatus.pending, "owner", "build started"),
        (AppStatus.pending, AppStatus.approved, "director", "signed off at the Monday meeting"),
        (AppStatus.approved, AppStatus.active, "deployer", "deployed v1.0.0"),
    ]
    assert [h.changed_at for h in history] == sorted(h.changed_at for h in history)
    record = await registry.get("site-survey")
    assert record.status is AppStatus.active and record.updated_at == history[-1].changed_at


async def test_going_live_without_an_endpoint_is_a_conflict_that_says_what_is_missing(
    registry: SqliteRegistry, make_app: MakeApp
) -> None:
    await registry.register(make_app("quote-engine"), "owner")

    with pytest.raises(Conflict) as caught:
        await registry.set_status("quote-engine", "active", "owner", "deployed")

    assert "'quote-engine' cannot become active" in caught.value.message
    assert "endpoints.mcp_url" in caught.value.message
    assert caught.value.hint is not None and "endpoints" in caught.value.hint
    assert (await registry.get("quote-engine")).status is AppStatus.placeholder
    assert len(await registry.history("quote-engine")) == 1


async def test_retired_is_terminal_unless_explicitly_reactivated(registry: SqliteRegistry, make_app: MakeApp) -> None:
    await registry.register(make_app("portal-legacy"), "owner")
    await registry.set_status("portal-legacy", "retired", "owner", "replaced by customer-portal")

    with pytest.raises(Conflict) as caught:
        await registry.set_status("portal-legacy", "pending", "owner", "bring it back")
    assert "retired" in caught.value.message
    assert caught.value.hint is not None and "reactivate" in caught.value.hint
    with pytest.raises(Conflict):
        await registry.set_status("portal-legacy", "active", "owner", "bring it back", reactivate=True)

    change = await registry.set_status("portal-legacy", "placeholder", "owner", "planned again", reactivate=True)
    assert (change.old_status, change.new_status) == (AppStatus.retired, AppStatus.placeholder)


async def test_a_disallowed_move_names_the_allowed_ones(registry: SqliteRegistry, make_app: MakeApp) -> None:
    await registry.register(make_app("quote-engine", status="active"), "owner")

    with pytest.raises(Conflict) as caught:
        await registry.set_status("quote-engine", "placeholder", "owner", "oops")

    assert caught.value.message == "'quote-engine' cannot move from active to placeholder"
    assert caught.value.hint == "From active go to: degraded, suspended, retired."


async def test_setting_the_current_status_again_is_idempotent(registry: SqliteRegistry, make_app: MakeApp) -> None:
    await registry.register(make_app("quote-engine"), "owner")
    first = await registry.set_status("quote-engine", "pending", "owner", "build started")

    again = await registry.set_status("quote-engine", "pending", "someone-else", "retry")

    assert again == first
    assert len(await registry.history("quote-engine")) == 2


async def test_degraded_and_back_keeps_the_record_reachable(registry: SqliteRegistry, make_app: MakeApp) -> None:
    await registry.register(make_app("stock-ledger", status="active"), "owner")
    await registry.set_status("stock-ledger", "degraded", "health-monitor", "health check timed out")
    await registry.set_status("stock-ledger", "active", "health-monitor", "healthy again")
    assert [h.new_status for h in await registry.history("stock-ledger")] == [
        AppStatus.active,
        AppStatus.degraded,
        AppStatus.active,
    ]


@pytest.mark.parametrize(
    ("status", "actor", "reason", "message"),
    [
        ("live", "owner", "why", "'live' is not an app status"),
        ("pending", "", "why", "actor must be 1..200 characters"),
        ("pending", "owner", "   ", "reason must be 1..4000 characters"),
        ("pending", "owner", "x" * 4001, "reason must be 1..4000 characters"),
    ],
)
async def test_set_status_validates_its_arguments(
    registry: SqliteRegistry, make_app: MakeApp, status: str, actor: str, reason: str, message: str
) -> None:
    await registry.register(make_app("quote-engine"), "owner")
    with pytest.raises(InvalidInput, match=message):
        await registry.set_status("quote-engine", status, actor, reason)


async def test_set_status_of_an_unknown_app_is_not_found(registry: SqliteRegistry) -> None:
    with pytest.raises(NotFound):
        await registry.set_status("nope", "pending", "owner", "why")


async def test_count_by_status_lists_every_status(registry: SqliteRegistry, make_app: MakeApp) -> None:
    await registry.register(make_app("a-app"), "owner")
    await registry.register(make_app("b-app", status="pending"), "owner")
    assert await registry.count_by_status() == {
        "placeholder": 1,
        "pending": 1,
        "approved": 0,
        "active": 0,
        "degraded": 0,
        "suspended": 0,
        "retired": 0,
    }


def test_every_status_has_a_documented_way_out_except_retired() -> None:
    assert set(TRANSITIONS) == set(AppStatus)
    assert TRANSITIONS[AppStatus.retired] == frozenset()
    assert all(TRANSITIONS[s] for s in AppStatus if s is not AppStatus.retired)
    assert all(AppStatus.retired in TRANSITIONS[s] for s in AppStatus if s is not AppStatus.retired)
    assert AppStatus.active not in REACTIVATE_TO
