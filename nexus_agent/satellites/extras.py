"""Satellites' resources and prompts, offered through Nexus and namespaced like their tools.

A satellite's resource ``<uri>`` is offered as ``satellite://<slug>/<uri, percent-encoded>`` (one path
segment, so any URI maps back exactly); its prompt ``<name>`` as ``<slug>__<name>`` (a slug has no
``_``, so the first ``__`` ends it). Listing asks every connected MCP satellite that declares the
capability, at most ``fanout_concurrency`` at once, each within ``list_timeout``; one satellite that
fails is logged and left out, never failing the rest. What a satellite returns is checked for secrets
before it is passed on, as tool answers are.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlsplit

import anyio
import mcp_types as types

from nexus_agent.satellites.connection import SatelliteConnection
from nexus_agent.satellites.pool import SatellitePool
from nexus_agent.wire.errors import InvalidInput, NotFound
from nexus_agent.wire.secret_guard import ensure_no_secrets

__all__ = [
    "RESOURCE_SCHEME",
    "get_satellite_prompt",
    "is_satellite_resource",
    "list_satellite_prompts",
    "list_satellite_resources",
    "read_satellite_resource",
    "satellite_resource_uri",
]

logger = logging.getLogger(__name__)

RESOURCE_SCHEME = "satellite"
_T = TypeVar("_T")


def satellite_resource_uri(slug: str, uri: str) -> str:
    return f"{RESOURCE_SCHEME}://{slug}/{quote(uri, safe='')}"


def is_satellite_resource(uri: str) -> bool:
    return uri.startswith(f"{RESOURCE_SCHEME}://")


def _split_resource(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    original = unquote(parts.path[1:])
    if parts.scheme != RESOURCE_SCHEME or not parts.netloc or not original:
        raise InvalidInput(
            f"{uri!r} is not a satellite resource",
            hint="Satellite resources are named 'satellite://<slug>/<the satellite's URI, percent-encoded>'; "
            "resources/list gives them.",
        )
    return parts.netloc, original


def _connections(pool: SatellitePool) -> dict[str, SatelliteConnection]:
    out = {}
    for slug in pool.records:
        connection = pool.connection(slug)
        if isinstance(connection, SatelliteConnection):  # legacy message handlers have no resources or prompts
            out[slug] = connection
    return out


async def _each(
    pool: SatellitePool, offers: Callable[[types.ServerCapabilities], bool], ask: Callable[[Any], Awaitable[_T]]
) -> dict[str, _T]:
    """``ask(client)`` of every connected satellite whose capabilities ``offers`` the feature."""
    found: dict[str, _T] = {}
    limiter = anyio.CapacityLimiter(pool.settings.fanout_concurrency)

    async def one(slug: str, connection: SatelliteConnection) -> None:
        async with limiter:
            try:
                with anyio.fail_after(pool.settings.list_timeout):
                    async with connection.use() as client:
                        if client.server_capabilities and offers(client.server_capabilities):
                            found[slug] = await ask(client)
            except Exception as exc:  # one satellite never hides the others
                logger.info("satellite %s: resources/prompts not listed: %s", slug, exc)

    async with anyio.create_task_group() as tg:
        for slug, connection in _connections(pool).items():
            tg.start_soon(one, slug, connection)
    return found


async def list_satellite_resources(pool: SatellitePool) -> list[types.Resource]:
    listed = await _each(pool, lambda caps: caps.resources is not None, lambda c: c.list_resources())
    out = []
    for slug in sorted(listed):
        for resource in listed[slug].resources:
            out.append(
                resource.model_copy(
                    update={
                        "uri": satellite_resource_uri(slug, str(resource.uri)),
                        "name": f"{slug}__{resource.name}",
                        "description": f"[{slug}] {resource.description or resource.name}",
                    }
                )
            )
    return out


async def read_satellite_resource(pool: SatellitePool, uri: str) -> types.ReadResourceResult:
    slug, original = _split_resource(uri)
    connection = _connections(pool).get(slug)
    if connection is None:
        raise NotFound(f"no connected satellite '{slug}' offers resources", hint="resources/list gives them.")
    with anyio.fail_after(pool.settings.call_timeout):
        async with connection.use() as client:
            result = await client.read_resource(original)
    ensure_no_secrets(result.model_dump(mode="json"), f"resource {uri}", "pass on", known=pool.known_secrets)
    return result


async def list_satellite_prompts(pool: SatellitePool) -> list[types.Prompt]:
    listed = await _each(pool, lambda caps: caps.prompts is not None, lambda c: c.list_prompts())
    return [
        prompt.model_copy(update={"name": f"{slug}__{prompt.name}"})
        for slug in sorted(listed)
        for prompt in listed[slug].prompts
    ]


async def get_satellite_prompt(
    pool: SatellitePool, name: str, arguments: dict[str, str] | None
) -> types.GetPromptResult:
    slug, _, original = name.partition("__")
    connection = _connections(pool).get(slug)
    if connection is None or not original:
        raise NotFound(f"there is no prompt named {name!r}", hint="prompts/list gives the prompts' exact names.")
    with anyio.fail_after(pool.settings.call_timeout):
        async with connection.use() as client:
            result = await client.get_prompt(original, arguments)
    ensure_no_secrets(result.model_dump(mode="json"), f"prompt {name}", "pass on", known=pool.known_secrets)
    return result
