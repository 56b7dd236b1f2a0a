"""Discovery and calls through the satellite pool: listing tools, resolving one, calling it and the
secret guard every answer passes. A part of :class:`~nexus_agent.satellites.pool.SatellitePool`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import anyio

from nexus_agent.satellites.connection import copy_error
from nexus_agent.satellites.discovery import Listing, split_qualified, validate_arguments
from nexus_agent.satellites.fanout import ProgressCallback
from nexus_agent.satellites.models import PoolSettings, SatelliteCallResult, SatelliteTool, ToolListing
from nexus_agent.satellites.raw_call import UseSdk, raw_call, raw_eligible
from nexus_agent.wire.errors import NexusError, NotFound, SecretLeakRefused
from nexus_agent.wire.secret_guard import KnownSecrets, ensure_no_secrets

if TYPE_CHECKING:
    from nexus_agent.satellites.relay_http import RelayConnections
    from nexus_agent.satellites.satellite import Satellite

__all__ = ["PoolCalls"]

logger = logging.getLogger("nexus_agent.satellites.pool")


class PoolCalls:
    """The pool's discovery and call methods (mixed into SatellitePool, which owns the state below)."""

    settings: PoolSettings
    known_secrets: KnownSecrets
    observer: Callable[[str, str, str, str, float], None] | None
    _satellites: dict[str, Satellite]
    _known_with_tokens: tuple[frozenset[str], KnownSecrets]
    _tokens_changed: bool

    if TYPE_CHECKING:

        def _get(self, slug: str) -> Satellite: ...

        def raw_relay(self) -> RelayConnections: ...

    # -- discovery -----------------------------------------------------------------------------------------------

    async def list_tools(
        self,
        slug: str | None = None,
        *,
        capability: str | None = None,
        text: str | None = None,
        refresh: bool = False,
    ) -> ToolListing:
        """Tools of every callable satellite (or one), named '<slug>__<tool>'; failures are reported per slug."""
        if slug is not None:
            self._get(slug).ready()
            targets = [self._satellites[slug]]
        else:
            targets = [s for s in self._satellites.values() if s.connection is not None]
        if capability is not None:
            wanted = capability.strip().lower()
            targets = [s for s in targets if wanted in {c.lower() for c in s.record.capability_names()}]
        listings: dict[str, Listing] = {}
        errors: dict[str, str] = {}
        limiter = anyio.CapacityLimiter(self.settings.fanout_concurrency)

        async def one(sat: Satellite) -> None:
            async with limiter:
                try:
                    listings[sat.slug] = await sat.tools(refresh=refresh)
                except NexusError as exc:
                    errors[sat.slug] = exc.message

        async with anyio.create_task_group() as tg:
            for sat in targets:
                tg.start_soon(one, sat)
        result = ToolListing(errors=errors)
        needle = text.strip().lower() if text else None
        for sat in targets:
            listing = listings.get(sat.slug)
            if listing is None:
                continue
            if listing.error is not None:
                result.errors[sat.slug] = listing.error.message
                continue
            if listing.warnings:
                result.warnings[sat.slug] = list(listing.warnings)
            for tool in listing.tools:
                haystack = f"{tool.qualified_name} {tool.title or ''} {tool.description or ''}".lower()
                if needle is None or needle in haystack:
                    result.tools.append(tool)
        return result

    async def get_tool(self, target: str | tuple[str, str], *, timeout: float | None = None) -> SatelliteTool:
        """Resolve '<slug>__<tool>' or (slug, tool) to the satellite's tool, fetching its list if needed."""
        if isinstance(target, str):
            slug, _ = split_qualified(target)
        else:
            slug = target[0]
        listing = await self._get(slug).tools(timeout)
        if listing.error is not None:
            raise copy_error(listing.error)
        tool = listing.by_qualified.get(target) if isinstance(target, str) else listing.by_name.get(target[1])
        if tool is None:
            name = target if isinstance(target, str) else target[1]
            known = ", ".join(sorted(listing.by_qualified)[:20]) or "none"
            raise NotFound(
                f"satellite '{slug}' has no tool '{name}'",
                hint=f"Its tools are: {known}.",
                details={"slug": slug, "reason": "unknown_tool"},
            )
        return tool

    # -- calls ---------------------------------------------------------------------------------------------------

    async def call(
        self,
        target: str | tuple[str, str],
        arguments: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
        raw: bool = False,
    ) -> SatelliteCallResult:
        """Call one satellite tool. A tool error comes back as ``is_error``; faults raise UpstreamError.

        ``timeout`` bounds everything: fetching the tool list, connecting, the call and any retries.
        ``raw``: a 2026-07-28 HTTP satellite already reached gets the call as plain JSON-RPC (the fan-out's
        way, :mod:`~nexus_agent.satellites.raw_call`); every check here is the same either way.
        """
        if self.observer is None:
            return await self._call(target, arguments, timeout=timeout, on_progress=on_progress, raw=raw)
        began, outcome, kind = time.perf_counter(), "error", "cancelled"
        try:
            result = await self._call(target, arguments, timeout=timeout, on_progress=on_progress, raw=raw)
            outcome, kind = ("error", "tool_error") if result.is_error else ("ok", "")
            return result
        except NexusError as exc:
            kind = exc.code
            raise
        except Exception:
            kind = "internal"
            raise
        finally:
            slug, _, tool = target.partition("__") if isinstance(target, str) else (target[0], "", target[1])
            self.observer(slug, tool, outcome, kind, time.perf_counter() - began)

    async def _call(
        self,
        target: str | tuple[str, str],
        arguments: Mapping[str, Any] | None,
        *,
        timeout: float | None,
        on_progress: ProgressCallback | None,
        raw: bool = False,
    ) -> SatelliteCallResult:
        timeout = timeout or self.settings.call_timeout
        deadline = anyio.current_time() + timeout
        tool = await self.get_tool(target, timeout=timeout)
        args = validate_arguments(tool, arguments if arguments is not None else {})
        sat = self._get(tool.slug)
        url = raw_eligible(sat) if raw and on_progress is None and self.settings.raw_fanout else None
        try:
            if url is None:
                raise UseSdk
            result = await raw_call(self.raw_relay(), sat, url, tool, args, deadline=deadline, timeout=timeout)
        except UseSdk:
            result = await sat.call(tool, args, deadline=deadline, timeout=timeout, on_progress=on_progress)
        self._withhold_secrets(result)
        return result

    def guard_answer(self, result: SatelliteCallResult) -> None:
        """The secret guard every satellite answer passes (raises SecretLeakRefused): for relays outside the pool."""
        self._withhold_secrets(result)

    def guard_parts(
        self, slug: str, tool: str, qualified_name: str, content: list[dict[str, Any]], structured: Any
    ) -> None:
        """:meth:`guard_answer` for an answer still in its JSON parts (content blocks as dicts): no model built."""
        self._guard({"content": content, "structured_content": structured}, slug, tool, qualified_name)

    def _withhold_secrets(self, result: SatelliteCallResult) -> None:
        """Refuse an answer that carries a secret; images, audio and blobs are data and pass.

        Checked here, where answers enter Nexus, so a direct call, ``satellite_call``, the planner and
        each satellite of a fan-out (which then fails alone) all get the same verdict.
        """
        answer = {
            "content": [block.model_dump(mode="json") for block in result.content],
            "structured_content": result.structured_content,
        }
        self._guard(answer, result.slug, result.tool, result.qualified_name)

    def _guard(self, answer: dict[str, Any], slug: str, tool: str, qualified_name: str) -> None:
        if self._tokens_changed:  # satellites came or went (the pool's update): their tokens are merged again
            tokens = frozenset(s.token for s in self._satellites.values() if s.token)
            if self._known_with_tokens[0] != tokens:
                self._known_with_tokens = (tokens, self.known_secrets.merged(tokens))
            self._tokens_changed = False
        known = self._known_with_tokens[1]
        try:
            ensure_no_secrets(answer, "answer", "pass on", known=known)
        except SecretLeakRefused as exc:
            places = exc.details if isinstance(exc.details, list) else []
            logger.warning(
                "withheld the answer of %s: it carries secrets at %s",
                qualified_name,
                ", ".join(f"{d['location']} ({d['kind']})" for d in places) or "?",
            )
            raise SecretLeakRefused(
                f"satellite '{slug}' answered {tool} with a secret, so Nexus withheld its answer "
                f"({'; '.join(str(d['kind']) + ' at ' + str(d['location']) for d in places[:5])})",
                hint="Nothing was passed on. The satellite must not return credentials: fix the satellite, or call "
                "a tool that does not return them.",
                details={"slug": slug, "tool": tool, "reason": "secret_in_answer", "findings": places},
            ) from None
