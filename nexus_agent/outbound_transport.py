"""The transports :func:`~nexus_agent.outbound.httpx_client` and :func:`~nexus_agent.outbound.httpx2_client`
hand their clients: the policy-enforcing transport of :mod:`nexus_agent.outbound_guard`, built on the first request.

`nexus serve` builds its webhook and health-check clients at start-up; building their connection pools (and
importing ``httpcore``, ``httpcore2`` and ``h11`` for them) and, without a CA bundle of Nexus's own, loading the
system's trust store wait until one of them first contacts anything.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

import httpx
import httpx2

if TYPE_CHECKING:
    from nexus_agent.outbound import OutboundPolicy

__all__ = ["GuardedTransport", "GuardedTransport2"]


class GuardedTransport(httpx.AsyncBaseTransport):
    """An ``httpx`` transport that connects only where ``policy`` allows (the pool is built on first use)."""

    def __init__(self, policy: OutboundPolicy, ctx: ssl.SSLContext | None, limits: httpx.Limits) -> None:
        self._args = (policy, ctx, limits)
        self._inner: httpx.AsyncBaseTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._inner is None:
            from nexus_agent.outbound_guard import GuardedTransport as Built

            self._inner = Built(*_built_args(*self._args))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        if self._inner is not None:
            await self._inner.aclose()


class GuardedTransport2(httpx2.AsyncBaseTransport):
    """The same for ``httpx2`` (the MCP SDK's HTTP library)."""

    def __init__(self, policy: OutboundPolicy, ctx: ssl.SSLContext | None, limits: httpx2.Limits) -> None:
        self._args = (policy, ctx, limits)
        self._inner: httpx2.AsyncBaseTransport | None = None

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if self._inner is None:
            from nexus_agent.outbound_guard import GuardedTransport2 as Built

            self._inner = Built(*_built_args(*self._args))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        if self._inner is not None:
            await self._inner.aclose()


def _built_args(policy: OutboundPolicy, ctx: ssl.SSLContext | None, limits: Any) -> tuple[Any, ...]:
    from nexus_agent.outbound import ssl_context

    return policy, ctx or ssl_context(policy), limits
