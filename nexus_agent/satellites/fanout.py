"""Fan-out: one tool call sent to many satellites at once.

Every targeted satellite gets an item in the result, holding its answer or its
error; one satellite failing, hanging, refusing or answering with a secret (the
pool withholds such an answer) never fails the others.
Concurrency is bounded, each satellite has its own deadline, and a progress
callback hears about every satellite as it finishes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import anyio

from nexus_agent.satellites.models import FanOutItem, FanOutResult
from nexus_agent.wire.errors import InvalidInput, NexusError, NotFound, UpstreamError
from nexus_agent.wire.secret_guard import redact_data

if TYPE_CHECKING:
    from nexus_agent.satellites.pool import SatellitePool

__all__ = ["ProgressCallback", "run_fan_out"]

logger = logging.getLogger(__name__)

#: ``(done, total, message)``: the shape of MCP progress, so ``ctx.report_progress`` fits directly.
ProgressCallback = Callable[[float, float | None, str | None], Awaitable[None]]


async def _targets(
    pool: SatellitePool, tool: str, slugs: Iterable[str] | None, capability: str | None
) -> tuple[list[str], dict[str, str]]:
    if slugs is not None:
        return list(dict.fromkeys(slugs)), {}
    if capability is not None:
        return pool.slugs_with_capability(capability), {}
    listing = await pool.list_tools()
    having = dict.fromkeys(t.slug for t in listing.tools if t.name == tool)
    return list(having), dict(listing.errors)


async def run_fan_out(
    pool: SatellitePool,
    tool: str,
    arguments: Mapping[str, Any] | None,
    *,
    slugs: Iterable[str] | None = None,
    capability: str | None = None,
    concurrency: int,
    timeout: float,
    on_progress: ProgressCallback | None = None,
) -> FanOutResult:
    """Call ``tool`` on a named list of satellites, on those with ``capability``, or on every one that has it.

    Never raises because of a satellite: each one's outcome is a :class:`FanOutItem`. With neither ``slugs``
    nor ``capability``, satellites whose tool list is unavailable are reported in ``skipped``.
    """
    if slugs is not None and capability is not None:
        raise InvalidInput("give either slugs or capability, not both", hint="Pick the satellites one way.")
    started = anyio.current_time()
    targets, skipped = await _targets(pool, tool, slugs, capability)
    items: dict[str, FanOutItem] = {}
    total = len(targets)
    done = 0
    limiter = anyio.CapacityLimiter(max(1, concurrency))

    async def report(message: str) -> None:
        if on_progress is None:
            return
        try:
            await on_progress(done, total, message)
        except Exception:  # a broken progress listener must not break the fan-out
            logger.exception("fan-out progress callback failed")

    async def one(slug: str) -> None:
        nonlocal done
        async with limiter:
            began = anyio.current_time()
            try:
                result = await pool.call((slug, tool), arguments, timeout=timeout, raw=True)
            except NexusError as exc:  # an answer carrying a secret too (SecretLeakRefused): this one fails alone
                item = FanOutItem(slug=slug, ok=False, error=redact_data(exc.to_dict(), known=pool.known_secrets))
            except Exception as exc:  # defensive: a bug must still give this satellite an answer
                logger.exception("fan-out to %s failed unexpectedly", slug)
                err = UpstreamError(f"satellite '{slug}' failed: {type(exc).__name__}: {exc}")
                item = FanOutItem(slug=slug, ok=False, error=redact_data(err.to_dict(), known=pool.known_secrets))
            else:
                error = None
                if result.is_error:
                    said = result.text or "(no text)"
                    error = {"code": "tool_error", "message": f"tool '{tool}' on satellite '{slug}' failed: {said}"}
                item = FanOutItem(slug=slug, ok=not result.is_error, result=result, error=error)
            item.duration_ms = (anyio.current_time() - began) * 1000
        items[slug] = item
        done += 1
        await report(f"{slug}: {'ok' if item.ok else 'failed'}")

    if total:
        await report(f"calling '{tool}' on {total} satellite(s)")
    async with anyio.create_task_group() as tg:
        for slug in targets:
            tg.start_soon(one, slug)
    if not targets and slugs is None and capability is None and not skipped:
        raise NotFound(f"no satellite offers a tool named '{tool}'", hint="List the satellite tools to see names.")
    return FanOutResult(
        tool=tool,
        items=[items[slug] for slug in targets],
        skipped=skipped,
        duration_ms=(anyio.current_time() - started) * 1000,
    )
