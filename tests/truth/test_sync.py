"""`reconcile`: the SQLite registry and registry/apps/*.json, on both truth source implementations."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from nexus_agent.registry import SqliteRegistry
from nexus_agent.truth import TruthLayout, TruthSource, push_app, reconcile, render_app
from nexus_agent.wire.errors import InvalidInput
from nexus_agent.wire.models import AppFilter, AppRecord
from tests.truth.support import MakeApp

pytestmark = pytest.mark.anyio


async def _seed(registry: SqliteRegistry, truth: TruthSource, make_app: MakeApp) -> None:
    """SQLite: alpha, beta (v1). Truth: beta (v2), gamma."""
    await registry.register(make_app("alpha", category="sales"), "owner")
    await registry.register(make_app("beta", version="1.0.0"), "owner")
    files = {
        TruthLayout.app("beta"): render_app(make_app("beta", version="2.0.0", tags=["x"])),
        TruthLayout.app("gamma"): render_app(make_app("gamma", status="pending")),
    }
    await truth.write_many(files, "Seed the truth source")


async def _slugs(registry: SqliteRegistry) -> list[str]:
    return [app.slug for app in await registry.all()]


async def test_report_lists_one_sided_and_differing_apps_and_changes_nothing(
    registry: SqliteRegistry, truth: TruthSource, make_app: MakeApp
) -> None:
    await _seed(registry, truth, make_app)
    before = await truth.history()
    report = await reconcile(registry, truth, direction="report", actor="owner")
    assert report.only_in_registry == ["alpha"]
    assert report.only_in_truth == ["gamma"]
    assert [d.slug for d in report.differing] == ["beta"]
    fields = report.differing[0].fields
    assert set(fields) == {"version", "tags"}
    assert (fields["version"].registry, fields["version"].truth) == ("1.0.0", "2.0.0")
    assert not report.in_sync and report.commit is None and not report.pushed and not report.pulled
    assert await truth.history() == before
    assert await _slugs(registry) == ["alpha", "beta"]
    assert "only in SQLite (1): alpha" in report.summary()


async def test_push_writes_missing_and_different_apps_in_one_commit_and_a_rerun_does_nothing(
    registry: SqliteRegistry, truth: TruthSource, make_app: MakeApp
) -> None:
    await _seed(registry, truth, make_app)
    before = len(await truth.history(limit=50))
    report = await reconcile(registry, truth, direction="push", actor="owner")
    assert report.pushed == ["alpha", "beta"]
    assert report.commit is not None
    assert report.commit.summary == "Sync the registry from Nexus: add alpha; update beta"
    assert "Requested by owner." in report.commit.message
    assert len(await truth.history(limit=50)) == before + 1
    assert await truth.read(TruthLayout.app("beta")) == render_app(await registry.get("beta"))

    again = await reconcile(registry, truth, direction="push", actor="owner")
    assert again.only_in_truth == ["gamma"]  # push never deletes what only the truth source has
    assert not again.differing and not again.only_in_registry and again.commit is None
    assert len(await truth.history(limit=50)) == before + 1


async def test_registry_files_are_sorted_pretty_json_without_timestamps(
    registry: SqliteRegistry, truth: TruthSource, make_app: MakeApp
) -> None:
    await registry.register(make_app("alpha", capabilities=["quotes"], status="active"), "owner")
    await reconcile(registry, truth, direction="push", actor="owner")
    raw = (await truth.read("registry/apps/alpha.json")).decode()
    data = json.loads(raw)
    assert raw.endswith("}\n") and raw.startswith('{\n  "')
    assert list(data) == sorted(data)
    assert "created_at" not in data and "updated_at" not in data
    assert AppRecord.model_validate(data) == (await registry.get("alpha")).model_copy(
        update={"created_at": None, "updated_at": None}
    )


async def test_pull_registers_missing_and_different_apps_and_a_rerun_does_nothing(
    registry: SqliteRegistry, truth: TruthSource, make_app: MakeApp
) -> None:
    await _seed(registry, truth, make_app)
    before = await truth.history()
    report = await reconcile(registry, truth, direction="pull", actor="sync-bot")
    assert report.pulled == ["beta", "gamma"] and not report.problems
    assert (await registry.get("beta")).version == "2.0.0"
    gamma = await registry.get("gamma")
    assert gamma.status == "pending"
    assert (await registry.history("gamma"))[-1].changed_by == "sync-bot"
    assert await truth.history() == before

    again = await reconcile(registry, truth, direction="pull", actor="sync-bot")
    assert again.only_in_registry == ["alpha"] and not again.differing and not again.pulled


async def test_both_copies_each_way_and_the_newer_side_wins(
    registry: SqliteRegistry, truth: TruthSource, make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _seed(registry, truth, make_app)
    # beta: the truth file was committed just now, after SQLite's last change (set in the past)
    # delta: SQLite changed after the file was committed (its clock set in the future)
    clock = {"now": datetime(2020, 1, 1, tzinfo=UTC)}
    monkeypatch.setattr(registry, "_clock", lambda: clock["now"])
    await registry.register(make_app("beta", version="1.5.0"), "owner")
    await truth.write(TruthLayout.app("delta"), render_app(make_app("delta", description="old")), "delta v1")
    clock["now"] = datetime(2100, 1, 1, tzinfo=UTC)
    await registry.register(make_app("delta", description="new"), "owner")

    report = await reconcile(registry, truth, direction="both", actor="owner")
    winners = {d.slug: d.winner for d in report.differing}
    assert winners == {"beta": "truth", "delta": "registry"}
    assert report.pushed == ["alpha", "delta"] and report.pulled == ["beta", "gamma"]
    assert (await registry.get("beta")).version == "2.0.0"
    assert json.loads(await truth.read(TruthLayout.app("delta")))["description"] == "new"

    again = await reconcile(registry, truth, direction="both", actor="owner")
    assert again.in_sync and again.commit is None and not again.pulled
    assert "in sync" in again.summary()


async def test_invalid_truth_files_are_reported_and_a_push_repairs_known_apps(
    registry: SqliteRegistry, truth: TruthSource, make_app: MakeApp
) -> None:
    await registry.register(make_app("alpha"), "owner")
    await truth.write_many(
        {
            "registry/apps/alpha.json": b"not json",
            "registry/apps/Not A Slug.json": b"{}",
            "registry/apps/beta.json": render_app(make_app("gamma")),
            "registry/apps/notes.md": b"ignored: not JSON by name",
        },
        "Hand edits",
    )
    report = await reconcile(registry, truth, direction="push", actor="owner")
    problems = {bad.path: bad.problem for bad in report.invalid_in_truth}
    assert set(problems) == {"registry/apps/alpha.json", "registry/apps/Not A Slug.json", "registry/apps/beta.json"}
    assert "not JSON" in problems["registry/apps/alpha.json"]
    assert "names slug 'gamma'" in problems["registry/apps/beta.json"]
    assert report.pushed == ["alpha"]
    assert await truth.read("registry/apps/alpha.json") == render_app(await registry.get("alpha"))
    again = await reconcile(registry, truth, direction="report", actor="owner")
    assert [bad.path for bad in again.invalid_in_truth] == ["registry/apps/Not A Slug.json", "registry/apps/beta.json"]


async def test_a_status_move_the_lifecycle_refuses_is_reported_not_forced(
    registry: SqliteRegistry, truth: TruthSource, make_app: MakeApp
) -> None:
    await registry.register(make_app("alpha", status="active"), "owner")
    await truth.write(TruthLayout.app("alpha"), render_app(make_app("alpha", status="pending")), "demote alpha")
    report = await reconcile(registry, truth, direction="pull", actor="owner")
    assert report.pulled == [] and len(report.problems) == 1
    assert report.problems[0].startswith("alpha: ") and "pending" in report.problems[0]
    assert (await registry.get("alpha")).status == "active"
    assert "not applied: alpha" in report.summary()


async def test_push_app_writes_one_registry_file_once(
    registry: SqliteRegistry, truth: TruthSource, make_app: MakeApp
) -> None:
    result = await registry.register(make_app("alpha"), "owner")
    commit = await push_app(truth, result.app, actor="owner", reason="registered")
    assert commit is not None and commit.summary == "Update alpha (status placeholder): registered"
    assert await push_app(truth, result.app, actor="owner") is None
    report = await reconcile(registry, truth, direction="report")
    assert report.in_sync


async def test_an_unknown_direction_is_invalid(registry: SqliteRegistry, truth: TruthSource) -> None:
    with pytest.raises(InvalidInput):
        await reconcile(registry, truth, direction="sideways")  # type: ignore[arg-type]


async def test_an_empty_registry_and_truth_source_are_in_sync(registry: SqliteRegistry, truth: TruthSource) -> None:
    report = await reconcile(registry, truth, direction="both")
    assert report.in_sync and report.commit is None
    assert (await registry.list(AppFilter())).total == 0
