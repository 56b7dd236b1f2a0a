"""Calling one satellite tool through the pool, over real HTTP."""

from __future__ import annotations

import logging

import anyio
import pytest

from nexus_agent.wire.errors import ConfigError, InvalidInput, NotFound, UpstreamError

pytestmark = pytest.mark.anyio


def reason(exc: pytest.ExceptionInfo[UpstreamError]) -> str:
    return exc.value.details["reason"]


async def test_calls_a_tool_by_qualified_name(sats, make_pool):
    async with make_pool([sats.record("good")]) as pool:
        with anyio.fail_after(10):
            result = await pool.call("good__echo", {"text": "ab", "times": 2})
    assert not result.is_error
    assert result.text == "abab"
    assert result.structured_content == {"result": "abab"}
    assert (result.slug, result.tool, result.qualified_name, result.attempts) == ("good", "echo", "good__echo", 1)


async def test_calls_a_tool_by_slug_and_original_name(sats, make_pool):
    async with make_pool([sats.record("good")]) as pool:
        with anyio.fail_after(10):
            result = await pool.call(("good", "odd name/with:chars"), {})
    assert result.text == "odd"
    assert result.qualified_name == "good__odd_name_with_chars"


async def test_reuses_one_connection_for_many_calls(sats, make_pool):
    async with make_pool([sats.record("good")]) as pool:
        with anyio.fail_after(10):
            for i in range(5):
                await pool.call("good__echo", {"text": str(i)})
            async with anyio.create_task_group() as tg:
                for i in range(5):
                    tg.start_soon(pool.call, "good__echo", {"text": str(i)})
        assert pool.connection("good").opens == 1
    assert sats.traffic.opens("good") == 1
    assert sats.traffic.count("good", "tools/call") == 10
    assert sats.traffic.count("good", "tools/list") == 1


async def test_connects_lazily(sats, make_pool):
    async with make_pool([sats.record("good")]) as pool:
        assert not pool.connection("good").connected
        assert sats.traffic.opens("good") == 0
        with anyio.fail_after(10):
            await pool.call("good__peek")
        assert pool.connection("good").connected


async def test_rejects_bad_arguments_before_sending_anything(sats, make_pool):
    async with make_pool([sats.record("good")]) as pool:
        with anyio.fail_after(10), pytest.raises(InvalidInput) as exc:
            await pool.call("good__echo", {"times": "three"})
    fields = {p["field"]: p["problem"] for p in exc.value.details}
    assert fields["text"] == "is required but was not given"
    assert "times" in fields and "integer" in fields["times"]
    assert "good__echo" in exc.value.message
    assert sats.traffic.count("good", "tools/call") == 0


async def test_rejects_arguments_that_are_not_an_object(sats, make_pool):
    async with make_pool([sats.record("good")]) as pool:
        with anyio.fail_after(10), pytest.raises(InvalidInput):
            await pool.call("good__echo", ["text"])  # type: ignore[arg-type]


async def test_tool_error_comes_back_as_an_error_result(sats, make_pool):
    async with make_pool([sats.record("err")]) as pool:
        with anyio.fail_after(10):
            result = await pool.call("err__echo", {"text": "x"})
        assert result.is_error
        assert "echo" in result.text
        assert pool.breaker_state("err") == "closed"


async def test_unknown_tool_and_unknown_satellite_are_not_found(sats, make_pool):
    async with make_pool([sats.record("good")]) as pool:
        with anyio.fail_after(10):
            with pytest.raises(NotFound) as exc:
                await pool.call("good__nope", {})
            assert "good__echo" in (exc.value.hint or "")
            with pytest.raises(NotFound):
                await pool.call("ghost__echo", {})
            with pytest.raises(InvalidInput):
                await pool.call("no-separator", {})


async def test_hanging_tool_times_out_with_a_clear_error(sats, make_pool):
    async with make_pool([sats.record("hang"), sats.record("good")]) as pool:
        with anyio.fail_after(5):
            with pytest.raises(UpstreamError) as exc:
                await pool.call("hang__echo", {"text": "x"}, timeout=0.5)
            assert reason(exc) == "timeout"
            assert "'hang'" in exc.value.message and "0.5 s" in exc.value.message
            # Nexus keeps serving: the same pool still calls the other satellite.
            assert (await pool.call("good__echo", {"text": "still here"})).text == "still here"


