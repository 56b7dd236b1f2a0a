"""Legacy apps (message handlers) as satellites: the same pool, a second transport.

Every test talks to a real fake legacy app over HTTP on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nexus_agent.satellites import PoolSettings, SatellitePool
from nexus_agent.satellites.legacy_tools import legacy_tools
from nexus_agent.testing import free_port
from nexus_agent.testing.fake_legacy_app import FakeLegacyApp
from nexus_agent.wire.errors import ConfigError, InvalidInput, UpstreamError
from nexus_agent.wire.models import AppRecord, AppStatus

SECRET = "ledger-secret-0123456789abcdef"
ENV = "SATELLITE_STOCK_LEDGER_WEBHOOK_SECRET"
FAST = PoolSettings(retry_base_delay=0.01, retry_max_delay=0.02, breaker_threshold=10, breaker_cooldown=60)


@pytest.fixture
def app() -> Iterator[FakeLegacyApp]:
    with FakeLegacyApp("stock-ledger", SECRET) as fake:
        yield fake


def _reason(error: UpstreamError) -> str:
    assert isinstance(error.details, dict)
    return str(error.details["reason"])


# -- tools ---------------------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_each_message_type_is_one_tool_named_after_the_type(app: FakeLegacyApp) -> None:
    async with SatellitePool([app.record()], secrets={ENV: SECRET}) as pool:
        listing = await pool.list_tools()
    names = [t.qualified_name for t in listing.tools]
    assert names == ["stock-ledger__query_stock_level", "stock-ledger__action_reserve_stock", "stock-ledger__test_ping"]
    level = listing.tools[0]
    assert level.input_schema["required"] == ["sku"]
    assert set(level.input_schema["properties"]) == {"sku", "yard"}
    assert level.description and level.description.startswith("Current quantity of a stock item, per yard.")
    assert "Tracks aluminium extrusion" in level.description  # the app's own description


def test_query_and_ping_are_read_only_actions_need_approval(app: FakeLegacyApp) -> None:
    tools = {t.message_type: t.tool for t in legacy_tools(app.record())}
    for kind in ("query.stock_level", "test.ping"):
        hints = tools[kind].annotations
        assert hints is not None and hints.read_only_hint and hints.idempotent_hint
    action = tools["action.reserve_stock"].annotations
    assert action is not None and not action.read_only_hint and not action.idempotent_hint


def test_undocumented_types_take_a_free_params_object_and_prose_is_not_a_type() -> None:
    record = AppRecord(
        slug="yard-tracker",
        name="Yard Tracker",
        message_types=["query.bay_occupancy", "bay_id", "The yard bay identifier, for example N-04", "test.ping"],
    )
    tools = legacy_tools(record)
    assert [t.tool.name for t in tools] == ["query_bay_occupancy", "test_ping"]
    schema = tools[0].tool.input_schema
    assert set(schema["properties"]) == {"params"} and schema["properties"]["params"]["type"] == "object"
    assert tools[0].params({"params": {"bay_id": "N-04"}}) == {"bay_id": "N-04"}


# -- calls -----------------------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_call_is_a_signed_message_and_returns_the_apps_result(app: FakeLegacyApp) -> None:
    async with SatellitePool([app.record()], secrets={ENV: SECRET}, settings=FAST) as pool:
        result = await pool.call("stock-ledger__query_stock_level", {"sku": "EXT-6063-50x50", "yard": "north"})
        again = await pool.call("stock-ledger__query_stock_level", {"sku": "EXT-6063-50x50", "yard": "south"})
        connection = pool.connection("stock-ledger")
        assert connection is not None and connection.opens == 1  # one HTTP client, reused
    assert result.structured_content == {"sku": "EXT-6063-50x50", "yard": "north", "qty": 42}
    assert again.structured_content is not None and again.structured_content["qty"] == 7
    sent = app.messages[0]
    assert (
        sent.signed_ok
        and sent.type == "query.stock_level"
        and sent.params == {"sku": "EXT-6063-50x50", "yard": "north"}
    )
    assert sent.request_id and sent.request_id != app.messages[1].request_id


@pytest.mark.anyio
async def test_the_signature_goes_in_the_header_the_registration_names() -> None:
    with FakeLegacyApp("stock-ledger", SECRET, signature_header="X-Webhook-Signature") as app:
        async with SatellitePool([app.record()], secrets={ENV: SECRET}) as pool:
            await pool.call("stock-ledger__test_ping", {})
    assert app.messages[-1].signed_ok


@pytest.mark.anyio
async def test_a_wrong_secret_is_refused_by_the_app_and_said_so(app: FakeLegacyApp) -> None:
    async with SatellitePool([app.record()], secrets={ENV: "not-the-apps-secret-at-all"}, settings=FAST) as pool:
        with pytest.raises(UpstreamError) as caught:
            await pool.call("stock-ledger__query_stock_level", {"sku": "EXT-6063-50x50"})
    assert _reason(caught.value) == "token_rejected"
    assert ENV in (caught.value.hint or "") and "not-the-apps-secret" not in caught.value.user_message()
    assert app.messages[-1].signed_ok is False


@pytest.mark.anyio
async def test_a_missing_secret_names_the_variable_and_sends_nothing(app: FakeLegacyApp) -> None:
    async with SatellitePool([app.record()], secrets={}) as pool:
        assert len((await pool.list_tools()).tools) == 3  # listing needs no secret
        with pytest.raises(ConfigError) as caught:
            await pool.call("stock-ledger__test_ping", {})
    assert ENV in caught.value.message
    assert app.messages == []


@pytest.mark.anyio
async def test_arguments_are_validated_against_the_documented_params(app: FakeLegacyApp) -> None:
    async with SatellitePool([app.record()], secrets={ENV: SECRET}) as pool:
        with pytest.raises(InvalidInput) as caught:
            await pool.call("stock-ledger__action_reserve_stock", {"sku": "EXT-6063-50x50", "qty": "lots"})
    fields = {d["field"] for d in caught.value.details}
    assert {"qty", "order_id"} <= fields
    assert app.messages == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fault", "reason", "words"),
    [
        ("error", "rejected", "the ledger is locked for stocktake"),
        ("not_json", "protocol", "not a JSON object"),
        ("wrong_request_id", "protocol", "someone-elses-request"),
        ("no_status", "protocol", "without status"),
        ("http_500", "http_error", "HTTP 500"),
        ("huge", "protocol", "Nexus stopped reading"),
    ],
)
async def test_each_bad_answer_is_a_clear_per_app_error(
    app: FakeLegacyApp, fault: str, reason: str, words: str
) -> None:
    app.faults["query.stock_level"] = fault
    async with SatellitePool([app.record()], secrets={ENV: SECRET}, settings=FAST) as pool:
        with pytest.raises(UpstreamError) as caught:
            await pool.call("stock-ledger__query_stock_level", {"sku": "EXT-6063-50x50"})
    assert _reason(caught.value) == reason
    assert "stock-ledger" in caught.value.message and words in caught.value.message


@pytest.mark.anyio
async def test_an_answer_with_a_utf8_byte_order_mark_is_read(app: FakeLegacyApp) -> None:
    app.faults["query.stock_level"] = "bom"
    async with SatellitePool([app.record()], secrets={ENV: SECRET}, settings=FAST) as pool:
        result = await pool.call("stock-ledger__query_stock_level", {"sku": "EXT-6063-50x50"})
    assert result.structured_content == {"qty": 5}


@pytest.mark.anyio
async def test_a_slow_app_times_out(app: FakeLegacyApp) -> None:
    app.faults["query.stock_level"] = "slow"
    async with SatellitePool([app.record()], secrets={ENV: SECRET}) as pool:
        with pytest.raises(UpstreamError) as caught:
            await pool.call("stock-ledger__query_stock_level", {"sku": "EXT-6063-50x50"}, timeout=0.3)
    assert _reason(caught.value) == "timeout"


@pytest.mark.anyio
async def test_only_read_only_types_are_retried(app: FakeLegacyApp) -> None:
    app.faults["query.stock_level"] = "http_500"
    app.faults["action.reserve_stock"] = "http_500"
    async with SatellitePool([app.record()], secrets={ENV: SECRET}, settings=FAST) as pool:
        with pytest.raises(UpstreamError):
            await pool.call("stock-ledger__query_stock_level", {"sku": "EXT-6063-50x50"})
        queries = len(app.messages)
        with pytest.raises(UpstreamError):
            await pool.call("stock-ledger__action_reserve_stock", {"sku": "EXT-6063-50x50", "qty": 1, "order_id": "O"})
    assert queries == FAST.retry_attempts
    assert len(app.messages) - queries == 1  # a side effect is never sent twice


# -- containment -----------------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_one_bad_legacy_app_does_not_break_the_others(app: FakeLegacyApp) -> None:
    down = AppRecord(
        slug="dead-ledger",
        name="Dead Ledger",
        status=AppStatus.active,
        message_types=["query.stock_level"],
        endpoints={"message_handler_url": f"http://127.0.0.1:{free_port()}/api/messages/handle"},  # type: ignore[arg-type]
    )
    secrets = {ENV: SECRET, "SATELLITE_DEAD_LEDGER_WEBHOOK_SECRET": SECRET}
    async with SatellitePool([app.record(), down], secrets=secrets, settings=FAST) as pool:
        reasons = []
        for _ in range(FAST.breaker_threshold // FAST.retry_attempts + 2):
            result = await pool.fan_out("query_stock_level", {"params": {}}, slugs=["dead-ledger"])
            assert result.items[0].error is not None
            reasons.append(result.items[0].error["details"]["reason"])
        assert reasons[0] == "unreachable" and reasons[-1] == "circuit_open"
        assert pool.breaker_state("dead-ledger").value == "open"
        fan = await pool.fan_out("query_stock_level", {"sku": "EXT-6063-50x50"}, slugs=["stock-ledger"])
        listing = await pool.list_tools()
        health = {h.slug: h.state.value for h in await pool.health()}
    assert fan.items[0].ok and fan.items[0].result is not None
    assert {t.slug for t in listing.tools} == {"stock-ledger", "dead-ledger"}
    assert health == {"stock-ledger": "up", "dead-ledger": "down"}


@pytest.mark.anyio
async def test_a_changed_registration_changes_the_tools(app: FakeLegacyApp) -> None:
    async with SatellitePool([app.record()], secrets={ENV: SECRET}) as pool:
        before = {t.name for t in (await pool.list_tools()).tools}
        changed = app.record().model_copy(update={"message_types": ["query.stock_level"], "message_specs": []})
        await pool.sync_apps([changed])
        after = {t.name for t in (await pool.list_tools()).tools}
    assert before == {"query_stock_level", "action_reserve_stock", "test_ping"}
    assert after == {"query_stock_level"}


@pytest.mark.anyio
async def test_entries_of_message_types_that_are_not_types_are_reported_not_listed(app: FakeLegacyApp) -> None:
    messy = app.record().model_copy(update={"message_types": ["query.stock_level", "sku", "The stock item code"]})
    async with SatellitePool([messy], secrets={ENV: SECRET}) as pool:
        listing = await pool.list_tools()
    assert {t.name for t in listing.tools} == {"query_stock_level", "action_reserve_stock"}  # documented ones too
    assert [w.split("'")[1] for w in listing.warnings["stock-ledger"]] == ["sku", "The stock item code"]
