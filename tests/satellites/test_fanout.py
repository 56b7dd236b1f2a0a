"""Fan-out: one call to many satellites; every satellite answers for itself."""

from __future__ import annotations

import anyio
import pytest

from nexus_agent.wire.errors import InvalidInput, NotFound

pytestmark = pytest.mark.anyio


def every_kind_of_satellite(sats):
    return [
        sats.record("good", capabilities=["echo"]),
        sats.record("hang", capabilities=["echo"]),
        sats.record("err", capabilities=["echo"]),
        sats.record("sec", token_env=sats.token_env, capabilities=["echo"]),
        sats.record("junk", capabilities=["echo"]),
        sats.record("gone", "down", capabilities=["echo"]),
        sats.record("badlist", capabilities=["echo"]),
        sats.record("legacy"),
    ]


async def test_partial_failures_never_fail_the_rest(sats, make_pool):
    progress = []

    async def on_progress(done, total, message):
        progress.append((done, total, message))

    slugs = ["good", "hang", "err", "sec", "junk", "gone", "badlist", "legacy", "ghost"]
    async with make_pool(every_kind_of_satellite(sats), secrets={sats.token_env: "not-the-right-token-000"}) as pool:
        with anyio.fail_after(10):
            result = await pool.fan_out("echo", {"text": "hi"}, slugs=slugs, timeout=1.0, on_progress=on_progress)
    items = {item.slug: item for item in result.items}
    assert [i.slug for i in result.items] == slugs
    assert items["good"].ok and items["good"].result.text == "hi"
    assert items["legacy"].ok and items["legacy"].result.text == "legacy hi"

    def failure(slug):
        item = items[slug]
        assert not item.ok and item.error is not None, slug
        return item.error.get("details", {}).get("reason"), item.error["message"]

    assert failure("hang")[0] == "timeout"
    assert failure("sec")[0] == "token_rejected"
    assert failure("junk")[0] == "protocol"
    assert failure("gone")[0] == "unreachable"
    assert failure("badlist")[0] == "protocol"
    assert items["err"].error["code"] == "tool_error" and items["err"].result.is_error
    assert items["ghost"].error["code"] == "not_found"
    for slug in ("hang", "sec", "junk", "gone", "badlist"):
        assert f"'{slug}'" in failure(slug)[1]
    assert result.duration_ms < 5000
    assert progress[-1][:2] == (len(slugs), len(slugs))
    assert len(progress) == len(slugs) + 1


async def test_targets_every_satellite_with_a_capability(sats, make_pool):
    async with make_pool(every_kind_of_satellite(sats)) as pool:
        with anyio.fail_after(10):
            result = await pool.fan_out("echo", {"text": "x"}, capability="echo", timeout=1.0)
    assert {i.slug for i in result.items} == {"good", "hang", "err", "sec", "junk", "gone", "badlist"}
    assert {i.slug for i in result.succeeded} == {"good", "sec"}


async def test_targets_every_satellite_that_has_the_tool(sats, make_pool):
    records = [sats.record("good"), sats.record("legacy"), sats.record("junk"), sats.record("gone", "down")]
    async with make_pool(records) as pool:
        with anyio.fail_after(10):
            result = await pool.fan_out("echo", {"text": "x"})
            peek = await pool.fan_out("peek")
    assert {i.slug for i in result.items} == {"good", "legacy"}
    assert all(i.ok for i in result.items)
    assert set(result.skipped) == {"junk", "gone"}
    assert [i.slug for i in peek.items] == ["good"]


async def test_a_tool_nobody_has_is_not_found(sats, make_pool):
    async with make_pool([sats.record("good"), sats.record("legacy")]) as pool:
        with anyio.fail_after(10), pytest.raises(NotFound):
            await pool.fan_out("no_such_tool_anywhere", {})


async def test_arguments_are_validated_per_satellite(sats, make_pool):
    async with make_pool([sats.record("good"), sats.record("legacy")]) as pool:
        with anyio.fail_after(10):
            result = await pool.fan_out("echo", {"text": "x", "times": "two"}, slugs=["good", "legacy"])
    items = {i.slug: i for i in result.items}
    assert items["good"].error["code"] == "invalid_input"
    assert items["legacy"].ok  # its schema has no 'times' and allows extra fields
    assert sats.traffic.count("good", "tools/call") == 0


async def test_concurrency_is_bounded(sats, make_pool):
    records = [sats.record(f"hang-{i}", "hang") for i in range(4)]
    async with make_pool(records) as pool:
        with anyio.fail_after(10):
            started = anyio.current_time()
            result = await pool.fan_out(
                "echo", {"text": "x"}, slugs=[r.slug for r in records], timeout=0.4, concurrency=2
            )
            elapsed = anyio.current_time() - started
    assert all(i.error["details"]["reason"] == "timeout" for i in result.items)
    assert elapsed >= 0.8  # two waves of two hung satellites, each cut at 0.4 s


async def test_slugs_and_capability_are_exclusive(sats, make_pool):
    async with make_pool([sats.record("good")]) as pool:
        with pytest.raises(InvalidInput):
            await pool.fan_out("echo", {}, slugs=["good"], capability="echo")
