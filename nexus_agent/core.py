"""The frozen core of one Nexus process: its stores, built once and never reassigned.

:class:`NexusCore` holds what every Nexus process has, CLI one-shot or server alike:
the settings, the SQLite database (migrated), memory, the registry, the truth source,
the event outbox, the satellite secrets and the configured secret values, and the
instruction service over them. :func:`open_core` builds it eagerly and closes it.
The live parts (satellite pool, dispatcher, health monitor, planner, ops observer)
belong to :class:`nexus_agent.runtime.NexusRuntime`, which stands on a core.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from memory.database import Database
from memory.schema import MIGRATIONS as MEMORY_MIGRATIONS
from memory.store import MemoryStore, SqliteMemoryStore
from nexus_agent.auth.keys import AUTH_MIGRATIONS
from nexus_agent.config import Settings, known_secrets
from nexus_agent.events import EVENTS_MIGRATIONS, Outbox
from nexus_agent.flows import FLOW_MIGRATIONS, InstructionService, Notify
from nexus_agent.ops.schema import OPS_MIGRATIONS  # tables only: no upward import
from nexus_agent.registry import REGISTRY_MIGRATIONS, Registry, SqliteRegistry
from nexus_agent.registry_policy import EndpointPolicy
from nexus_agent.truth import TruthSource, open_truth_source, push_app
from nexus_agent.wire.errors import Conflict, NexusError
from nexus_agent.wire.models import AppRecord
from nexus_agent.wire.secret_env import SatelliteSecrets
from nexus_agent.wire.secret_guard import KnownSecrets

if TYPE_CHECKING:  # loaded only on demand (PostgreSQL: psycopg costs ~0.5 s of every start)
    from nexus_agent.services_pg import SharedStores

__all__ = ["ALL_MIGRATIONS", "NexusCore", "open_core", "open_database", "outbox_notify"]

log = logging.getLogger("nexus.services")

ALL_MIGRATIONS = (
    MEMORY_MIGRATIONS,
    REGISTRY_MIGRATIONS,
    FLOW_MIGRATIONS,
    EVENTS_MIGRATIONS,
    OPS_MIGRATIONS,
    AUTH_MIGRATIONS,
)


@dataclass(frozen=True)
class NexusCore:
    """Everything of a process that is not live: built by :func:`open_core`, never reassigned."""

    settings: Settings
    database: Database
    memory: MemoryStore
    registry: Registry
    truth: TruthSource
    outbox: Outbox
    #: How instruction notices leave: the durable outbox (:func:`outbox_notify`) unless the edge gives another.
    notify: Notify
    #: The one instruction service of the process (create, deliver, follow up, list).
    instructions: InstructionService
    #: The only variables satellites' tokens and webhook secrets are read from (resolved by the CLI).
    secrets: SatelliteSecrets = field(default_factory=SatelliteSecrets)
    #: The exact values of every configured secret (``nexus_agent.config.known_secrets``): the guard
    #: refuses or redacts them in tool results, memory, the registry and logs.
    known_secrets: KnownSecrets = field(default_factory=KnownSecrets)
    #: The PostgreSQL stores (``nexus_agent.services_pg.SharedStores``) when NEXUS_DATABASE_URL is set; else None.
    shared: SharedStores | None = None
    started_at: float = field(default_factory=time.monotonic)

    def uptime_s(self) -> float:
        return time.monotonic() - self.started_at

    @property
    def keys_database(self) -> Any:
        """The database holding the API keys: PostgreSQL (every replica's) when shared, else the SQLite file."""
        return self.shared.database if self.shared is not None else self.database

    async def publish_app(self, record: AppRecord, *, actor: str, reason: str = "") -> str | None:
        """Write the app's registry file to the truth source; a problem is returned as a note, not raised.

        The registry has already committed; `nexus registry sync` repairs a truth source that lagged.
        """
        try:
            await push_app(self.truth, record, actor=actor, reason=reason)
        except NexusError as exc:
            log.warning("truth source not updated for %s: %s", record.slug, exc.message)
            return f"the truth source was not updated ({exc.message}); run `nexus registry sync --direction push`"
        return None

    def close(self) -> None:
        """Close the databases (the truth source closes asynchronously: ``await core.truth.aclose()``)."""
        try:
            if self.shared is not None:
                self.shared.close()
        finally:
            self.database.close()


def open_database(settings: Settings) -> Database:
    database = Database(settings.db_path, sync=settings.db_sync, busy_timeout_ms=settings.busy_timeout_ms)
    try:
        database.migrate(ALL_MIGRATIONS)
    except BaseException:
        database.close()
        raise
    return database


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


def core_over(
    settings: Settings,
    database: Database,
    *,
    known: KnownSecrets | None = None,
    secrets: SatelliteSecrets | None = None,
    notify: Notify | None = None,
) -> NexusCore:
    """A core over an open, migrated ``database`` (the caller closes it; :func:`open_core` does both).

    ``known``: the configured secret values (default: those in ``settings``; the edge adds the
    environment's). ``notify``: how instruction notices leave (default: the event outbox).
    """
    known = known if known is not None else known_secrets(settings)
    shared = None
    if settings.database_url is not None:  # NEXUS_DATABASE_URL: memory and registry on PostgreSQL
        from nexus_agent.services_pg import open_shared_stores  # psycopg loads only then (~0.5 s of every start)

        shared = open_shared_stores(settings, known)
    try:
        return _core(settings, database, shared, known=known, secrets=secrets, notify=notify)
    except BaseException:
        if shared is not None:
            shared.close()
        raise


def _core(
    settings: Settings,
    database: Database,
    shared: SharedStores | None,
    *,
    known: KnownSecrets,
    secrets: SatelliteSecrets | None,
    notify: Notify | None,
) -> NexusCore:
    memory: MemoryStore = shared.memory if shared else SqliteMemoryStore(database, known_secrets=known)
    registry: Registry = (
        shared.registry
        if shared
        else SqliteRegistry(database, policy=EndpointPolicy.from_settings(settings), known_secrets=known)
    )
    truth = open_truth_source(settings.truth, known_secrets=known)
    outbox = shared.outbox if shared else Outbox(database, known_secrets=known)  # PostgreSQL: one outbox for all
    notify = notify or outbox_notify(outbox)
    return NexusCore(
        settings=settings,
        database=database,
        memory=memory,
        registry=registry,
        truth=truth,
        outbox=outbox,
        notify=notify,
        instructions=InstructionService(shared.database if shared else database, truth, registry, memory, notify),
        secrets=secrets if secrets is not None else SatelliteSecrets(allow=settings.secret_env_allow),
        known_secrets=known,
        shared=shared,
    )


@contextlib.contextmanager
def open_core(
    settings: Settings,
    *,
    secrets: Mapping[str, str] | None = None,
    known: KnownSecrets | None = None,
    notify: Notify | None = None,
) -> Iterator[NexusCore]:
    """Open the database (migrated) and build the core over it; close both on the way out.

    ``secrets``: the satellite variables the CLI resolved (tokens and webhook secrets are read
    only from there); ``known`` defaults to every secret value in ``settings`` and ``secrets``.
    """
    known = known if known is not None else known_secrets(settings, secrets)
    satellite_secrets = SatelliteSecrets(secrets or {}, allow=settings.secret_env_allow)
    database = open_database(settings)
    try:
        core = core_over(settings, database, known=known, secrets=satellite_secrets, notify=notify)
    except BaseException:
        database.close()
        raise
    try:
        yield core
    finally:
        core.close()
