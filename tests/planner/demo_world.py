"""The demo world for planner evaluation: the demo's five satellites in process, Nexus's own tools,
a registry that also holds apps nobody can call yet, and memory seeded per instruction.

Shared by ``tests/planner`` and ``benchmarks/planner_accuracy.py``. Satellite tools are listed and called
through each kit satellite's real MCP server object (schemas, annotations and argument validation as the
satellite serves them), without a transport.
"""

from __future__ import annotations

import functools
import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from memory.database import Database
from memory.store import SqliteMemoryStore
from nexus_agent.demo._data import sample_book
from nexus_agent.demo.satellites import build_satellites
from nexus_agent.planner import OfflineModel, Planner, PlannerModel, ToolDescriptor, ToolOutcome, build_planner
from nexus_agent.registry import SqliteRegistry
from nexus_agent.services import ALL_MIGRATIONS
from nexus_agent.wire.models import AppRecord, AppStatus
from satellite_template import Satellite

HERE = Path(__file__).parent

#: Apps in the registry whose tools nobody can reach (registry questions may name them; actions cannot use them).
REGISTRY_ONLY: list[dict[str, Any]] = [
    {"slug": "stock-ledger", "name": "Stock Ledger", "category": "inventory", "status": "approved",
     "description": "Tracks aluminium extrusion, glass and hardware stock across two yards.",
     "capabilities": ["Stock levels per yard", "Reservations against orders", "Low-stock alerts"]},
    {"slug": "site-survey", "name": "Site Survey Companion", "category": "operations", "status": "pending",
     "description": "Books surveys and captures measurements.",
     "capabilities": ["Book site surveys", "Capture measurements and photos on site"]},
    {"slug": "fabrication-scheduler", "name": "Fabrication Scheduler", "category": "operations",
     "status": "placeholder", "description": "Plans workshop fabrication slots (planned).",
     "capabilities": ["Fabrication slot planning", "Workshop capacity"]},
    {"slug": "glazing-portal", "name": "Glazing Legacy Portal", "category": "operations", "status": "suspended",
     "description": "Old glazing order portal, being retired.", "capabilities": ["Glazing orders"]},
]  # fmt: skip


@dataclass
class DemoSatelliteProvider:
    """The demo satellites as a planner ``ToolProvider``, called through their MCP server objects."""

    sats: list[Satellite]
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_slug = {s.slug: s for s in self.sats}

    async def descriptors(self) -> list[ToolDescriptor]:
        out: list[ToolDescriptor] = []
        for sat in self.sats:
            record = sat.app_record("http://127.0.0.1:9", status=AppStatus.active)
            for tool in await sat.mcp_server.list_tools():
                hints = tool.annotations
                out.append(
                    ToolDescriptor(
                        name=f"{sat.slug}__{tool.name}",
                        description=tool.description or "",
                        input_schema=tool.input_schema,
                        read_only=bool(hints and hints.read_only_hint),
                        idempotent=bool(hints and hints.idempotent_hint),
                        destructive=bool(hints is None or hints.destructive_hint is not False),
                        source=sat.slug,
                        app_capabilities=tuple(record.capability_names()),
                    )
                )
        return out

    def is_available(self, name: str) -> bool | str:
        return True if name.split("__", 1)[0] in self._by_slug else f"no satellite offers {name!r}"

    async def call(self, name: str, arguments: Mapping[str, Any]) -> ToolOutcome:
        slug, tool = name.split("__", 1)
        self.calls.append((name, dict(arguments)))
        result = await self._by_slug[slug].mcp_server.call_tool(tool, dict(arguments))
        text = "\n".join(getattr(c, "text", "") for c in getattr(result, "content", []))
        if getattr(result, "is_error", False):
            return ToolOutcome(ok=False, error=text)
        structured = getattr(result, "structured_content", None)
        return ToolOutcome(ok=True, content=structured if structured else text)


def _at(when: datetime) -> datetime:
    return when


async def _no_sync(**_: Any) -> None:
    """The demo world has no satellite pool to re-sync."""


def records(sats: list[Satellite]) -> list[AppRecord]:
    live = [s.app_record("http://127.0.0.1:9", status=AppStatus.active) for s in sats]
    return live + [AppRecord.model_validate(r) for r in REGISTRY_ONLY]


@dataclass
class World:
    planner: Planner
    provider: DemoSatelliteProvider
    services: Any
    database: Database


async def open_world(
    now: datetime,
    *,
    home: Path | None = None,
    notes: Sequence[Mapping[str, str]] = (),
    model: PlannerModel | None = None,
) -> World:
    """A fresh demo world at ``now`` (a new database under ``home``); ``notes`` are seeded with their dates."""
    home = home or Path(tempfile.mkdtemp(prefix="nexus-world-"))
    database = Database(home / "nexus.db", sync="normal")
    database.migrate(ALL_MIGRATIONS)
    registry = SqliteRegistry(database)
    sats = build_satellites(sample_book(now.date()))
    for record in records(sats):
        registry.register_sync(record, actor="test")  # type: ignore[attr-defined]
    for note in notes:
        when = datetime.fromisoformat(note["date"]).replace(tzinfo=now.tzinfo)
        seeding = SqliteMemoryStore(database, clock=functools.partial(_at, when))
        await seeding.add_note({"text": note["text"], "author": "owner"})
    memory = SqliteMemoryStore(database, clock=lambda: now)
    services = SimpleNamespace(
        database=database,
        memory=memory,
        registry=registry,
        settings=None,
        pool=None,
        shared=None,
        uptime_s=lambda: 0.0,
        sync_satellites=_no_sync,
    )
    provider = DemoSatelliteProvider(sats)
    planner = build_planner(services, model=model or OfflineModel(clock=lambda: now), providers=[provider])
    return World(planner, provider, services, database)


def load_set(name: str) -> dict[str, Any]:
    return json.loads((HERE / name).read_text(encoding="utf-8"))


def today_of(data: Mapping[str, Any]) -> date:
    return datetime.fromisoformat(data["now"]).date()
