"""The runtime of one Nexus process: a frozen core plus the live parts, as one async context manager.

:class:`NexusRuntime` builds every part in ``__init__`` (the satellite pool, the health
monitor, the outbox dispatcher and its HTTP client, the ops observer, the planner) and
opens them in that order in ``__aenter__``; ``__aexit__`` closes them in reverse, the
way ``httpx.AsyncClient`` or a Starlette lifespan does. Nothing is assigned later: the
edge hands the planner and the ops measurement in as factories, which are called once,
in ``__init__``, with the runtime built so far. A process without satellites (a CLI
one-shot) has no live part to open, and its ``satellites`` says so with a ConfigError.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import httpx

from memory.database import Database
from memory.models import NoteIn
from memory.store import MemoryStore
from nexus_agent.config import Settings
from nexus_agent.core import NexusCore
from nexus_agent.events import Dispatcher, Outbox, OutboxEntry, WebhookSecrets, dispatch_timing
from nexus_agent.events.app_event_notices import AppEventNotices
from nexus_agent.flows import InstructionService, Notify
from nexus_agent.outbound import OutboundPolicy, httpx_client
from nexus_agent.registry import Registry
from nexus_agent.satellites import HealthMonitor, PoolSettings, SatellitePool
from nexus_agent.truth import TruthSource
from nexus_agent.wire.errors import ConfigError, Conflict, NexusError, NotFound
from nexus_agent.wire.models import AppRecord, AppStatus
from nexus_agent.wire.secret_env import SatelliteSecrets
from nexus_agent.wire.secret_guard import KnownSecrets

if TYPE_CHECKING:  # modules above the runtime (ops, planner) or loaded only on demand (PostgreSQL): types only
    from nexus_agent.ops.observer import OpsObserver
    from nexus_agent.planner.models import PlanRunner
    from nexus_agent.services_pg import SharedStores

__all__ = [
    "HEALTH_ACTOR",
    "INSTRUCTION_EVENT",
    "REGISTRY_RECHECK_S",
    "Measurement",
    "MeasurementFactory",
    "NexusRuntime",
    "PlannerFactory",
]

log = logging.getLogger("nexus.services")

HEALTH_ACTOR = "nexus-health-monitor"
INSTRUCTION_EVENT = "instruction.created"
#: How stale the satellite pool may be against the registry (another process may have changed it).
REGISTRY_RECHECK_S = 5.0


class Measurement(Protocol):
    """The ops observer of a runtime and what keeps its call log written (``nexus_agent.ops.measure``)."""

    @property
    def observer(self) -> OpsObserver: ...

    def running(self) -> AbstractAsyncContextManager[object]: ...


#: Builds the planner over the runtime built so far (``nexus_agent.planner.build.planner_from_settings``).
PlannerFactory = Callable[["NexusRuntime"], "PlanRunner"]
#: Builds the measurement over the runtime built so far (``nexus_agent.ops.measure.measurement``).
MeasurementFactory = Callable[["NexusRuntime"], Measurement]


class NexusRuntime:
    """A :class:`NexusCore` and the live parts of one process; ``async with`` opens and closes them.

    ``satellites``: open the satellite pool (servers, ``nexus ask``); ``monitor``: a server's parts
    too (health monitor, outbox dispatcher, PostgreSQL registry notices). ``measure`` and ``planner``
    are built here, after the pool, so the planner sees the pool and the observer.
    """

    def __init__(
        self,
        core: NexusCore,
        *,
        satellites: bool = True,
        monitor: bool = False,
        pool_settings: PoolSettings | None = None,
        measure: MeasurementFactory | None = None,
        planner: PlannerFactory | None = None,
    ) -> None:
        self.core = core
        self._synced_at = 0.0
        self._stack: contextlib.AsyncExitStack | None = None
        self._app_events = AppEventNotices()
        outbound = OutboundPolicy.from_settings(core.settings)
        self._pool = (
            SatellitePool(
                secrets=core.secrets,  # each app's own variables and allow-listed ones; nothing else is ever read
                settings=pool_settings or core.settings.pool,
                outbound=outbound,
                known_secrets=core.known_secrets,
            )
            if satellites
            else None
        )
        live = monitor and self._pool is not None
        self._monitor = HealthMonitor(self._pool, on_change=self.record_health_change) if live and self._pool else None
        self._webhook_secrets = WebhookSecrets(core.secrets) if live else None
        # A server dispatches the outbox; one-shot CLI commands only enqueue.
        self._http = httpx_client(outbound, limits=httpx.Limits(max_connections=16)) if live else None
        self._dispatcher = (
            Dispatcher(
                core.outbox,
                self._webhook_secrets,
                self._http,
                on_delivered=self.after_delivery,
                **dispatch_timing(core.settings.outbox_lease_s),
            )
            if self._http is not None and self._webhook_secrets is not None
            else None
        )
        self._measurement = measure(self) if measure is not None else None
        if self._pool is not None and self._measurement is not None:
            self._pool.observer = self._measurement.observer.satellite_call
        self._planner = planner(self) if planner is not None else None

    # -- the core's parts ----------------------------------------------------------------------------
    @property
    def settings(self) -> Settings:
        return self.core.settings

    @property
    def database(self) -> Database:
        return self.core.database

    @property
    def memory(self) -> MemoryStore:
        return self.core.memory

    @property
    def registry(self) -> Registry:
        return self.core.registry

    @property
    def truth(self) -> TruthSource:
        return self.core.truth

    @property
    def outbox(self) -> Outbox:
        return self.core.outbox

    @property
    def notify(self) -> Notify:
        return self.core.notify

    @property
    def instructions(self) -> InstructionService:
        return self.core.instructions

    @property
    def secrets(self) -> SatelliteSecrets:
        return self.core.secrets

    @property
    def known_secrets(self) -> KnownSecrets:
        return self.core.known_secrets

    @property
    def shared(self) -> SharedStores | None:
        return self.core.shared

    @property
    def keys_database(self) -> Any:
        return self.core.keys_database

    @property
    def started_at(self) -> float:
        return self.core.started_at

    def uptime_s(self) -> float:
        return self.core.uptime_s()

    async def publish_app(self, record: AppRecord, *, actor: str, reason: str = "") -> str | None:
        return await self.core.publish_app(record, actor=actor, reason=reason)

    # -- the live parts --------------------------------------------------------------------------------
    @property
    def pool(self) -> SatellitePool | None:
        """The satellite pool; None in a process that opens no satellite connections."""
        return self._pool

    @property
    def satellites(self) -> SatellitePool:
        if self._pool is None:
            raise ConfigError(
                "satellite connections are not open in this process",
                hint="Satellite tools run inside `nexus serve`; start the server and call them through it.",
            )
        return self._pool

    @property
    def webhook_secrets(self) -> WebhookSecrets | None:
        """The satellites' webhook secrets; None in a process that dispatches no webhooks."""
        return self._webhook_secrets

    @property
    def app_events(self) -> AppEventNotices:
        """Which apps have new events (legacy apps' webhooks), posted to this replica or, on PostgreSQL, any."""
        return self._app_events

    @property
    def observer(self) -> OpsObserver | None:
        """The ops observer when this process measures itself; else None."""
        return self._measurement.observer if self._measurement is not None else None

    @property
    def planner(self) -> PlanRunner | None:
        """The planner the edge gave this runtime; None in processes that plan nothing."""
        return self._planner

    # -- lifecycle ---------------------------------------------------------------------------------------
    async def __aenter__(self) -> NexusRuntime:
        if self._stack is not None:
            raise RuntimeError("NexusRuntime is already open")
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(self._close_truth)
            await self._open_live_parts(stack)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        stack, self._stack = self._stack, None
        assert stack is not None, "NexusRuntime was not open"
        return await stack.__aexit__(exc_type, exc, tb)

    async def _open_live_parts(self, stack: contextlib.AsyncExitStack) -> None:
        """Pool (synced to the registry), monitor and notices, dispatcher, measurement: in that order."""
        if self._pool is not None:
            await stack.enter_async_context(self._pool)
            await self.sync_satellites()
        tg = await stack.enter_async_context(anyio.create_task_group())
        stack.callback(tg.cancel_scope.cancel)  # runs first on the way out: the background tasks stop
        if self._monitor is not None:
            tg.start_soon(self._monitor.run)
            if self.shared is not None:  # another replica's registry writes reach this one at once
                from nexus_agent.services_pg import follow_registry

                url, outbox = self.shared.database.url, self.core.outbox  # queued on any replica: dispatch now
                notices = self._app_events  # a legacy app's event posted to any replica: announce it here too
                tg.start_soon(
                    lambda: follow_registry(
                        url,
                        self.registry_changed_elsewhere,
                        on_outbox=outbox.wake,
                        on_app_event=notices.heard,
                        on_app_events_missed=notices.missed,
                    )
                )
        if self._dispatcher is not None and self._http is not None:
            await stack.enter_async_context(self._http)
            await tg.start(self._dispatcher.run)
        if self._measurement is not None:
            await stack.enter_async_context(self._measurement.running())

    async def _close_truth(self) -> None:
        with anyio.CancelScope(shield=True):
            await self.core.truth.aclose()

    # -- what the live parts call back -----------------------------------------------------------------------
    async def sync_satellites(self, *, max_age_s: float = 0.0) -> None:
        """Make the satellite pool match the registry (other processes may have changed it)."""
        if self._pool is None or time.monotonic() - self._synced_at < max_age_s:
            return
        records = await self.registry.all()
        await self._pool.sync_apps(records, commands=await self.registry.trusted_commands())
        if self._webhook_secrets is not None:
            self._webhook_secrets.update(records)
        self._synced_at = time.monotonic()

    async def registry_changed_elsewhere(self, slug: str) -> None:
        """A replica wrote the shared registry (NOTIFY): re-read it and tell this replica's clients."""
        await self.sync_satellites()
        if self._pool is not None:
            self._pool.announce_tools_changed()

    async def after_delivery(self, entry: OutboxEntry) -> None:
        """A satellite answered an instruction notice with 2xx: its webhook handler has the instruction."""
        if entry.event != INSTRUCTION_EVENT:
            return
        # Already acknowledged, reported or expired (Conflict), or not an instruction of ours (NotFound).
        with contextlib.suppress(Conflict, NotFound):
            await self.instructions.acknowledge(
                entry.delivery_id, by=entry.target, reason="the satellite accepted the notice"
            )

    async def record_health_change(self, slug: str, old: AppStatus, new: AppStatus, detail: str) -> None:
        """Health monitor callback: registry status (who/why) and a memory note."""
        try:
            await self.registry.set_status(slug, new, actor=HEALTH_ACTOR, reason=detail or "health check")
        except NexusError as exc:
            log.warning("could not record %s -> %s for %s: %s", old.value, new.value, slug, exc.message)
            return
        await self.publish_app(await self.registry.get(slug), actor=HEALTH_ACTOR, reason=detail)
        await self.memory.add_note(
            NoteIn(
                title=f"{slug} is {new.value}",
                text=f"Health check moved {slug} from {old.value} to {new.value}: {detail}",
                author=HEALTH_ACTOR,
                apps=[slug],
                tags=["health"],
            )
        )
        await self.sync_satellites()