async def test_down_satellite_is_unreachable(sats, make_pool):
    async with make_pool([sats.record("gone", "down")]) as pool:
        with anyio.fail_after(5), pytest.raises(UpstreamError) as exc:
            await pool.call("gone__echo", {"text": "x"})
    assert reason(exc) == "unreachable"
    assert "unreachable" in exc.value.message and sats.down_url in exc.value.message


async def test_garbage_answer_is_a_protocol_error(sats, make_pool):
    async with make_pool([sats.record("junk")]) as pool:
        with anyio.fail_after(5), pytest.raises(UpstreamError) as exc:
            await pool.call("junk__echo", {"text": "x"})
    assert reason(exc) == "protocol"
    assert "did not answer with MCP" in exc.value.message


async def test_token_is_sent_and_accepted(sats, make_pool, caplog):
    caplog.set_level(logging.DEBUG)
    async with make_pool([sats.record("sec", token_env=sats.token_env)]) as pool:
        with anyio.fail_after(5):
            result = await pool.call("sec__echo", {"text": "x"})
    assert result.text == "secure x"
    assert sats.secret not in caplog.text
    assert sats.secret not in result.model_dump_json()


async def test_rejected_token_gives_a_clear_error_without_the_token(sats, make_pool, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-token-value-123456"
    async with make_pool([sats.record("sec", token_env=sats.token_env)], secrets={sats.token_env: wrong}) as pool:
        with anyio.fail_after(5), pytest.raises(UpstreamError) as exc:
            await pool.call("sec__echo", {"text": "x"})
    assert reason(exc) == "token_rejected"
    assert "rejected Nexus's token" in exc.value.message
    assert sats.token_env in (exc.value.hint or "")
    assert wrong not in str(exc.value.to_dict())
    assert wrong not in caplog.text


async def test_satellite_requiring_a_token_without_one_configured(sats, make_pool):
    async with make_pool([sats.record("sec")]) as pool:
        with anyio.fail_after(5), pytest.raises(UpstreamError) as exc:
            await pool.call("sec__echo", {"text": "x"})
    assert reason(exc) == "token_missing"
    assert "token_env" in (exc.value.hint or "")


async def test_missing_token_variable_is_a_config_error(sats, make_pool):
    async with make_pool([sats.record("sec", token_env=sats.token_env)], secrets={}) as pool:
        with anyio.fail_after(5), pytest.raises(ConfigError) as exc:
            await pool.call("sec__echo", {"text": "x"})
    assert sats.token_env in exc.value.message
    assert sats.traffic.opens("sec") == 0


async def test_handshake_era_third_party_server(sats, make_pool):
    async with make_pool([sats.record("legacy")]) as pool:
        with anyio.fail_after(5):
            result = await pool.call("legacy__echo", {"text": "old"})
        assert result.text == "legacy old"
        assert pool.connection("legacy").protocol_version == "2025-11-25"


async def test_removed_satellite_is_closed_and_forgotten(sats, make_pool):
    async with make_pool([sats.record("good"), sats.record("err")]) as pool:
        with anyio.fail_after(5):
            await pool.call("good__echo", {"text": "x"})
            connection = pool.connection("good")
            await pool.sync_apps([sats.record("err")])
            await connection.wait_closed()
            assert not connection.connected
            with pytest.raises(NotFound):
                await pool.call("good__echo", {"text": "x"})


async def test_changed_endpoint_rewires_the_satellite(sats, make_pool):
    async with make_pool([sats.record("alpha", "good")]) as pool:
        with anyio.fail_after(5):
            assert (await pool.call("alpha__echo", {"text": "1"})).text == "1"
            await pool.sync_apps([sats.record("alpha", "legacy")])
            assert (await pool.call("alpha__echo", {"text": "2"})).text == "legacy 2"


async def test_satellite_progress_reaches_the_caller(sats, make_pool):
    seen = []

    async def on_progress(progress, total, message):
        seen.append((progress, total, message))

    async with make_pool([sats.record("good")]) as pool:
        with anyio.fail_after(10):
            result = await pool.call("good__count", {"n": 3}, on_progress=on_progress)
    assert result.structured_content == {"result": 3}
    assert seen == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]
