"""The HTTP transports that enforce the outbound URL policy on every connection (``httpx`` and ``httpx2``).

Imported by :mod:`nexus_agent.outbound_transport` when a client sends its first request, so that neither
importing the policy nor building a client at start-up imports ``httpcore``/``httpcore2`` (and ``h11``).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import anyio
import httpcore
import httpcore2
import httpx
import httpx2

from nexus_agent.wire.errors import Forbidden

if TYPE_CHECKING:
    from nexus_agent.outbound import OutboundPolicy

__all__ = ["GuardedTransport", "GuardedTransport2"]


class _Refused(httpcore.ConnectError):
    refusal: Forbidden


class _Refused2(httpcore2.ConnectError):
    refusal: Forbidden


class _Guard:
    """A network backend that resolves, checks every address, and connects only to an allowed one."""

    def __init__(self, policy: OutboundPolicy, inner: Any, refused: type[Exception], failed: type[Exception]) -> None:
        self._policy = policy
        self._inner = inner
        self._refused = refused
        self._failed = failed  # the library's ConnectError
        self._timeout: type[Exception] = (
            httpcore.ConnectTimeout if failed is httpcore.ConnectError else httpcore2.ConnectTimeout
        )

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> Any:
        try:
            with anyio.fail_after(timeout):
                addresses = await self._policy.allowed_addresses(host, port)
        except Forbidden as refusal:
            error = self._refused(refusal.message)
            error.refusal = refusal  # type: ignore[attr-defined]
            raise error from None
        except TimeoutError:
            raise self._timeout(f"resolving {host} took longer than {timeout:g} s") from None
        except OSError as exc:  # socket.gaierror
            raise self._failed(f"cannot resolve {host}: {exc.strerror or exc}") from None
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except self._failed as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> Any:
        raise self._failed("the outbound URL policy does not contact unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _HttpcoreGuard(_Guard, httpcore.AsyncNetworkBackend):
    def __init__(self, policy: OutboundPolicy) -> None:
        super().__init__(policy, httpcore.AnyIOBackend(), _Refused, httpcore.ConnectError)


class _Httpcore2Guard(_Guard, httpcore2.AsyncNetworkBackend):
    def __init__(self, policy: OutboundPolicy) -> None:
        super().__init__(policy, httpcore2.AnyIOBackend(), _Refused2, httpcore2.ConnectError)


class GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, policy: OutboundPolicy, ctx: ssl.SSLContext, limits: httpx.Limits) -> None:
        super().__init__(verify=ctx, trust_env=False, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ctx,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_HttpcoreGuard(policy),
        )


class GuardedTransport2(httpx2.AsyncHTTPTransport):
    def __init__(self, policy: OutboundPolicy, ctx: ssl.SSLContext, limits: httpx2.Limits) -> None:
        super().__init__(verify=ctx, trust_env=False, limits=limits)
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=ctx,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_Httpcore2Guard(policy),
        )
