"""Running the dispatcher for the length of a server's lifespan.

    async with dispatching(Outbox(database), WebhookSecrets(env, records)) as dispatcher:
        ...   # events queued in this process are sent at once; others within ``idle_s``

On exit the dispatcher stops, records the outcomes it has, and gives back the rows it was
still sending, so the next Nexus (or another process) sends them without waiting for a lease.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx

from nexus_agent.events.dispatcher import Dispatcher, SecretResolver
from nexus_agent.events.outbox import Outbox
from nexus_agent.outbound import OutboundPolicy, httpx_client

__all__ = ["dispatching"]


@contextlib.asynccontextmanager
async def dispatching(
    outbox: Outbox, secrets: SecretResolver, *, http: httpx.AsyncClient | None = None, **options: Any
) -> AsyncIterator[Dispatcher]:
    """Run a :class:`Dispatcher` in the background; ``options`` are its keyword arguments.

    Without ``http`` it opens (and closes) its own client, sized to the dispatcher's concurrency, under the
    default outbound URL policy (pass ``http=nexus_agent.outbound.httpx_client(policy)`` for another).
    """
    async with contextlib.AsyncExitStack() as stack:
        if http is None:
            slots = int(options.get("concurrency", 16))
            limits = httpx.Limits(max_connections=slots, max_keepalive_connections=slots)
            http = await stack.enter_async_context(httpx_client(OutboundPolicy(), limits=limits))
        dispatcher = Dispatcher(outbox, secrets, http, **options)
        async with anyio.create_task_group() as tg:
            await tg.start(dispatcher.run)
            try:
                yield dispatcher
            finally:
                tg.cancel_scope.cancel()
