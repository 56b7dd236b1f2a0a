"""Retries, the circuit breaker and reconnection, against a satellite that answers 503 on demand."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from nexus_agent.satellites import BreakerState, CircuitBreaker
from nexus_agent.wire.errors import UpstreamError

pytestmark = pytest.mark.anyio


def test_breaker_opens_after_threshold_and_half_opens_after_cooldown(clock):
    changes = []
    breaker = CircuitBreaker(threshold=3, cooldown=30, clock=clock, on_change=lambda o, n: changes.append((o, n)))
    for _ in range(2):
        breaker.record_failure("boom")
    assert breaker.state is BreakerState.closed and breaker.allow()
    breaker.record_failure("boom")
    assert breaker.state is BreakerState.open and not breaker.allow()
    assert breaker.retry_in() == 30
    clock.advance(29)
    assert not breaker.allow()
    clock.advance(1)
    assert breaker.state is BreakerState.half_open
    assert breaker.allow()  # one trial request
    assert not breaker.allow()  # and only one at a time
    breaker.record_failure("still broken")
    assert breaker.state is BreakerState.open
    clock.advance(30)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.closed and breaker.consecutive_failures == 0
    assert [n for _, n in changes] == ["open", "half_open", "open", "half_open", "closed"]


def test_success_resets_the_failure_count(clock):
    breaker = CircuitBreaker(threshold=2, cooldown=5, clock=clock)
    breaker.record_failure("a")
    breaker.record_success()
    breaker.record_failure("b")
    assert breaker.state is BreakerState.closed


async def test_read_only_tool_is_retried_with_backoff(sats, make_pool, sleeper):
    async with make_pool([sats.record("flaky")], sleep=sleeper, retry_attempts=3) as pool:
        with anyio.fail_after(10):
            await pool.list_tools()
            sats.traffic.flaky_fail_calls = 2
            result = await pool.call("flaky__peek")
    assert result.text == "peeked" and result.attempts == 3
    assert len(sleeper.delays) == 2 and sleeper.delays[1] > sleeper.delays[0] * 0.5
    assert sats.traffic.count("flaky", "tools/call") == 3


async def test_tool_without_safety_annotations_is_never_retried(sats, make_pool, sleeper):
    async with make_pool([sats.record("flaky")], sleep=sleeper, retry_attempts=3) as pool:
        with anyio.fail_after(10):
            await pool.list_tools()
            sats.traffic.flaky_fail_calls = 1
            with pytest.raises(UpstreamError) as exc:
                await pool.call("flaky__poke")
    assert exc.value.details["reason"] == "http_error" and "HTTP 503" in exc.value.message
    assert sleeper.delays == []
    assert sats.traffic.count("flaky", "tools/call") == 1


async def test_tool_errors_and_timeouts_are_not_retried(sats, make_pool, sleeper):
    async with make_pool([sats.record("err"), sats.record("hang")], sleep=sleeper) as pool:
        with anyio.fail_after(10):
            assert (await pool.call("err__echo", {"text": "x"})).attempts == 1
            with pytest.raises(UpstreamError):
                await pool.call("hang__echo", {"text": "x"}, timeout=0.3)
    assert sleeper.delays == []


async def test_breaker_opens_then_half_opens_and_closes_on_success(sats, make_pool, clock):
    async with make_pool([sats.record("flaky")], clock=clock, breaker_threshold=2, breaker_cooldown=30) as pool:
        with anyio.fail_after(10):
            await pool.list_tools()
            sats.traffic.flaky_down = True
            for _ in range(2):
                with pytest.raises(UpstreamError) as exc:
                    await pool.call("flaky__poke")
                assert exc.value.details["reason"] == "http_error"
            assert pool.breaker_state("flaky") is BreakerState.open
            calls = sats.traffic.count("flaky", "tools/call")
            with pytest.raises(UpstreamError) as exc:
                await pool.call("flaky__poke")
            assert exc.value.details["reason"] == "circuit_open"
            assert "circuit breaker is open" in exc.value.message and "HTTP 503" in exc.value.message
            assert sats.traffic.count("flaky", "tools/call") == calls  # nothing was sent

            clock.advance(30)
            assert pool.breaker_state("flaky") is BreakerState.half_open
            sats.traffic.flaky_down = False
            result = await pool.call("flaky__poke")
    assert result.text == "poked"
    assert pool.breaker_state("flaky") is BreakerState.closed


async def test_failed_trial_call_reopens_the_breaker(sats, make_pool, clock):
    async with make_pool([sats.record("gone", "down")], clock=clock, breaker_threshold=1, breaker_cooldown=10) as pool:
        with anyio.fail_after(10):
            with pytest.raises(UpstreamError):
                await pool.call("gone__echo", {"text": "x"})
            assert pool.breaker_state("gone") is BreakerState.open
            clock.advance(10)
            with pytest.raises(UpstreamError) as exc:
                await pool.call("gone__echo", {"text": "x"})
            assert exc.value.details["reason"] == "unreachable"
            assert pool.breaker_state("gone") is BreakerState.open


async def test_reconnects_after_a_transport_fault(sats, make_pool):
    async with make_pool([sats.record("flaky")]) as pool:
        with anyio.fail_after(10):
            await pool.call("flaky__poke")
            sats.traffic.flaky_fail_calls = 1
            with pytest.raises(UpstreamError):
                await pool.call("flaky__poke")
            assert (await pool.call("flaky__poke")).text == "poked"
        assert pool.connection("flaky").opens == 2


def running_tasks() -> int:
    import asyncio

    return len(asyncio.all_tasks())


async def settle_to(count: int) -> int:
    """Let finished work unwind (bounded by the caller's fail_after) until at most ``count`` tasks remain."""
    while running_tasks() > count:
        await anyio.wait_all_tasks_blocked()
        await anyio.lowlevel.checkpoint()
    return running_tasks()


async def test_timeouts_and_cancellations_leak_no_tasks(sats, make_pool):
    before = running_tasks()
    async with make_pool([sats.record("hang"), sats.record("good")], breaker_threshold=100) as pool:
        with anyio.fail_after(10):
            await pool.call("good__echo", {"text": "x"})
            with pytest.raises(UpstreamError):
                await pool.call("hang__echo", {"text": "x"}, timeout=0.2)
            await anyio.wait_all_tasks_blocked()
            baseline = running_tasks()
            for _ in range(5):
                with pytest.raises(UpstreamError):
                    await pool.call("hang__echo", {"text": "x"}, timeout=0.1)
            with anyio.move_on_after(0.1):  # a caller that gives up by itself
                await pool.call("hang__echo", {"text": "x"})
            assert await settle_to(baseline) <= baseline
    with anyio.fail_after(10):
        assert await settle_to(before) == before
