"""Which apps have new events, heard on this replica or, on PostgreSQL, on any replica.

A legacy app posts its event to one replica (:mod:`nexus_agent.events.app_webhooks`); MCP clients
subscribed to ``nexus://apps/<slug>/events`` may be connected to any. On PostgreSQL the replica that
handled the event sends ``NOTIFY nexus_app_events, '<slug> <event id>'`` in the transaction that
records its outcome (:data:`NOTIFY_SQL`; the payload never carries the event's data), and every
replica's listener connection (``services_pg.follow_registry(..., on_app_event=...)``) hands the
payload to its :meth:`AppEventNotices.heard`. The replica that handled the event has already been
woken by :meth:`AppEventNotices.recorded` and skips its own notice, so each replica announces each
event once. On SQLite there is one process and no notice: :meth:`recorded` alone wakes the relay.

A notice sent while a replica's listener connection is down is not heard there: when the listener has
reconnected, it looks up the apps with events recorded since it last started listening and hands them
to :meth:`AppEventNotices.missed`, so their subscribers are told late rather than never.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

import anyio

from nexus_agent.wire.models import is_slug

__all__ = ["APP_EVENTS_CHANNEL", "NOTIFY_SQL", "AppEventNotices", "parse_notice"]

log = logging.getLogger("nexus.events.apps")

#: The LISTEN/NOTIFY channel an app event recorded on PostgreSQL is announced on.
APP_EVENTS_CHANNEL = "nexus_app_events"
#: Run in the write that records an event's outcome (one ``?``: its row id): the notice, sent on commit.
NOTIFY_SQL = f"SELECT pg_notify('{APP_EVENTS_CHANNEL}', slug || ' ' || id) FROM app_events WHERE id = ?"
#: How many of its own event ids a replica remembers until their notice comes back to it.
OWN_EVENTS_KEPT = 4096


def parse_notice(payload: str) -> tuple[str, int] | None:
    """``(slug, event id)`` of a ``'<slug> <id>'`` payload; None for anything else (it is not trusted)."""
    slug, _, number = payload.partition(" ")
    if not is_slug(slug) or not number.isdigit() or len(number) > 19:
        return None
    return slug, int(number)


class AppEventNotices:
    """The apps with new events since the relay last looked; woken by this replica's route and by notices."""

    def __init__(self, *, kept: int = OWN_EVENTS_KEPT) -> None:
        self._changed = anyio.Event()
        self._slugs: set[str] = set()
        self._own: OrderedDict[int, None] = OrderedDict()  # ids this replica recorded, until their notice
        self._kept = kept

    def recorded(self, slug: str, event_id: int | None = None) -> None:
        """This replica accepted an event of ``slug``: wake the relay (and skip its notice when it comes)."""
        if event_id is not None:
            self._own[event_id] = None
            while len(self._own) > self._kept:
                self._own.popitem(last=False)
        self._wake(slug)

    def heard(self, payload: str) -> None:
        """A ``nexus_app_events`` notice: wake the relay, unless this replica recorded that event itself."""
        notice = parse_notice(payload)
        if notice is None:
            log.warning("ignoring a malformed %s notice (%d characters)", APP_EVENTS_CHANNEL, len(payload))
            return
        slug, event_id = notice
        if event_id in self._own:
            del self._own[event_id]  # announced when it was recorded here
            return
        self._wake(slug)

    def missed(self, slugs: set[str]) -> None:
        """Apps whose events may have been announced while this replica's listener was down: wake the relay."""
        for slug in slugs:
            if is_slug(slug):
                self._wake(slug)

    async def wait_changed(self) -> set[str]:
        """Wait until some app has new events; the slugs with new events since the last call."""
        await self._changed.wait()
        slugs, self._slugs = self._slugs, set()
        self._changed = anyio.Event()
        return slugs

    def _wake(self, slug: str) -> None:
        self._slugs.add(slug)
        self._changed.set()
