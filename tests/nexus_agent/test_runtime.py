"""The runtime (#9): a frozen core, live parts built up front, opened in order and closed in reverse."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

from nexus_agent.config import Settings
from nexus_agent.core import open_core
from nexus_agent.ops.measure import ServiceMeasurement
from nexus_agent.planner.build import planner_from_settings
from nexus_agent.planner.loop import Planner
from nexus_agent.planner.tools import runtime_planner
from nexus_agent.runtime import NexusRuntime
from nexus_agent.services import NexusServices, open_services
from nexus_agent.wire.errors import ConfigError
from tests.conftest import MakeApp

pytestmark = pytest.mark.anyio


def test_the_core_is_frozen_and_the_runtime_read_only(services: NexusServices) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        services.core.outbox = None  # type: ignore[misc]
    for name in ("pool", "planner", "observer", "webhook_secrets", "notify", "memory", "registry"):
        with pytest.raises(AttributeError):
            setattr(services, name, None)


def test_a_process_without_satellites_says_so_clearly(services: NexusServices) -> None:
    assert services.pool is None and services.planner is None and services.observer is None
    with pytest.raises(ConfigError) as caught:
        services.satellites  # noqa: B018
    assert "satellite connections are not open" in caught.value.message
    assert "nexus serve" in (caught.value.hint or "")


class RecordingMeasurement(ServiceMeasurement):
    """The real measurement, noting what the runtime had open when it was opened and closed."""

    def __init__(self, runtime: NexusRuntime, seen: list[str]) -> None:
        super().__init__(runtime)
        self._runtime, self._seen = runtime, seen

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Any]:
        pool = self._runtime.satellites
        self._seen.append(f"measure opens; pool knows {sorted(pool.records)}")
        async with super().running() as observer:
            yield observer
        self._seen.append(f"measure closes; pool open {pool._tg is not None}")


async def test_every_part_is_built_before_opening_and_opened_in_order(settings: Settings, make_app: MakeApp) -> None:
    seen: list[str] = []
    with open_core(settings) as core:
        await core.registry.register(make_app("quote-engine", status="approved"), "owner")

        def planner(runtime: NexusRuntime) -> Any:
            seen.append(f"planner built; pool {runtime.pool is not None}, observer {runtime.observer is not None}")
            return planner_from_settings(runtime)

        runtime = NexusRuntime(core, monitor=True, measure=lambda rt: RecordingMeasurement(rt, seen), planner=planner)
        # Built, not yet open: every part is there and nothing will be assigned later.
        assert runtime.pool is not None and runtime.webhook_secrets is not None
        assert isinstance(runtime.planner, Planner) and runtime.observer is not None
        assert runtime.pool.observer == runtime.observer.satellite_call  # the pool reports its calls
        assert seen == ["planner built; pool True, observer True"]
        async with runtime:
            # The pool was opened and synced to the registry before the measurement opened.
            assert seen[-1] == "measure opens; pool knows ['quote-engine']"
            with pytest.raises(RuntimeError):
                await runtime.__aenter__()
        # The measurement closed before the pool did.
        assert seen[-1] == "measure closes; pool open True"
        assert runtime.pool._tg is None  # and the pool is closed now


async def test_open_services_hands_the_planner_to_the_runtime_once(settings: Settings) -> None:
    built: list[NexusRuntime] = []

    def planner(runtime: NexusRuntime) -> Planner:
        built.append(runtime)
        return planner_from_settings(runtime)

    async with open_services(settings, satellites=False, planner=planner) as services:
        assert built == [services] and services.planner is not None
        assert runtime_planner(services) is services.planner  # what the plan_* tools call
        result = await services.planner.run("What do you remember about scaffolding hire?")
        assert result.status == "succeeded" and (await services.planner.get(result.plan_id)).plan_id == result.plan_id
    assert len(built) == 1
