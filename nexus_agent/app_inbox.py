"""Events legacy apps post to Nexus: recorded, matched to instructions, offered to MCP clients.

The route (:func:`nexus_agent.events.app_webhook_route`) verifies signature, timestamp and
replay and keeps each event in ``app_events``; :class:`AppInbox` then

1. notes it in memory (about the app, tagged ``app-event``; data redacted of anything secret);
2. matches it to an instruction when its data names an ``instruction_id`` of an instruction
   for that app: ``status: completed|failed`` (or an event ending ``.completed`` / ``.failed``)
   is the app's report and moves the instruction on; ``.acknowledged`` / ``.received`` /
   ``.accepted`` acknowledges it;
3. wakes :meth:`wait_changed`, so the MCP server tells clients subscribed to
   ``nexus://apps/<slug>/events`` that the resource changed. On PostgreSQL the other replicas
   hear of it too (``NOTIFY nexus_app_events``) and tell their own clients, each once
   (:mod:`nexus_agent.events.app_event_notices`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from mcp.shared.subscriptions import ResourceUpdated, ServerEvent
from starlette.routing import Route

from memory.models import NoteIn
from nexus_agent.events.app_webhooks import AppEvent, AppEventStore, AppWebhookTarget, app_webhook_route, redacted
from nexus_agent.services import REGISTRY_RECHECK_S, NexusServices
from nexus_agent.wire.errors import ConfigError, Conflict, NexusError, NotFound
from nexus_agent.wire.signing import WebhookRejected
from tools.flow_tools import instruction_service

__all__ = ["APP_EVENTS_URI", "AppInbox", "events_uri"]

log = logging.getLogger("nexus.apps")

APP_EVENTS_URI = "nexus://apps/{slug}/events"
_DONE = {"completed": "completed", "complete": "completed", "done": "completed", "failed": "failed"}
_ACK = {"acknowledged", "received", "accepted", "started"}


def events_uri(slug: str) -> str:
    return APP_EVENTS_URI.format(slug=slug)


class AppInbox:
    def __init__(self, services: NexusServices) -> None:
        self._services = services
        self._notices = services.app_events  # this replica's own events and, on PostgreSQL, every other's

    async def target(self, slug: str) -> AppWebhookTarget:
        """The registered app and its secret; NotFound, or WebhookRejected(not_configured) without a secret."""
        services = self._services
        try:
            record = await services.registry.get(slug)
        except NotFound:  # the sender is not yet authenticated: name no registered slug, close or not
            raise NotFound(
                f"no app webhook for {slug[:80]!r} here",
                hint="Post to /api/webhooks/apps/<your app's slug>, as registered in Nexus.",
            ) from None
        await services.sync_satellites(max_age_s=REGISTRY_RECHECK_S)
        secrets = services.webhook_secrets
        if secrets is None:
            raise WebhookRejected("not_configured", "Nexus cannot check app webhooks in this process")
        try:
            secret = secrets(slug)
        except ConfigError as exc:
            raise WebhookRejected("not_configured", exc.message, hint=exc.hint) from None
        return AppWebhookTarget(record=record, secret=secret)

    async def on_event(self, event: AppEvent) -> str:
        """Note, match and announce one accepted event; returns what was done."""
        outcome = await self._match_instruction(event)
        data = json.dumps(redacted(event.data), ensure_ascii=False, default=str)
        text = f"{event.slug} posted '{event.event}' (delivery {event.delivery_id}): {data[:1500]}"
        if outcome:
            text += f"\nNexus: {outcome}"
        try:
            await self._services.memory.add_note(
                NoteIn(
                    title=f"{event.slug}: {event.event}"[:200],
                    text=text,
                    author=event.slug,
                    apps=[event.slug],
                    tags=["app-event", event.event.split(".")[0]],
                )
            )
        except NexusError as exc:  # the event itself is kept in app_events either way
            log.warning("event %s of %s not noted in memory: %s", event.event, event.slug, exc.message)
        self._notices.recorded(event.slug, event.id)  # its NOTIFY (PostgreSQL) is skipped here when it comes back
        return outcome or "recorded"

    async def wait_changed(self) -> set[str]:
        """Wait for the next accepted event (here, or on another replica); the slugs with new events since."""
        return await self._notices.wait_changed()

    def _events_database(self) -> Any:
        """Where ``app_events`` lives: the PostgreSQL database replicas share, else the SQLite file."""
        services = self._services
        return services.shared.database if services.shared is not None else services.database

    def route(self) -> Route:
        """``POST /api/webhooks/apps/<slug>``: verified, kept in ``app_events``, then :meth:`on_event`."""
        return app_webhook_route(self.target, self.on_event, self._events_database)

    def recent(self, slug: str, limit: int = 50) -> list[AppEvent]:
        return AppEventStore(self._events_database()).recent(slug, limit)

    async def relay(self, publish: Callable[[ServerEvent], Awaitable[None]]) -> None:
        """Forever: announce ``nexus://apps/<slug>/events`` as updated whenever that app posts an event.

        ``publish`` is the MCP server's bus (``NexusMCPServer.bus``): it reaches the 2026-07-28
        ``subscriptions/listen`` streams and the sessions of handshake-era clients that sent
        ``resources/subscribe`` (:mod:`nexus_agent.resource_subscriptions`)."""
        while True:
            for slug in sorted(await self.wait_changed()):
                try:
                    await publish(ResourceUpdated(uri=events_uri(slug)))
                except Exception:  # one failed announcement must not end the relay for every later event
                    log.exception("could not announce the new events of %s", slug)

    async def _match_instruction(self, event: AppEvent) -> str:
        data = event.data
        instruction_id = data.get("instruction_id")
        if not isinstance(instruction_id, str) or not instruction_id:
            return ""
        last = event.event.rsplit(".", 1)[-1]
        status = str(data.get("status", "")).strip().lower()
        final = _DONE.get(status) or _DONE.get(last)
        acknowledged = status in _ACK or last in _ACK
        if final is None and not acknowledged:
            return ""
        try:
            service = instruction_service(self._services)
            instruction = await service.get(instruction_id)
            if instruction.target != event.slug:
                return f"instruction {instruction_id} is for {instruction.target}, not {event.slug}: not applied"
            if final is None:
                moved = await service.acknowledge(instruction_id, by=event.slug, reason=f"event {event.event}")
                return f"instruction {instruction_id} {moved.status.value}"
            outcome = await service.accept_report(
                instruction_id, self._report(event, instruction_id, final), source=f"{event.event} webhook"
            )
        except Conflict as exc:
            return f"instruction {instruction_id} not moved: {exc.message}"
        except NexusError as exc:
            return f"instruction {instruction_id} not matched: {exc.message}"
        if outcome.outcome == "invalid":
            return f"report for instruction {instruction_id} not accepted: " + "; ".join(outcome.problems[:3])
        return f"instruction {instruction_id} {outcome.outcome}"

    @staticmethod
    def _report(event: AppEvent, instruction_id: str, final: str) -> dict[str, Any]:
        data = event.data
        summary = next((data[k] for k in ("result_summary", "summary", "message") if isinstance(data.get(k), str)), "")
        outputs: dict[str, Any] = next((data[k] for k in ("outputs", "result") if isinstance(data.get(k), dict)), {})
        reported_by = data.get("reported_by") if isinstance(data.get("reported_by"), str) else event.slug
        return {
            "instruction_id": instruction_id,
            "target": event.slug,
            "status": final,
            "result_summary": summary[:4000],
            "outputs": outputs,
            "reported_by": reported_by,
            "reported_at": data.get("reported_at") or _iso(event.timestamp),
        }


def _iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()
