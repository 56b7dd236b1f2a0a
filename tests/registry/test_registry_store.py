"""SqliteRegistry: register, update, get, list (each filter), pagination, reopen."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from memory.database import Database
from nexus_agent.registry import REGISTRY_MIGRATIONS, AppFilter, Registry, SqliteRegistry
from nexus_agent.wire.errors import Conflict, InvalidInput, NotFound
from nexus_agent.wire.models import AppRecord, AppStatus

MakeApp = Callable[..., AppRecord]  # the make_app fixture (tests/registry/conftest.py)

pytestmark = pytest.mark.anyio


async def _seed(registry: SqliteRegistry, make_app: MakeApp) -> None:
    apps = [
        make_app(
            "quote-engine",
            name="Quote Engine",
            category="Sales",
            status="active",
            description="Prices aluminium windows and doors and renders PDF quotes.",
            capabilities=["Quote generation", "Customer tier discounts", "PDF quote rendering"],
            tags=["estimating"],
        ),
        make_app(
            "glazing-scheduler",
            category="SCHEDULING",
            description="Plans fabrication and installation slots for glazing jobs.",
            capabilities=["Fabrication slot planning", "Installation crew rostering"],
            workflows=[{"name": "Roster installation", "steps": ["Check crew availability", "Book van"]}],
        ),
        make_app("site-survey", category="operations", status="pending", capabilities=["Book site surveys"]),
        make_app("stock-ledger", category="inventory", capabilities=["Stock levels per yard", "Low-stock alerts"]),
        make_app("invoice-hub", category="finance", capabilities=[{"name": "Invoicing", "description": "Xero sync"}]),
    ]
    for app in apps:
        await registry.register(app, actor="owner")


async def test_sqlite_registry_satisfies_the_registry_protocol(registry: SqliteRegistry) -> None:
    backend: Registry = registry
    assert await backend.count_by_status() == {s.value: 0 for s in AppStatus}


async def test_register_creates_a_placeholder_with_timestamps_and_a_history_entry(
    registry: SqliteRegistry, make_app: MakeApp
) -> None:
    result = await registry.register(make_app("quote-engine", capabilities=["Quote generation"]), actor="owner")

    assert result.action == "created" and result.created
    assert result.app.status is AppStatus.placeholder
    assert result.app.created_at == result.app.updated_at is not None
    assert {"slug", "name", "status", "capabilities"} <= set(result.changed_fields)
    assert result.status_change is not None
    assert (result.status_change.old_status, result.status_change.new_status) == (None, AppStatus.placeholder)
    assert await registry.get("quote-engine") == result.app


async def test_register_again_updates_keeps_created_at_and_reports_the_diff(
    registry: SqliteRegistry, make_app: MakeApp
) -> None:
    first = await registry.register(make_app("quote-engine", version="1.0.0", capabilities=["Quotes"]), "owner")
    second = await registry.register(
        make_app("quote-engine", version="2.0.0", capabilities=["Quotes", "PDF rendering"]), "ci", reason="release"
    )

    assert second.action == "updated"
    assert second.changed_fields == ["version", "capabilities"]
    assert second.changes["version"].old == "1.0.0" and second.changes["version"].new == "2.0.0"
    assert second.status_change is None
    assert second.app.created_at == first.app.created_at
    assert second.app.updated_at is not None and first.app.updated_at is not None
    assert second.app.updated_at > first.app.updated_at
    assert len(await registry.history("quote-engine")) == 1  # no status change, no history entry


async def test_registering_the_same_record_twice_changes_nothing(registry: SqliteRegistry, make_app: MakeApp) -> None:
    first = await registry.register(make_app("quote-engine"), "owner")
    again = await registry.register(make_app("quote-engine"), "owner")

    assert again.action == "unchanged"
    assert again.changed_fields == [] and again.app == first.app


async def test_reregistration_without_a_status_keeps_the_current_status(
    registry: SqliteRegistry, make_app: MakeApp
) -> None:
    await registry.register(make_app("quote-engine", status="active"), "owner")
    endpoints = {"mcp_url": "http://quote-engine.example.test/mcp"}
    updated = await registry.register(make_app("quote-engine", endpoints=endpoints, version="2.1.0"), "ci")

    assert updated.app.status is AppStatus.active
    assert updated.changed_fields == ["version"]
    with pytest.raises(InvalidInput, match=r"registration of 'quote-engine' is invalid.*\n  - endpoints: .*active"):
        await registry.register(make_app("quote-engine"), "ci")  # an active app cannot lose its endpoints


async def test_reregistration_cannot_change_the_status_of_an_app_past_pending(
    registry: SqliteRegistry, make_app: MakeApp
) -> None:
    await registry.register(make_app("quote-engine", status="active"), "owner")
    await registry.set_status("quote-engine", "suspended", "owner", "pricing bug")
    endpoints = {"mcp_url": "http://quote-engine.example.test/mcp"}

    for status in ("pending", "active"):  # a satellite announcing itself cannot demote or un-suspend itself
        result = await registry.register(
            make_app("quote-engine", status=status, endpoints=endpoints, version="2.0.0"), "satellite:quote-engine"
        )
        assert result.app.status is AppStatus.suspended and result.status_change is None
        assert result.notes == [
            f"status '{status}' was not applied: 'quote-engine' is suspended; "
            "past pending, only set_status changes an app's status"
        ]
    assert [h.new_status for h in await registry.history("quote-engine")] == [AppStatus.active, AppStatus.suspended]
    assert (await registry.get("quote-engine")).version == "2.0.0"  # the rest of the registration is applied


async def test_reregistration_of_a_planned_app_with_a_disallowed_status_is_a_conflict(
    registry: SqliteRegistry, make_app: MakeApp
) -> None:
    await registry.register(make_app("site-survey", status="pending"), "owner")

    with pytest.raises(Conflict, match="cannot move from pending to degraded"):
        await registry.register(make_app("site-survey", status="degraded"), "owner")
    assert (await registry.get("site-survey")).status is AppStatus.pending


async def test_reregistration_that_changes_status_is_recorded_with_who_and_why(
    registry: SqliteRegistry, make_app: MakeApp
) -> None:
    await registry.register(make_app("site-survey"), "owner")
    result = await registry.register(make_app("site-survey", status="pending"), "satellite:site-survey", "built")

    assert result.status_change is not None
    history = await registry.history("site-survey")
    assert [(h.old_status, h.new_status, h.changed_by, h.reason) for h in history] == [
        (None, AppStatus.placeholder, "owner", "registered"),
        (AppStatus.placeholder, AppStatus.pending, "satellite:site-survey", "built"),
    ]


async def test_register_needs_an_actor(registry: SqliteRegistry, make_app: MakeApp) -> None:
    with pytest.raises(InvalidInput, match="actor"):
        await registry.register(make_app("quote-engine"), actor="  ")


async def test_unknown_slug_is_not_found_with_close_suggestions(registry: SqliteRegistry, make_app: MakeApp) -> None:
    await registry.register(make_app("site-survey"), "owner")
    await registry.register(make_app("sitesurvey"), "owner")
    await registry.register(make_app("quote-engine"), "owner")

    with pytest.raises(NotFound) as caught:
        await registry.get("site-surveys")
    assert "'site-surveys'" in caught.value.message
    assert caught.value.hint is not None
    assert "'site-survey'" in caught.value.hint and "'sitesurvey'" in caught.value.hint
    assert "quote-engine" not in caught.value.hint

    with pytest.raises(NotFound) as caught:
        await registry.get("Quote Engine")
    assert caught.value.hint == "Did you mean 'quote-engine'?"


async def test_unknown_slug_with_nothing_close_says_how_to_find_it(registry: SqliteRegistry, make_app: MakeApp) -> None:
    await registry.register(make_app("quote-engine"), "owner")
    with pytest.raises(NotFound) as caught:
        await registry.history("payroll")
    assert caught.value.hint is not None and "list the apps" in caught.value.hint


async def test_list_without_filters_returns_everything_sorted_by_slug(
    registry: SqliteRegistry, make_app: MakeApp
) -> None:
    await _seed(registry, make_app)
    page = await registry.list()

    assert [a.slug for a in page.items] == [
        "glazing-scheduler",
        "invoice-hub",
        "quote-engine",
        "site-survey",
        "stock-ledger",
    ]
    assert page.total == 5 and page.next_offset is None
    assert page.status_counts["placeholder"] == 3 and page.status_counts["active"] == 1


async def test_list_filters_by_one_or_several_statuses(registry: SqliteRegistry, make_app: MakeApp) -> None:
    await _seed(registry, make_app)

    active = await registry.list(AppFilter(status="active"))
    live_or_pending = await registry.list(AppFilter(status=["active", "pending"]))

    assert [a.slug for a in active.items] == ["quote-engine"] and active.total == 1
    assert [a.slug for a in live_or_pending.items] == ["quote-engine", "site-survey"]
    # facet counts ignore the status filter so a client can show every status next to the page
    assert active.status_counts == {**{s.value: 0 for s in AppStatus}, "placeholder": 3, "pending": 1, "active": 1}


async def test_list_filters_by_category_ignoring_case(registry: SqliteRegistry, make_app: MakeApp) -> None:
    await _seed(registry, make_app)
    page = await registry.list(AppFilter(category="scheduling"))
    assert [a.slug for a in page.items] == ["glazing-scheduler"]


@pytest.mark.parametrize(
    ("capability", "expected"),
    [
        ("quote", ["quote-engine"]),
        ("Quotes", ["quote-engine"]),
        ("crew roster", ["glazing-scheduler"]),
        ("INVOICING", ["invoice-hub"]),
        ("stock", ["stock-ledger"]),
        ("payroll", []),
        ("xero", []),  # capability names only, not their descriptions
    ],
)
async def test_list_filters_by_capability_words(
    registry: SqliteRegistry, make_app: MakeApp, capability: str, expected: list[str]
) -> None:
    await _seed(registry, make_app)
    page = await registry.list(AppFilter(capability=capability))
    assert [a.slug for a in page.items] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("aluminium windows", ["quote-engine"]),  # description
        ("surveys", ["site-survey"]),  # capability, stemmed
        ("van", ["glazing-scheduler"]),  # workflow step
        ("estimating", ["quote-engine"]),  # tag
        ("xero", ["invoice-hub"]),  # capability description
        ("instal", ["glazing-scheduler"]),  # word prefix
        ("quote payroll", []),  # every word must match
        ('"quote" -(*', ["quote-engine"]),  # FTS syntax characters are ignored, not parsed
    ],
)
async def test_list_filters_by_full_text(
    registry: SqliteRegistry, make_app: MakeApp, text: str, expected: list[str]
) -> None:
    await _seed(registry, make_app)
    page = await registry.list(AppFilter(text=text))
    assert [a.slug for a in page.items] == expected


async def test_list_combines_filters(registry: SqliteRegistry, make_app: MakeApp) -> None:
    await _seed(registry, make_app)
    page = await registry.list(AppFilter(status=["placeholder"], text="installation", capability="planning"))
    assert [a.slug for a in page.items] == ["glazing-scheduler"]
    assert (await registry.list(AppFilter(status="active", text="installation"))).total == 0


async def test_text_or_capability_filter_without_words_is_invalid(registry: SqliteRegistry) -> None:
    with pytest.raises(InvalidInput, match="text filter has no letters or digits"):
        await registry.list(AppFilter(text="*** ()"))
    with pytest.raises(InvalidInput, match="capability filter"):
        await registry.list(AppFilter(capability="--"))


def test_app_filter_bounds() -> None:
    assert AppFilter().limit == 100 and AppFilter(limit=500).limit == 500
    assert AppFilter(text="  ", category="").text is None
    for bad in ({"limit": 0}, {"limit": 501}, {"offset": -1}, {"status": ["live"]}, {"colour": "red"}):
        with pytest.raises(ValidationError):
            AppFilter.model_validate(bad)


async def test_pagination_visits_every_app_once(registry: SqliteRegistry, make_app: MakeApp) -> None:
    for i in range(23):
        await registry.register(make_app(f"app-{i:02d}"), "owner")

    seen: list[str] = []
    offset: int | None = 0
    pages = 0
    while offset is not None:
        page = await registry.list(AppFilter(limit=10, offset=offset))
        assert page.total == 23 and page.limit == 10
        seen += [a.slug for a in page.items]
        offset = page.next_offset
        pages += 1

    assert pages == 3
    assert seen == [f"app-{i:02d}" for i in range(23)]
    assert (await registry.list(AppFilter(offset=100))).items == []


async def test_a_51_app_portfolio_of_one_active_and_fifty_placeholders(
    registry: SqliteRegistry, make_app: MakeApp
) -> None:
    areas = ["quotes", "enquiries", "glazing", "fabrication", "installation", "surveys", "stock", "invoicing"]
    await registry.register(make_app("quote-engine", status="active", capabilities=["Quote generation"]), "owner")
    for i in range(50):
        area = areas[i % len(areas)]
        app = make_app(f"{area}-{i:02d}", category=area, capabilities=[f"{area.title()} tool {i}"])
        await registry.register(app, "importer", reason="portfolio import")

    counts = await registry.count_by_status()
    assert counts["active"] == 1 and counts["placeholder"] == 50 and sum(counts.values()) == 51

    page = await registry.list(AppFilter(status="placeholder", limit=500))
    assert page.total == 50 and len(page.items) == 50 and page.next_offset is None
    assert page.status_counts["active"] == 1

    glazing = await registry.list(AppFilter(category="glazing"))
    assert glazing.total == 6 and all(a.status is AppStatus.placeholder for a in glazing.items)
    assert len(await registry.all()) == 51


async def test_registry_survives_reopening_the_database(db_path: Path, make_app: MakeApp) -> None:
    first = Database(db_path, sync="normal")
    first.migrate([REGISTRY_MIGRATIONS])
    registry = SqliteRegistry(first)
    await registry.register(make_app("quote-engine", capabilities=["Quote generation"]), "owner")
    await registry.set_status("quote-engine", "pending", "owner", "build started")
    first.close()

    again = Database(db_path, sync="normal")
    try:
        again.migrate([REGISTRY_MIGRATIONS])  # already applied: a no-op
        assert again.pending_migrations([REGISTRY_MIGRATIONS]) == []
        reopened = SqliteRegistry(again)
        record = await reopened.get("quote-engine")
        assert record.status is AppStatus.pending and record.capability_names() == ["Quote generation"]
        assert [h.reason for h in await reopened.history("quote-engine")] == ["registered", "build started"]
        assert [a.slug for a in (await reopened.list(AppFilter(text="quote"))).items] == ["quote-engine"]
    finally:
        again.close()


async def test_writes_are_committed_when_the_call_returns(
    registry: SqliteRegistry, db_path: Path, make_app: MakeApp
) -> None:
    await registry.register(make_app("quote-engine"), "owner")
    with Database(db_path, sync="normal") as other:  # a second connection, as another process would have
        assert await SqliteRegistry(other).get("quote-engine")
