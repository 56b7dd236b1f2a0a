"""Steps 2 and 3 of the loop: recall (registry, memory) and select the tools to offer.

The catalogue is every tool the providers list, each satellite tool carrying
its app's registry status and capabilities. Memory is searched one key word at
a time (a memory search needs every word to match) for earlier decisions and
notes; the planner's own step logs are left out. The model is offered the top-k
tools that can be called now; apps that would have made the cut but cannot be
called (circuit open, suspended) are named in the context instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from memory.models import SearchHit
from memory.store import MemoryStore
from nexus_agent.auth import Principal
from nexus_agent.planner.catalogue import Catalogue, ToolDescriptor, ToolProvider
from nexus_agent.planner.coverage import AppInfo, Portfolio
from nexus_agent.planner.entities import proper_nouns
from nexus_agent.planner.intent import asks_memory, read
from nexus_agent.planner.portfolio import portfolio_call
from nexus_agent.planner.roles import catalogue_for
from nexus_agent.planner.selection import RankedTool, ToolSelector
from nexus_agent.planner.text import terms
from nexus_agent.planner.validation import UNCALLABLE_STATUSES
from nexus_agent.registry import Registry
from nexus_agent.wire.errors import NexusError

__all__ = [
    "Offer",
    "first_message",
    "load_catalogue",
    "offer_tools",
    "recall_memory",
    "sources_of",
    "with_answer_tools",
    "with_memory_search",
]

#: Tags of the planner's own step logs, which recall leaves out.
LOG_TAGS = frozenset(
    {"planner-turn", "planner-selection", "planner-approval", "planner-resume", "planner-outcome", "unmet-capability"}
)


async def load_catalogue(
    provider: ToolProvider, registry: Registry | None, principal: Principal | None = None
) -> tuple[Catalogue, list[Any]]:
    """Every tool ``principal`` may call (its role's share of the providers' tools), and the registry."""
    catalogue = catalogue_for(Catalogue(await provider.descriptors()), principal)
    records = await registry.all() if registry is not None else []
    apps = {r.slug: (r.status.value, tuple(r.capability_names())) for r in records}
    return catalogue.with_apps(apps), records


async def recall_memory(memory: MemoryStore, instruction: str, limit: int = 5) -> list[SearchHit]:
    """Earlier decisions and notes sharing the instruction's key words, best first."""
    names = [n for n in proper_nouns(instruction) if len(n) > 2][:3]  # exact words first: 'Kawneer', 'Schuco'
    words = names + [t.lstrip("=").split()[0] for t in dict.fromkeys(terms(instruction))][:4]
    found: dict[tuple[str, int], SearchHit] = {}
    for word in words:
        try:
            page = await memory.search({"query": word, "kinds": ["decision", "note"], "limit": 5})
        except NexusError:
            continue
        for hit in page.hits:
            if not LOG_TAGS & set(hit.tags):
                found.setdefault((hit.kind, hit.id), hit)
    return sorted(found.values(), key=lambda h: -h.score)[:limit]


@dataclass
class Offer:
    tools: list[RankedTool]
    unavailable: dict[str, str] = field(default_factory=dict)  # app slug -> why it was left out

    @property
    def sources(self) -> list[str]:
        return sorted({r.descriptor.source for r in self.tools})


def offer_tools(
    selector: ToolSelector, catalogue: Catalogue, provider: ToolProvider, instruction: str, k: int
) -> Offer:
    """The ``k`` best tools that can be called now, and the apps left out although they ranked."""
    refused: dict[str, tuple[ToolDescriptor, str]] = {}

    def callable_now(d: ToolDescriptor) -> bool:
        if d.app_status in UNCALLABLE_STATUSES:
            refused[d.name] = (d, f"it is {d.app_status} in the registry")
            return False
        available = provider.is_available(d.name)
        if available is not True:
            refused[d.name] = (d, available if isinstance(available, str) else "unavailable")
            return False
        return True

    offered = selector.select(catalogue, instruction, k=k, keep=callable_now)
    cutoff = offered[-1].score if len(offered) >= k else 0.0
    index = selector.index(catalogue)
    scores = {r.descriptor.name: r.score for r in index.search(instruction, k=k + len(refused))}
    unavailable = {
        d.source: reason
        for name, (d, reason) in refused.items()
        if d.source != "nexus" and scores.get(name, 0.0) > cutoff
    }
    return Offer(offered, unavailable)


def with_memory_search(offer: Offer, catalogue: Catalogue, hits: Sequence[SearchHit]) -> Offer:
    """When memory recalled something, ``memory_search`` is offered too: the answer may be in a note."""
    tool = catalogue.get("memory_search")
    if not hits or tool is None or any(r.descriptor.name == tool.name for r in offer.tools):
        return offer
    return Offer([*offer.tools, RankedTool(tool, 0.0, len(offer.tools) + 1)], offer.unavailable)


_ANSWER_TOOLS = ("registry_get", "registry_list", "gaps_analyse")


def with_answer_tools(offer: Offer, catalogue: Catalogue, instruction: str, records: Sequence[Any]) -> Offer:
    """A question about the portfolio ('What can the glazing scheduler do?', 'Is there anything that does
    site surveys?') is offered the registry and gap tools, and a question about what Nexus knows ('What do we
    know about payroll?') is offered ``memory_search``, whatever the ranking left out."""
    apps = [
        AppInfo(r.slug, r.name, r.status.value, r.category or "", tuple(r.capability_names()), True) for r in records
    ]
    wanted: list[str] = []
    if read(instruction).reads and portfolio_call(instruction, Portfolio(apps=apps), set(_ANSWER_TOOLS)):
        wanted += _ANSWER_TOOLS
    if asks_memory(instruction):
        wanted.append("memory_search")
    have = {r.descriptor.name for r in offer.tools}
    extra = [tool for name in wanted if name not in have and (tool := catalogue.get(name)) is not None]
    if not extra:
        return offer
    start = len(offer.tools) + 1
    added = [RankedTool(tool, 0.0, start + i) for i, tool in enumerate(extra)]
    return Offer([*offer.tools, *added], offer.unavailable)


def first_message(context: str, instruction: str) -> dict[str, Any]:
    """By convention the instruction is the last text block of the first user message."""
    return {"role": "user", "content": [{"type": "text", "text": context}, {"type": "text", "text": instruction}]}


def sources_of(tools: Sequence[RankedTool]) -> list[str]:
    return [s for s in sorted({r.descriptor.source for r in tools}) if s != "nexus"][:50]
