"""Assemble a planner from a process's services: the edges (server lifespan, CLI) hand this to the runtime.

Configuration arrives as arguments: the CLI reads ``ANTHROPIC_API_KEY`` and
``NEXUS_MODEL`` and passes them to :func:`select_model`; nothing here reads the
environment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nexus_agent.planner.approval import ApprovalPolicy
from nexus_agent.planner.catalogue import CompositeProvider, NexusToolProvider, ToolProvider
from nexus_agent.planner.llm import DEFAULT_MODEL, AnthropicModel, PlannerModel
from nexus_agent.planner.loop import Planner
from nexus_agent.planner.offline import OfflineModel
from nexus_agent.planner.state import PlanStore

if TYPE_CHECKING:
    from nexus_agent.services import NexusServices

__all__ = ["SATELLITE_PROXY_TOOLS", "build_planner", "planner_from_settings", "select_model"]

#: Nexus tools that call *any* satellite tool by name. With a satellite provider the planner sees each
#: satellite tool directly (its own schema and read-only annotation), so the proxies are left out: a call
#: through them would be validated and approved as the proxy, not as the tool it reaches.
SATELLITE_PROXY_TOOLS = ("satellite_call", "satellite_fan_out")


def select_model(
    api_key: str | None,
    *,
    model: str | None = None,
    max_tokens: int = 4096,
    base_url: str | None = None,
    client: Any = None,
) -> PlannerModel:
    """Anthropic when a key (or a ready client) is given, else the offline planner."""
    if client is None and not api_key:
        return OfflineModel()
    if client is None:
        import anthropic

        client = anthropic.AsyncAnthropic(api_key=api_key, base_url=base_url)
    return AnthropicModel(client, model or DEFAULT_MODEL, max_tokens=max_tokens)


def build_planner(
    services: NexusServices,
    *,
    model: PlannerModel | None = None,
    providers: Sequence[ToolProvider] = (),
    policy: ApprovalPolicy | None = None,
    exclude_nexus_tools: Sequence[str] | None = None,
    observer: Any = None,
    **options: Any,
) -> Planner:
    """A :class:`Planner` over ``services`` (memory, registry, database) and Nexus's own tools.

    ``providers`` adds more tools (the satellite pool, the truth source); when
    there are any, the satellite proxy tools are left out of Nexus's own (see
    :data:`SATELLITE_PROXY_TOOLS`). Plans live in the one plan store: the SQLite home's,
    or PostgreSQL's when the services share one; both were migrated when the core opened.
    """
    states = PlanStore(services.database)
    if services.shared is not None:  # NEXUS_DATABASE_URL: plans and their claims are shared
        from nexus_agent.planner._state_pg import open_pg_state_store

        states = open_pg_state_store(services.shared.database)
    if exclude_nexus_tools is None:
        exclude_nexus_tools = SATELLITE_PROXY_TOOLS if providers else ()
    provider: ToolProvider = CompositeProvider([NexusToolProvider(services, exclude=exclude_nexus_tools), *providers])
    if observer is not None:  # nexus_agent.ops times each planner step
        provider = observer.timed_provider(provider)
    return Planner(
        memory=services.memory,
        registry=services.registry,
        provider=provider,
        model=model or OfflineModel(),
        states=states,
        policy=policy,
        **options,
    )


def planner_from_settings(services: NexusServices) -> Planner:
    """The planner the settings ask for, over ``services``: the factory edges give the runtime.

    ``open_services(..., planner=planner_from_settings)`` calls it once, while the runtime is built
    (after its satellite pool and observer, so satellite tools are offered and planner steps timed).
    """
    from nexus_agent.planner.satellite_provider import SatelliteToolProvider

    settings = services.settings
    key = settings.anthropic_api_key.get_secret_value() if settings.anthropic_api_key else None
    model = select_model(key, model=settings.model, base_url=settings.anthropic_base_url)
    providers = [SatelliteToolProvider(services.pool)] if services.pool is not None else []
    allowed = settings.auto_approve_tools
    policy = ApprovalPolicy.allowing(
        tools=[t for t in allowed if not t.endswith("__*")],
        sources=[t.removesuffix("__*") for t in allowed if t.endswith("__*")],
    )
    return build_planner(
        services,
        model=model,
        providers=providers,
        policy=policy,
        known_secrets=services.known_secrets,
        observer=services.observer,
    )
