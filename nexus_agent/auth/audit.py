"""Refusals are remembered: who tried what, when, and why it was refused (a memory note tagged ``security``).

Repeats are collapsed so a token hammering a tool it may not call cannot flood memory: the first
refusal of a (caller, what) pair is noted at once; further ones within :data:`WINDOW_SECONDS` are
only counted, and the next refusal after the window writes one note saying how many there were.
The state is bounded (:data:`MAX_TRACKED` pairs, oldest dropped first) and lives in the process.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from memory.models import NoteIn
from memory.store import MemoryStore
from nexus_agent.auth.principal import Principal
from nexus_agent.wire.errors import Forbidden, NexusError
from nexus_agent.wire.models import is_slug, utcnow

__all__ = ["MAX_TRACKED", "SECURITY_AUTHOR", "WINDOW_SECONDS", "RefusalThrottle", "record_refusal"]

log = logging.getLogger("nexus.auth")

SECURITY_AUTHOR = "nexus-security"
#: At most one note per caller and refused action in this many seconds.
WINDOW_SECONDS = 300.0
#: How many (caller, action) pairs are tracked at once.
MAX_TRACKED = 1000


@dataclass
class _Window:
    started: float
    first_at: str
    repeats: int = 0  # refusals after the noted one, not yet noted


class RefusalThrottle:
    """Decides which refusals get a note of their own; the rest are counted into the next one."""

    def __init__(
        self, window: float = WINDOW_SECONDS, limit: int = MAX_TRACKED, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._window, self._limit, self._clock = window, limit, clock
        self._seen: OrderedDict[tuple[str, ...], _Window] = OrderedDict()

    def admit(self, principal: Principal, what: str, when: str) -> tuple[int, str] | None:
        """None: only counted. Else (earlier refusals not yet noted, since when) and a note is due now."""
        key = (principal.name, principal.role.value, principal.app or "", principal.via, what)
        now = self._clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen.started < self._window:
            seen.repeats += 1
            return None
        earlier = (seen.repeats, seen.first_at) if seen is not None else (0, when)
        self._seen.pop(key, None)
        self._seen[key] = _Window(started=now, first_at=when)
        while len(self._seen) > self._limit:
            self._seen.popitem(last=False)
        return earlier


#: One throttle per memory store (a process may serve several, e.g. in tests).
_THROTTLES: weakref.WeakKeyDictionary[MemoryStore, RefusalThrottle] = weakref.WeakKeyDictionary()


def _throttle_for(memory: MemoryStore) -> RefusalThrottle:
    try:
        return _THROTTLES.setdefault(memory, RefusalThrottle())
    except TypeError:  # a store that cannot be weakly referenced: throttle it on its own
        return RefusalThrottle()


async def record_refusal(
    memory: MemoryStore, principal: Principal, what: str, refusal: Forbidden, throttle: RefusalThrottle | None = None
) -> None:
    """Log and remember a refused call; a failure to remember never hides the refusal itself."""
    when = utcnow().isoformat(timespec="seconds")
    due = (throttle or _throttle_for(memory)).admit(principal, what, when)
    if due is None:
        log.debug("refused %s to %s via %s again (counted)", what, principal.label(), principal.via)
        return
    log.warning("refused %s to %s via %s", what, principal.label(), principal.via)
    repeats, since = due
    earlier = f" It had also been refused {repeats} more times since {since} (collapsed)." if repeats else ""
    note = NoteIn(
        title=f"Refused {what} to {principal.name}"[:200],
        text=(
            f"At {when}, {principal.label()} (via {principal.via}, {principal.credential} credential) "
            f"tried {what}. Refused: {refusal.message}{earlier}"
        ),
        author=SECURITY_AUTHOR,
        apps=[principal.app] if principal.app and is_slug(principal.app) else [],
        tags=["security", "forbidden"],
    )
    try:
        await memory.add_note(note)
    except NexusError as exc:
        log.error("could not record the refusal of %s to %s: %s", what, principal.label(), exc.code)
