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

__all__ = ["dispatching"]


@contextlib.asynccontextmanager
async def dispatching(
    outbox: Outbox, secrets: SecretResolver, *, http: httpx.AsyncClient | None = None, **options: Any
) -> AsyncIterator[Dispatcher]:
    """Run a :class:`Dispatcher` in the background; ``options`` are its keyword arguments.

    Without ``http`` it opens (and closes) its own client, sized to the dispatcher's concurrency.
    """
    async with contextlib.AsyncExitStack() as stack:
        if http is None:
            slots = int(options.get("concurrency", 16))
            limits = httpx.Limits(max_connections=slots, max_keepalive_connections=slots)
            http = await stack.enter_async_context(httpx.AsyncClient(limits=limits, follow_redirects=False))
        dispatcher = Dispatcher(outbox, secrets, http, **options)
        async with anyio.create_task_group() as tg:
            await tg.start(dispatcher.run)
            try:
                yield dispatcher
            finally:
                tg.cancel_scope.cancel()
