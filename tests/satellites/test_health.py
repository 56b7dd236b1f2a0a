"""Health: /api/health probes, breaker state, and status changes reported to the registry."""

from __future__ import annotations

import sys

import anyio
import pytest

from nexus_agent.satellites import BreakerState, HealthMonitor, HealthState, PoolSettings, health_url
from nexus_agent.wire.errors import UpstreamError
from nexus_agent.wire.models import AppEndpoints, AppRecord, AppStatus

pytestmark = pytest.mark.anyio


def test_health_url_defaults_to_api_health_on_the_mcp_origin(sats, time_record):
    record = sats.record("good", health_url=None)
    assert health_url(record, PoolSettings()) == f"{sats.base}/api/health"
    assert health_url(sats.record("good"), PoolSettings()) == f"{sats.base}/health/good"
    assert health_url(time_record, PoolSettings()) is None


async def test_probes_each_satellite(sats, make_pool, time_record):
    sats.traffic.health["slow"] = (200, {"status": "degraded"})
    sats.traffic.health["err"] = (503, {"status": "down"})
    records = [
        sats.record("good"),
        sats.record("slow", "good", health_url=f"{sats.base}/health/slow"),
        sats.record("err"),
        time_record,
    ]
    records.append(sats.record("gone", "down", health_url=sats.down_url))
    async with make_pool(records) as pool:
        with anyio.fail_after(10):
            health = {h.slug: h for h in await pool.health()}
    assert health["good"].state is HealthState.up and health["good"].http_status == 200
    assert health["good"].app_status is AppStatus.active
    assert health["slow"].state is HealthState.degraded and "degraded" in health["slow"].detail
    assert health["err"].state is HealthState.down and "HTTP 503" in health["err"].detail
    assert health["gone"].state is HealthState.down and "unreachable" in health["gone"].detail
    # A stdio satellite has no health URL: it is up when it answers tools/list in time.
    assert health["time"].state is HealthState.up and "tools/list" in health["time"].detail
    assert all(h.breaker is BreakerState.closed for h in health.values())


async def test_open_breaker_shows_as_degraded(sats, make_pool, clock):
    async with make_pool([sats.record("flaky")], clock=clock, breaker_threshold=1) as pool:
        with anyio.fail_after(10):
            await pool.list_tools()
            sats.traffic.flaky_down = True
            with pytest.raises(UpstreamError):
                await pool.call("flaky__poke")
            [health] = await pool.health("flaky")
    assert health.state is HealthState.degraded
    assert health.breaker is BreakerState.open
    assert "circuit breaker open" in health.detail and "HTTP 503" in health.detail


async def test_monitor_records_status_changes_only(sats, make_pool, clock):
    changes = []

    async def on_change(slug, old, new, detail):
        changes.append((slug, old, new, detail))

    records = [sats.record("good"), sats.record("flaky"), sats.record("legacy", status=AppStatus.pending)]
    records.append(sats.record("err", status=AppStatus.degraded))
    async with make_pool(records, clock=clock, breaker_threshold=1) as pool:
        monitor = HealthMonitor(pool, on_change)
        with anyio.fail_after(10):
            await monitor.check_once()
            # err was degraded and is healthy again; good was active and still is; pending apps are left alone.
            assert [(s, o, n) for s, o, n, _ in changes] == [("err", AppStatus.degraded, AppStatus.active)]
            changes.clear()

            sats.traffic.health["good"] = (500, {"status": "error"})
            sats.traffic.flaky_down = True
            with pytest.raises(UpstreamError):
                await pool.call("flaky__poke")
            await monitor.check_once()
            assert {(s, o, n) for s, o, n, _ in changes} == {
                ("good", AppStatus.active, AppStatus.degraded),
                ("flaky", AppStatus.active, AppStatus.degraded),
            }
            changes.clear()
            await monitor.check_once()
            assert changes == []  # no change, no record

            sats.traffic.health.clear()
            sats.traffic.flaky_down = False
            clock.advance(pool.settings.breaker_cooldown)
            await pool.call("flaky__poke")
            await monitor.check_once()
    assert {(s, o, n) for s, o, n, _ in changes} == {
        ("good", AppStatus.degraded, AppStatus.active),
        ("flaky", AppStatus.degraded, AppStatus.active),
    }


