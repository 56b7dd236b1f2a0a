"""Helpers of the events tests: a settable clock, scripted HTTP targets, a kit receiver (not a test module)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx

from memory.database import Database
from nexus_agent.events import EVENTS_MIGRATIONS, Dispatcher, Outbox
from nexus_agent.wire.signing import InMemoryReplayGuard, WebhookEnvelope, WebhookRejected, verify_request
from satellite_template import Satellite, SatelliteSettings

SECRET = "outbox-test-secret-0123456789abcdef"
GOOD_URL = "http://good.test/api/webhooks/nexus"
NOW = 1_800_000_000.0


class FakeClock:
    """Unix seconds that move only when told."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def open_database(path: Path) -> Database:
    database = Database(path, sync="normal")
    database.migrate([EVENTS_MIGRATIONS])
    return database


# -- scripted targets ------------------------------------------------------------------------------
@dataclass
class Targets:
    """An httpx MockTransport standing in for satellites, keyed by host.

    ``behaviour[host]`` is an int (answer that status), ``"down"`` (connection refused),
    ``"hang"`` (never answer) or ``"timeout"`` (httpx read timeout). Every request is verified
    with the kit's ``verify_request`` against a per-host replay guard, as a real satellite would.
    """

    behaviour: dict[str, int | str] = field(default_factory=dict)
    clock: Callable[[], float] = field(default_factory=lambda: FakeClock())
    received: list[tuple[str, WebhookEnvelope, dict[str, str]]] = field(default_factory=list)
    processed: list[tuple[str, str]] = field(default_factory=list)
    guards: dict[str, InMemoryReplayGuard] = field(default_factory=dict)
    hanging: int = 0
    release: anyio.Event = field(default_factory=anyio.Event)
    watches: dict[str, tuple[int, anyio.Event]] = field(default_factory=dict)

    def when_processed(self, host: str, count: int) -> anyio.Event:
        """An event set once ``host`` has processed ``count`` deliveries."""
        event = anyio.Event()
        self.watches[host] = (count, event)
        return event

    def processed_by(self, host: str) -> list[str]:
        return [d for h, d in self.processed if h == host]

    async def handle(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        body = await request.aread()
        what = self.behaviour.get(host, 200)
        if what == "down":
            raise httpx.ConnectError("connection refused", request=request)
        if what == "timeout":
            raise httpx.ReadTimeout("timed out", request=request)
        if what == "hang":
            self.hanging += 1
            await self.release.wait()
            return httpx.Response(200)
        guard = self.guards.setdefault(host, InMemoryReplayGuard())
        try:
            envelope = verify_request(body, request.headers, SECRET, now=self.clock(), seen=guard)
        except WebhookRejected as exc:
            return httpx.Response(exc.http_status, json=exc.to_dict())
        self.received.append((host, envelope, dict(request.headers)))
        if what == "echo":  # a wrong satellite that puts the secret in its error message
            guard.release(envelope.delivery_id)
            return httpx.Response(400, json={"code": "bad", "message": f"expected secret {SECRET}"})
        if what == "flood":
            guard.release(envelope.delivery_id)
            return httpx.Response(500, content=b"x" * 5_000_000)
        if isinstance(what, int) and what >= 300:
            guard.release(envelope.delivery_id)
            headers = {"Retry-After": "120"} if what == 429 else {"Location": "http://elsewhere/"} if what < 400 else {}
            return httpx.Response(what, json={"code": "scripted", "message": f"scripted {what}"}, headers=headers)
        self.processed.append((host, envelope.delivery_id))
        if host in self.watches and len(self.processed_by(host)) >= self.watches[host][0]:
            self.watches[host][1].set()
        return httpx.Response(what if isinstance(what, int) else 200, json={"status": "processed"})


def make_dispatcher(
    outbox: Outbox, http: httpx.AsyncClient, clock: Callable[[], float], **kwargs: object
) -> Dispatcher:
    options: dict[str, object] = {"timeout_s": 5.0, "lease_s": 30.0, "idle_s": 30.0, "clock": clock}
    options.update(kwargs)
    secrets = options.pop("secrets", lambda target: SECRET)
    return Dispatcher(outbox, secrets, http, **options)  # type: ignore[arg-type]


# -- a real receiver: a satellite built with the kit -------------------------------------------------
@dataclass
class Receiver:
    """A kit satellite counting every delivery its handler processed. ``hold`` pauses handlers once set."""

    sat: Satellite
    processed: list[str] = field(default_factory=list)
    reached: threading.Event = field(default_factory=threading.Event)
    hold: threading.Event = field(default_factory=threading.Event)
    go_on: threading.Event = field(default_factory=threading.Event)
    threshold: int = 0

    def app(self, secret: str = SECRET) -> Any:
        return self.sat.create_app(SatelliteSettings(webhook_secret=secret), replay_guard=InMemoryReplayGuard())


def make_receiver(threshold: int = 0, *, event: str = "outbox.test") -> Receiver:
    receiver = Receiver(Satellite("receiver", "Receiver", subscribes_to=[event]), threshold=threshold)

    @receiver.sat.on_event(event)
    async def handle(envelope: WebhookEnvelope) -> None:
        receiver.processed.append(envelope.delivery_id)
        if receiver.threshold and len(receiver.processed) >= receiver.threshold:
            receiver.reached.set()
        if receiver.hold.is_set() and not receiver.go_on.is_set():
            await anyio.to_thread.run_sync(receiver.go_on.wait, 20)

    return receiver
