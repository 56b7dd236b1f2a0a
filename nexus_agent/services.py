"""The services one Nexus process runs on, opened and closed by a lifespan.

``open_services(settings)`` opens the database, applies migrations, builds the
memory store and registry and (for a server) the satellite pool with its health
monitor. The MCP server, the HTTP app and the CLI all get their parts from the
:class:`NexusServices` it yields; nothing is global.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import httpx

from memory.database import Database
from memory.models import NoteIn
from memory.schema import MIGRATIONS as MEMORY_MIGRATIONS
from memory.store import MemoryStore, SqliteMemoryStore
from nexus_agent.auth.keys import AUTH_MIGRATIONS
from nexus_agent.config import Settings, known_secrets
from nexus_agent.events import EVENTS_MIGRATIONS, Outbox, OutboxEntry, WebhookSecrets, dispatching
from nexus_agent.flows import FLOW_MIGRATIONS, InstructionService, Notify
from nexus_agent.ops.schema import OPS_MIGRATIONS  # tables only: no upward import
from nexus_agent.outbound import OutboundPolicy, httpx_client
from nexus_agent.registry import REGISTRY_MIGRATIONS, Registry, SqliteRegistry
from nexus_agent.registry_policy import EndpointPolicy
from nexus_agent.satellites import HealthMonitor, PoolSettings, SatellitePool
from nexus_agent.truth import TruthSource, open_truth_source, push_app
from nexus_agent.wire.errors import ConfigError, Conflict, NexusError, NotFound
from nexus_agent.wire.models import AppRecord, AppStatus
from nexus_agent.wire.secret_env import SatelliteSecrets
from nexus_agent.wire.secret_guard import KnownSecrets

if TYPE_CHECKING:  # modules above the runtime (ops, planner) or loaded only on demand (PostgreSQL): types only
    from nexus_agent.ops.observer import OpsObserver
    from nexus_agent.planner.models import PlanRunner
    from nexus_agent.services_pg import SharedStores

__all__ = [
    "ALL_MIGRATIONS",
    "NexusServices",
    "open_database",
    "open_services",
    "open_services_sync",
    "services_from_database",
]

log = logging.getLogger("nexus.services")

ALL_MIGRATIONS = (
    MEMORY_MIGRATIONS,
    REGISTRY_MIGRATIONS,
    FLOW_MIGRATIONS,
    EVENTS_MIGRATIONS,
    OPS_MIGRATIONS,
    AUTH_MIGRATIONS,
)
HEALTH_ACTOR = "nexus-health-monitor"
INSTRUCTION_EVENT = "instruction.created"
#: How stale the satellite pool may be against the registry (another process may have changed it).
REGISTRY_RECHECK_S = 5.0


async def _no_notify(event: str, target: AppRecord, data: dict[str, Any]) -> str:
    raise ConfigError(
        "no event outbox is connected, so satellites cannot be notified yet",
        hint="Run `nexus serve`, or `nexus events dispatch`.",
    )


@dataclass
class NexusServices:
    settings: Settings
    database: Database
    memory: MemoryStore
    registry: Registry
    truth: TruthSource | None = None
    outbox: Outbox | None = None
    webhook_secrets: WebhookSecrets | None = None
    pool: SatellitePool | None = None
    #: The only variables satellites' tokens and webhook secrets are read from (resolved by the CLI).
    secrets: SatelliteSecrets = field(default_factory=SatelliteSecrets)
    #: Sends an instruction notice to a satellite (the event outbox); None: instructions stay pending.
    notify: Notify | None = None
    instructions: InstructionService | None = None
    #: The exact values of every configured secret (``nexus_agent.config.known_secrets``): the guard
    #: refuses or redacts them in tool results, memory, the registry and logs.
    known_secrets: KnownSecrets = field(default_factory=KnownSecrets)
    #: The planner (``nexus_agent.planner.Planner``), set by the edge that builds it
    #: (``nexus_agent.planner.build.attach_planner``); None in processes that plan nothing.
    planner: PlanRunner | None = None
    #: ``nexus_agent.ops.observer.OpsObserver`` when this process measures itself (the HTTP server); else None.
    observer: OpsObserver | None = None
    #: The PostgreSQL stores (``nexus_agent.services_pg.SharedStores``) when NEXUS_DATABASE_URL is set; else None.
    shared: SharedStores | None = None
    started_at: float = field(default_factory=time.monotonic)
    registry_synced_at: float = 0.0

    def uptime_s(self) -> float:
        return time.monotonic() - self.started_at

    @property
    def keys_database(self) -> Any:
        """The database holding the API keys: PostgreSQL (every replica's) when shared, else the SQLite file."""
        return self.shared.database if self.shared is not None else self.database

    @property
    def satellites(self) -> SatellitePool:
        if self.pool is None:
            raise ConfigError(
                "satellite connections are not open in this process",
                hint="Satellite tools run inside `nexus serve`; start the server and call them through it.",
            )
        return self.pool

    async def sync_satellites(self, *, max_age_s: float = 0.0) -> None:
        """Make the satellite pool match the registry (other processes may have changed it)."""
        if self.pool is None or time.monotonic() - self.registry_synced_at < max_age_s:
            return
        records = await self.registry.all()
        await self.pool.sync_apps(records, commands=await self.registry.trusted_commands())
        if self.webhook_secrets is not None:
            self.webhook_secrets.update(records)
        self.registry_synced_at = time.monotonic()

    async def registry_changed_elsewhere(self, slug: str) -> None:
        """A replica wrote the shared registry (NOTIFY): re-read it and tell this replica's clients."""
        await self.sync_satellites()
        if self.pool is not None:
            self.pool.announce_tools_changed()

    async def publish_app(self, record: AppRecord, *, actor: str, reason: str = "") -> str | None:
        """Write the app's registry file to the truth source; a problem is returned as a note, not raised.

        The SQLite registry has already committed; `nexus registry sync` repairs a truth source that lagged.
        """
        if self.truth is None:
            return None
        try:
            await push_app(self.truth, record, actor=actor, reason=reason)
        except NexusError as exc:
            log.warning("truth source not updated for %s: %s", record.slug, exc.message)
            return f"the truth source was not updated ({exc.message}); run `nexus registry sync --direction push`"
        return None

    def instruction_service(self) -> InstructionService | None:
        """The instruction flow over these services (None without a truth source)."""
        if self.instructions is None and self.truth is not None:
            self.instructions = InstructionService(
                self.database, self.truth, self.registry, self.memory, self.notify or _no_notify
            )
        return self.instructions

    async def after_delivery(self, entry: OutboxEntry) -> None:
        """A satellite answered an instruction notice with 2xx: its webhook handler has the instruction."""
        if entry.event != INSTRUCTION_EVENT:
            return
        service = self.instruction_service()
        if service is None:
            return
        # Already acknowledged, reported or expired (Conflict), or not an instruction of ours (NotFound).
        with contextlib.suppress(Conflict, NotFound):
            await service.acknowledge(entry.delivery_id, by=entry.target, reason="the satellite accepted the notice")

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


def open_database(settings: Settings) -> Database:
    database = Database(settings.db_path, sync=settings.db_sync, busy_timeout_ms=settings.busy_timeout_ms)
    try:
        database.migrate(ALL_MIGRATIONS)
    except BaseException:
        database.close()
        raise
    return database


def services_from_database(
    settings: Settings, database: Database, *, known: KnownSecrets | None = None
) -> NexusServices:
    """``known``: the configured secret values (default: those in ``settings``; the edge adds the environment's)."""
    known = known if known is not None else known_secrets(settings)
    shared = None
    if settings.database_url is not None:  # NEXUS_DATABASE_URL: memory and registry on PostgreSQL
        from nexus_agent.services_pg import open_shared_stores  # psycopg loads only then (~0.5 s of every start)

        shared = open_shared_stores(settings, known)
    services = NexusServices(
        settings=settings,
        database=database,
        memory=shared.memory if shared else SqliteMemoryStore(database, known_secrets=known),
        registry=shared.registry
        if shared
        else SqliteRegistry(database, policy=EndpointPolicy.from_settings(settings), known_secrets=known),
        truth=open_truth_source(settings.truth, known_secrets=known),
        outbox=Outbox(database, known_secrets=known),
        shared=shared,
    )
    assert services.outbox is not None
    services.known_secrets = known
    services.notify = outbox_notify(services.outbox)
    return services


def outbox_notify(outbox: Outbox) -> Notify:
    """Instruction notices go through the durable outbox (delivery id = instruction id, so idempotent)."""

    async def notify(event: str, target: AppRecord, data: dict[str, Any]) -> str:
        if target.endpoints.webhook_url is None:
            raise Conflict(
                f"{target.slug} has no webhook_url, so it cannot be notified",
                hint="Register the app with endpoints.webhook_url, or let it poll instructions from the truth source.",
            )
        delivery_id = data.get("instruction_id") or data.get("id")
        entry = await outbox.enqueue(
            event, target.slug, str(target.endpoints.webhook_url), data, delivery_id=delivery_id
        )
        return entry.delivery_id

    return notify


@contextlib.contextmanager
def open_services_sync(settings: Settings, *, known: KnownSecrets | None = None) -> Iterator[NexusServices]:
    """Database, memory and registry only (CLI commands, tests): no satellite connections."""
    database = open_database(settings)
    services = None
    try:
        services = services_from_database(settings, database, known=known)
        yield services
    finally:
        if services is not None and services.shared is not None:
            services.shared.close()
        database.close()


@contextlib.asynccontextmanager
async def open_services(
    settings: Settings,
    *,
    secrets: Mapping[str, str] | None = None,
    satellites: bool = True,
    monitor: bool = False,
    pool_settings: PoolSettings | None = None,
) -> AsyncIterator[NexusServices]:
    """Lifespan of everything a Nexus process needs; closes in reverse order.

    ``secrets`` is the mapping satellite tokens are read from (``endpoints.token_env``);
    the CLI passes the environment. ``monitor`` starts the satellite health monitor.
    """
    with open_services_sync(settings, known=known_secrets(settings, secrets)) as services:
        services.secrets = SatelliteSecrets(secrets or {}, allow=settings.secret_env_allow)
        try:
            if satellites:
                async with _satellite_pool(services, secrets, monitor, pool_settings):
                    yield services
            else:
                yield services
        finally:
            if services.truth is not None:
                with anyio.CancelScope(shield=True):
                    await services.truth.aclose()


def pool_settings_from(settings: Settings) -> PoolSettings:
    """The satellite pool's tuning: ``Settings.pool`` (listing and call deadlines are independent)."""
    return settings.pool


@contextlib.asynccontextmanager
async def _satellite_pool(
    services: NexusServices, secrets: Mapping[str, str] | None, monitor: bool, pool_settings: PoolSettings | None
) -> AsyncIterator[None]:
    settings = services.settings
    allowed = services.secrets  # the app's own variables and allow-listed ones; nothing else is ever read
    outbound = OutboundPolicy.from_settings(settings)
    pool = SatellitePool(
        await services.registry.all(),
        secrets=allowed,
        settings=pool_settings or pool_settings_from(settings),
        outbound=outbound,
        commands=await services.registry.trusted_commands(),
        known_secrets=services.known_secrets,
    )
    async with pool, anyio.create_task_group() as tg:
        services.pool = pool
        services.registry_synced_at = time.monotonic()
        if monitor:
            tg.start_soon(HealthMonitor(pool, on_change=services.record_health_change).run)
        if monitor and services.shared is not None:  # another replica's registry writes reach this one at once
            from nexus_agent.services_pg import follow_registry

            tg.start_soon(follow_registry, services.shared.database.url, services.registry_changed_elsewhere)
        try:
            if monitor and services.outbox is not None:
                # A server dispatches the outbox; one-shot CLI commands only enqueue.
                services.webhook_secrets = WebhookSecrets(allowed, await services.registry.all())
                async with (
                    httpx_client(outbound, limits=httpx.Limits(max_connections=16)) as http,
                    dispatching(
                        services.outbox, services.webhook_secrets, http=http, on_delivered=services.after_delivery
                    ),
                ):
                    yield
            else:
                yield
        finally:
            tg.cancel_scope.cancel()
            services.pool = None
