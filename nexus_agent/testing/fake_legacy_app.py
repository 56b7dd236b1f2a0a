"""A fake legacy app: a real HTTP server on 127.0.0.1 that speaks the message-handler protocol.

Legacy (pre-MCP) apps take ``POST {"type", "params", "request_id", "timestamp"}`` at their
message-handler URL, signed with HMAC-SHA256 of the raw body (hex) in a header, and answer
``{"request_id", "status": "success" | "error", "result", "timestamp"}``. They receive Nexus's
signed webhooks and post their own. This fake does all of that, checks every signature, and
records what it received, so tests (yours too) can drive Nexus against it::

    with FakeLegacyApp("stock-ledger", secret) as app:          # serving now
        record = app.record()                                   # an AppRecord pointed at it
        ...                                                     # register it, call stock-ledger__query_stock_level
        assert app.messages[-1].signed_ok
        await app.post_event(nexus_url, "stock.low", {"sku": "EXT-6063-50x50"})

``app.faults["query.stock_level"] = "error"`` (or ``not_json``, ``wrong_request_id``,
``no_status``, ``http_500``, ``huge`` (an answer over 4 MiB), ``slow``) makes one message type
misbehave; ``app.delay`` is how long ``slow`` takes. ``bom`` is not a fault: the right answer with a UTF-8 byte
order mark in front, as some Windows frameworks write it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from nexus_agent.testing.servers import serve_in_thread
from nexus_agent.wire.models import AppRecord, AppStatus, MessageParam, MessageSpec

__all__ = [
    "FAULTS",
    "FakeLegacyApp",
    "LegacyAppError",
    "ReceivedMessage",
    "ReceivedWebhook",
    "fake_legacy_apps",
    "stock_ledger_handlers",
]

FAULTS = frozenset({"error", "not_json", "wrong_request_id", "no_status", "http_500", "huge", "slow"})
Handler = Callable[[dict[str, Any]], Any]


class LegacyAppError(Exception):
    """Raised by a handler: the app answers ``status: error`` with this message."""


@dataclass
class ReceivedMessage:
    type: str | None
    params: Any
    request_id: str | None
    signed_ok: bool


@dataclass
class ReceivedWebhook:
    event: str | None
    data: Any
    signed_ok: bool
    headers: dict[str, str] = field(default_factory=dict)


def stock_ledger_handlers() -> tuple[dict[str, Handler], list[MessageSpec]]:
    """A small stock ledger: levels per yard, reservations against orders, a ping."""
    stock = {"EXT-6063-50x50": {"north": 42, "south": 7}, "GLS-4-16-4": {"north": 120, "south": 0}}

    def level(p: dict[str, Any]) -> dict[str, Any]:
        sku, yard = p.get("sku"), p.get("yard", "north")
        if sku not in stock:
            raise LegacyAppError(f"unknown sku {sku}")
        return {"sku": sku, "yard": yard, "qty": stock[sku].get(yard, 0)}

    def reserve(p: dict[str, Any]) -> dict[str, Any]:
        sku, qty, yard = str(p.get("sku")), int(p.get("qty") or 0), str(p.get("yard", "north"))
        if stock.get(sku, {}).get(yard, 0) < qty:
            raise LegacyAppError(f"only {stock.get(sku, {}).get(yard, 0)} of {sku} in {yard}; cannot reserve {qty}")
        stock[sku][yard] -= qty
        return {"reservation_id": f"RES-{uuid.uuid4().hex[:6]}", "sku": sku, "qty": qty, "order_id": p.get("order_id")}

    handlers: dict[str, Handler] = {
        "query.stock_level": level,
        "action.reserve_stock": reserve,
        "test.ping": lambda p: {"pong": True},
    }
    specs = [
        MessageSpec(
            type="query.stock_level",
            description="Current quantity of a stock item, per yard.",
            params=[
                MessageParam(name="sku", type="string", required=True, description="stock item code"),
                MessageParam(name="yard", type="string", description="'north' or 'south' (default north)"),
            ],
        ),
        MessageSpec(
            type="action.reserve_stock",
            description="Reserve quantity against an order. Fails when stock is short.",
            params=[
                MessageParam(name="sku", type="string", required=True),
                MessageParam(name="qty", type="integer", required=True),
                MessageParam(name="order_id", type="string", required=True),
                MessageParam(name="yard", type="string"),
            ],
        ),
    ]
    return handlers, specs


def _sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class FakeLegacyApp:
    """A legacy app on 127.0.0.1 (see the module docstring). Use it as a context manager."""

    def __init__(
        self,
        slug: str = "stock-ledger",
        secret: str = "fake-legacy-secret-0123456789",
        *,
        name: str | None = None,
        handlers: dict[str, Handler] | None = None,
        specs: list[MessageSpec] | None = None,
        signature_header: str = "X-Nexus-Signature",
        description: str = "Tracks aluminium extrusion, glass and hardware stock across two yards.",
        capabilities: tuple[str, ...] = ("stock levels per yard", "stock reservation"),
    ) -> None:
        if handlers is None:
            handlers, default_specs = stock_ledger_handlers()
            specs = default_specs if specs is None else specs
        self.slug = slug
        self.secret = secret
        self.name = name or slug.replace("-", " ").title()
        self.handlers = handlers
        self.specs = list(specs or [])
        self.signature_header = signature_header
        self.description = description
        self.capabilities = capabilities
        self.faults: dict[str, str] = {}
        self.delay = 2.0
        self.health_status = "ok"
        self.messages: list[ReceivedMessage] = []
        self.webhooks: list[ReceivedWebhook] = []
        self.base_url = ""
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._stack: contextlib.ExitStack | None = None

    # -- serving --------------------------------------------------------------------------
    def __enter__(self) -> FakeLegacyApp:
        self._stack = contextlib.ExitStack()
        self.base_url = self._stack.enter_context(serve_in_thread(self.asgi_app()))
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        if self._stack is not None:
            self._stack.close()

    @property
    def message_handler_url(self) -> str:
        return f"{self.base_url}/api/messages/handle"

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}/api/webhooks/nexus"

    @property
    def health_url(self) -> str:
        return f"{self.base_url}/api/health"

    def record(
        self, *, status: AppStatus = AppStatus.active, secret_env: str | None = None, documented: bool = True
    ) -> AppRecord:
        """The app's registry record, pointed at this server (secret by variable name only)."""
        return AppRecord(
            slug=self.slug,
            name=self.name,
            category="legacy",
            description=self.description,
            status=status,
            capabilities=[{"name": c} for c in self.capabilities],  # type: ignore[misc]
            message_types=list(self.handlers),
            message_specs=self.specs if documented else [],
            endpoints={  # type: ignore[arg-type]
                "message_handler_url": self.message_handler_url,
                "webhook_url": self.webhook_url,
                "health_url": self.health_url,
                "webhook_secret_env": secret_env,
                "signature_header": self.signature_header,
            },
        )

    def asgi_app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/messages/handle", self._handle, methods=["POST"]),
                Route("/api/webhooks/nexus", self._webhook, methods=["POST"]),
                Route("/api/health", self._health, methods=["GET"]),
            ]
        )

    def _signed(self, request: Request, raw: bytes) -> bool:
        given = (request.headers.get(self.signature_header) or "").strip().removeprefix("sha256=")
        return bool(given) and hmac.compare_digest(given, _sign(self.secret, raw))

    async def _health(self, request: Request) -> Response:
        return JSONResponse({"status": self.health_status})

    async def _webhook(self, request: Request) -> Response:
        raw = await request.body()
        ok = self._signed(request, raw)
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        with self._lock:
            self.webhooks.append(ReceivedWebhook(body.get("event"), body.get("data"), ok, dict(request.headers)))
        return JSONResponse({"received": ok}, status_code=200 if ok else 401)

    async def _handle(self, request: Request) -> Response:
        raw = await request.body()
        ok = self._signed(request, raw)
        try:
            msg = json.loads(raw)
        except ValueError:
            msg = {}
        kind, params, request_id = msg.get("type"), msg.get("params") or {}, msg.get("request_id")
        with self._lock:
            self.messages.append(ReceivedMessage(kind, msg.get("params"), request_id, ok))
        if not ok:
            return JSONResponse(
                {"request_id": request_id, "status": "error", "result": {"error": "bad signature"}}, 401
            )
        fault = self.faults.get(str(kind))
        if fault is not None:
            return await self._fault(fault, request_id)
        handler = self.handlers.get(str(kind))
        if handler is None:
            return self._answer(request_id, "error", {"error": f"unknown message type {kind}"})
        try:
            return self._answer(request_id, "success", handler(params))
        except LegacyAppError as exc:
            return self._answer(request_id, "error", {"error": str(exc)})

    def _answer(self, request_id: Any, status: str, result: Any) -> Response:
        return JSONResponse({"request_id": request_id, "status": status, "result": result, "timestamp": _stamp()})

    async def _fault(self, fault: str, request_id: Any) -> Response:
        if fault == "error":
            return self._answer(request_id, "error", {"error": "the ledger is locked for stocktake"})
        if fault == "not_json":
            return PlainTextResponse("<html><body>Bad Gateway</body></html>", media_type="text/html")
        if fault == "wrong_request_id":
            return self._answer("someone-elses-request", "success", {"qty": 1})
        if fault == "no_status":
            return JSONResponse({"request_id": request_id, "result": {}})
        if fault == "http_500":
            return PlainTextResponse("internal error", status_code=500)
        if fault == "bom":
            answer = {"request_id": request_id, "status": "success", "result": {"qty": 5}, "timestamp": _stamp()}
            return Response(b"\xef\xbb\xbf" + json.dumps(answer).encode(), media_type="application/json")
        if fault == "huge":  # more than a message handler's answer may be (4 MiB)
            return self._answer(request_id, "success", {"rows": "x" * (5 * 1024 * 1024)})
        # slow: answer after `delay`, or as soon as the app is shutting down
        waited = 0.0
        while waited < self.delay and not self._closing.is_set():
            await anyio.sleep(0.05)
            waited += 0.05
        return self._answer(request_id, "success", {"slow": True})

    # -- the app's own webhooks to Nexus ----------------------------------------------------
    def signed_event(
        self,
        event: str,
        data: dict[str, Any] | None = None,
        *,
        delivery_id: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """The body and headers of one event as this app signs it (for tests that tamper with them)."""
        stamp = int(time.time()) if timestamp is None else timestamp
        envelope = {
            "event": event,
            "delivery_id": delivery_id or uuid.uuid4().hex,
            "timestamp": stamp,
            "source": self.slug,
            "data": data or {},
        }
        body = json.dumps(envelope, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            self.signature_header: _sign(secret or self.secret, body),
        }
        return body, headers

    async def post_event(
        self, nexus_base_url: str, event: str, data: dict[str, Any] | None = None, **options: Any
    ) -> httpx.Response:
        """Post one signed event to Nexus's ``/api/webhooks/apps/<slug>``."""
        body, headers = self.signed_event(event, data, **options)
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(
                f"{nexus_base_url.rstrip('/')}/api/webhooks/apps/{self.slug}", content=body, headers=headers
            )


@contextlib.contextmanager
def fake_legacy_apps(count: int, secret: str, *, prefix: str = "ledger") -> Iterator[list[FakeLegacyApp]]:
    """``count`` fake legacy apps, each on its own port (benchmarks, fan-out tests)."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(FakeLegacyApp(f"{prefix}-{i:03d}", secret)) for i in range(count)]
