"""HTTP clients the satellite pool shares: between MCP-over-HTTP satellites, and within a health round.

Building an ``httpx2`` client per satellite was ~2 ms of CPU each (500 satellites: a second of a first
fan-out); one client for all of them is worse: httpx's connection pool scans every connection for each
request, and each satellite may hold a tool-change stream open, so a pool of 500 connections made every
request cost ~1 ms. So satellites with the same bearer token share a client in groups of :data:`SHARE`.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from typing import Any, cast

import anyio
import httpx2

from nexus_agent.outbound import OutboundPolicy, httpx2_client
from nexus_agent.satellites.connection import record_http_status

__all__ = ["SHARE", "OneGetPerUrl", "SharedHttpClients"]

SHARE = 16  # MCP-over-HTTP satellites per shared client


class SharedHttpClients:
    """The pool's ``httpx2`` clients for MCP over HTTP: one per bearer token and :data:`SHARE` satellites."""

    def __init__(
        self, outbound: OutboundPolicy, ssl_ctx: Callable[[], ssl.SSLContext], *, connect_timeout: float
    ) -> None:
        self._outbound = outbound
        self._ssl_ctx = ssl_ctx
        self._connect_timeout = connect_timeout
        self._clients: dict[tuple[str | None, int], httpx2.AsyncClient] = {}
        self._assigned: dict[str | None, int] = {}

    def slot(self, token: str | None) -> Callable[[], httpx2.AsyncClient]:
        """The client of the next satellite with ``token`` (built when it first connects)."""
        number = self._assigned.get(token, 0)
        self._assigned[token] = number + 1
        key = (token, number // SHARE)
        return lambda: self._client(key)

    def _client(self, key: tuple[str | None, int]) -> httpx2.AsyncClient:
        client = self._clients.get(key)
        if client is None:
            token = key[0]
            client = self._clients[key] = httpx2_client(
                self._outbound,
                ssl_ctx=self._ssl_ctx(),
                # No cap on connections: each satellite may hold a tool-change stream open, and a cap below
                # their number would starve calls. Idle connections beyond the keep-alive count are closed.
                limits=httpx2.Limits(max_connections=None, max_keepalive_connections=1024),
                headers={"Authorization": f"Bearer {token}"} if token else {},
                # Reads are bounded per call by the caller's deadline; long tools must not be cut here.
                timeout=httpx2.Timeout(self._connect_timeout, read=None),
                event_hooks={"response": [record_http_status]},
            )
        return client

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()


class OneGetPerUrl:
    """A health round's HTTP client: satellites behind one origin share its ``/api/health``, so concurrent
    probes of the same URL with the same headers share one GET (and its answer, or its failure)."""

    def __init__(self, http: httpx2.AsyncClient) -> None:
        self._http = http
        self._flights: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[anyio.Event, list[Any]]] = {}

    def as_client(self) -> httpx2.AsyncClient:
        """This, where an ``httpx2.AsyncClient`` is expected (the health probe only calls ``get``)."""
        return cast(httpx2.AsyncClient, self)

    async def get(self, url: str, *, headers: Mapping[str, str], timeout: float) -> httpx2.Response:
        key = (url, tuple(sorted(headers.items())))
        flight = self._flights.get(key)
        if flight is None:
            done, outcome = flight = (anyio.Event(), [])
            self._flights[key] = flight
            try:
                outcome.append(await self._http.get(url, headers=dict(headers), timeout=timeout))
            except BaseException as exc:
                outcome.append(exc)
                raise
            finally:
                done.set()
            return cast(httpx2.Response, outcome[0])
        done, outcome = flight
        await done.wait()
        if outcome and isinstance(outcome[0], httpx2.Response):
            return outcome[0]
        if outcome and isinstance(outcome[0], Exception):
            raise outcome[0]  # the same verdict: unreachable, refused...
        raise TimeoutError  # the shared GET was cut at its deadline: this one's is the same
