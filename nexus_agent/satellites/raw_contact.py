"""First contact with a 2026-07-28 HTTP satellite without the SDK client: discovery, tool list, change stream.

A :class:`~nexus_agent.satellites.connection.SatelliteConnection` to an HTTP satellite owns one
:class:`RawContact`. Its first listing goes as plain JSON-RPC (:mod:`~nexus_agent.satellites.raw_discovery`);
once the satellite has answered discovery, its tool-change stream is opened in the background while the tool
list is fetched (:mod:`~nexus_agent.satellites.change_stream`), a bounded number of openings at a time across
the pool, so the streams of hundreds of satellites neither delay their first answers nor all open at once.
As with the SDK client's stream, a change made between the listing and the stream's acknowledgement is the
one it can miss (the list's TTL refreshes it then).

What the discovery learnt (the satellite's ``DiscoverResult`` and version) lets the SDK client, when a call
needs it (progress, a satellite that asks the client, retries), start without probing again. It is
forgotten after a fault that drops the connection, so the next contact discovers afresh. Anything but a
plain success leaves the work to the SDK client (``None`` from :meth:`RawContact.list_tools`).

A stream that ends after it was acknowledged may have missed changes (there is no replay): the satellite's
tools count as changed, so the next use refetches them, and that listing opens a new stream. A satellite
that declines the stream, or cannot be reached for it, gets none until its next discovery; its list is
then refreshed by its TTL as before.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import mcp_types as types
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from nexus_agent.satellites.change_stream import StreamEnd, hold_tool_stream
from nexus_agent.satellites.models import PoolSettings
from nexus_agent.satellites.raw_discovery import RawUnavailable, raw_discover, raw_list_tools
from nexus_agent.satellites.relay_http import RelayConnections

__all__ = ["RawContact"]

logger = logging.getLogger(__name__)

_stream_ids = itertools.count(1)
Spawn = Callable[[Callable[[], Coroutine[Any, Any, None]]], None]


class RawContact:
    def __init__(
        self,
        slug: str,
        url: str,
        token: str | None,
        *,
        settings: PoolSettings,
        spawn: Spawn,
        relay: Callable[[], RelayConnections],
        stream_openings: Callable[[], anyio.Semaphore] | None,
        on_tools_changed: Callable[[], None],
    ) -> None:
        """``relay``: the pool's kept-alive connections; ``stream_openings``: the pool's bound on streams being
        opened at once (None: unbounded)."""
        self._slug, self._url, self._token = slug, url, token
        self._settings = settings
        self._spawn = spawn
        self._relay = relay
        self._stream_openings = stream_openings
        self._on_tools_changed = on_tools_changed
        #: The satellite's answer to ``server/discover`` and the version to speak, once learnt here.
        self.discovered: types.DiscoverResult | None = None
        self.version: str | None = None
        #: Discovery was answered the way the SDK's probe reads as "use the handshake".
        self.legacy = False
        #: The last tool list fetched here (the SDK client is told it when it opens).
        self.tools: list[types.Tool] | None = None
        #: A tool-change stream is open and acknowledged.
        self.listening = False
        self._listening: anyio.Event | None = None
        self._watching = False
        self._declined = False
        self._scope: anyio.CancelScope | None = None
        self._closed = False

    async def list_tools(self, sdk_version: str | None) -> list[types.Tool] | None:
        """The satellite's tools, or None when the SDK client must fetch them. ``sdk_version``: the version of an
        open SDK client, if any (no discovery is needed then). TimeoutError passes: the caller's deadline."""
        if self._closed:
            return None
        version = self.version or sdk_version
        try:
            if version is None and not self.legacy:
                self.discovered, version = await raw_discover(self._relay(), self._url, self._token)
                self.version = version
                logger.info("reached satellite %s (%s)", self._slug, version)
                # Opened now, as the listing goes out (the SDK client opened it on connecting).
                self.watch(version, self.discovered.capabilities)
            if version not in MODERN_PROTOCOL_VERSIONS:
                return None
            tools = await raw_list_tools(self._relay(), self._url, self._token, version)
        except RawUnavailable as exc:
            self.legacy = self.legacy or exc.legacy
            logger.debug("satellite %s: the SDK client takes over (%s)", self._slug, exc)
            return None
        self.tools = tools
        if self.discovered is not None:
            self.watch(version, self.discovered.capabilities)  # a stream that ended: the new listing opens one
        return tools

    def watch(self, version: str, capabilities: types.ServerCapabilities) -> None:
        """Open the tool-change stream in the background if the satellite offers one and none is open."""
        if (
            self._watching
            or self._declined
            or self._closed
            or not self._settings.watch_tool_changes
            or version not in MODERN_PROTOCOL_VERSIONS
            or not (capabilities.tools and capabilities.tools.list_changed)
        ):
            return
        self._watching = True
        self._spawn(lambda: self._hold(version))

    async def wait_listening(self) -> None:
        """Return once the tool-change stream is acknowledged (tests, and anyone who must not miss a change)."""
        while not self.listening:
            if self._listening is None:
                self._listening = anyio.Event()
            await self._listening.wait()

    def forget(self) -> None:
        """After a fault that drops the connection: discover afresh on next contact (the stream stays while
        it lasts; a satellite that is gone ends it)."""
        self.discovered, self.version, self.legacy, self._declined, self.tools = None, None, False, False, None

    def close(self) -> None:
        self._closed = True
        self.forget()
        if self._scope is not None:
            self._scope.cancel()

    async def _hold(self, version: str) -> None:
        openings = self._stream_openings() if self._stream_openings is not None else None
        opening = False  # holding one of the pool's openings

        def acknowledged() -> None:
            nonlocal opening
            self.listening = True
            if self._listening is not None:
                self._listening.set()
                self._listening = None
            if opening and openings is not None:
                opening = False
                openings.release()

        def changed() -> None:
            logger.info("satellite %s says its tools changed", self._slug)
            self._on_tools_changed()

        end: StreamEnd | None = None
        try:
            with anyio.CancelScope() as self._scope:
                if openings is not None:
                    await openings.acquire()
                    opening = True
                if self._closed:
                    return
                end = await hold_tool_stream(
                    self._relay(),
                    self._url,
                    self._token,
                    version,
                    f"listen-nexus-{next(_stream_ids)}",
                    ack_timeout=self._settings.connect_timeout,
                    on_acknowledged=acknowledged,
                    on_change=changed,
                )
        except Exception as exc:  # the TTL still refreshes the list; a stream that cannot open is not an outage
            logger.debug("tool-change stream of satellite %s not opened: %s", self._slug, exc)
            end = StreamEnd.DECLINED
        finally:
            if opening and openings is not None:
                openings.release()
            self._watching, self.listening, self._scope = False, False, None
        if end is StreamEnd.DECLINED:
            self._declined = True
        elif end is StreamEnd.CLOSED and not self._closed:
            logger.info("tool-change stream of satellite %s ended; its tools are refetched on next use", self._slug)
            self._on_tools_changed()  # no replay: what changed meanwhile is unknown