async def test_monitor_wakes_when_a_breaker_changes(sats, make_pool, clock):
    seen = anyio.Event()
    changes = []

    async def on_change(slug, old, new, detail):
        changes.append((slug, new))
        if new is AppStatus.degraded:
            seen.set()

    async with make_pool([sats.record("gone", "down", health_url=None)], clock=clock, breaker_threshold=1) as pool:
        sats.traffic.health["gone"] = (200, {"status": "ok"})
        monitor = HealthMonitor(pool, on_change, interval=3600)
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(monitor.run)
                with pytest.raises(UpstreamError):
                    await pool.call("gone__echo", {"text": "x"})
                await seen.wait()
                tg.cancel_scope.cancel()
    assert changes == [("gone", AppStatus.degraded)]


async def test_a_failing_status_callback_does_not_stop_the_monitor(sats, make_pool):
    calls = []

    async def on_change(slug, old, new, detail):
        calls.append(slug)
        raise RuntimeError("registry is locked")

    async with make_pool([sats.record("err", status=AppStatus.degraded)]) as pool:
        monitor = HealthMonitor(pool, on_change)
        with anyio.fail_after(10):
            await monitor.check_once()
            await monitor.check_once()
    assert calls == ["err", "err"]  # not recorded, so tried again


@pytest.mark.slow
async def test_a_stdio_satellite_that_cannot_start_is_down(make_pool) -> None:
    broken = AppRecord(
        slug="broken-stdio",
        name="Broken",
        status=AppStatus.active,
        endpoints=AppEndpoints(mcp_command=[sys.executable, "-c", "import sys; sys.exit(3)"]),
    )
    async with make_pool([broken]) as pool:
        with anyio.fail_after(20):
            [health] = await pool.health()
    assert health.state is HealthState.down and "tools/list" in health.detail


async def test_the_monitors_sweep_is_spread_out_and_an_asked_check_is_not(make_pool) -> None:
    """Thousands of apps are swept at a bounded pace (no burst holding the event loop while calls wait); a
    caller asking now gets every probe at once, and a few apps are swept at once as before."""
    import time

    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from nexus_agent.satellites.health import MIN_PROBES_PER_S
    from nexus_agent.testing import serve_in_thread

    arrived: list[float] = []

    async def health(request: object) -> JSONResponse:
        arrived.append(time.monotonic())
        return JSONResponse({"status": "ok"})

    app = Starlette(routes=[Route("/h/{n}", health)])
    with serve_in_thread(app) as base:
        records = [
            AppRecord(
                slug=f"app-{i}",
                name=f"App {i}",
                status=AppStatus.active,
                endpoints=AppEndpoints(mcp_url=f"{base}/mcp", health_url=f"{base}/h/{i}"),
            )
            for i in range(6)
        ]
        async with make_pool(records) as pool:
            with anyio.fail_after(20):
                paced = await pool.health(per_second=40)
                spread, arrived[:] = max(arrived) - min(arrived), []
                asked = await pool.health()
    assert len(paced) == len(asked) == 6 and all(h.state is HealthState.up for h in paced + asked)
    assert spread >= 5 / 40 * 0.9  # the sixth probe started no sooner than 5/40 s after the first
    monitor = HealthMonitor(pool, lambda *a: anyio.sleep(0), interval=60)
    assert monitor.pace(5000) == pytest.approx(5000 / 30)  # 5,000 apps every 60 s: over half the interval
    assert monitor.pace(3) == MIN_PROBES_PER_S  # a handful: all within a few hundredths of a second
