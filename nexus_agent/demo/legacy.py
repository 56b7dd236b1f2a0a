"""The demo's legacy app: SFG's stock ledger, a web app with a message handler, not an MCP server.

It runs on :class:`~nexus_agent.testing.fake_legacy_app.FakeLegacyApp` (a real HTTP server on
127.0.0.1 that checks the HMAC signature of every message) with a small stock book. Nexus
reaches it exactly like the kit satellites: its message types are tools
(``stock-ledger__query_low_stock``), planned, validated and approved the same way.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from nexus_agent.events.webhook_secrets import default_secret_env
from nexus_agent.testing.fake_legacy_app import FakeLegacyApp, Handler, LegacyAppError
from nexus_agent.wire.models import MessageParam, MessageSpec

__all__ = ["StockBook", "format_legacy", "format_legacy_record", "running_legacy_apps", "stock_ledger"]

SLUG = "stock-ledger"


@dataclass
class StockItem:
    sku: str
    description: str
    yard: str
    qty: int
    reorder_point: int


@dataclass
class StockBook:
    """The stock ledger's data, and the reservations Nexus made (thread-safe: the app runs in a thread)."""

    items: list[StockItem] = field(
        default_factory=lambda: [
            StockItem("EXT-6063-50x50", "6063 box section 50x50, mill", "north", 42, 60),
            StockItem("EXT-6063-50x50", "6063 box section 50x50, mill", "south", 7, 20),
            StockItem("EXT-6060-CW52", "curtain-wall mullion 52 mm", "north", 18, 40),
            StockItem("EXT-6060-SF-DOOR", "shopfront door stile", "north", 64, 30),
            StockItem("GLS-4-16-4", "double-glazed unit 4-16-4", "north", 120, 80),
        ]
    )
    reservations: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def low(self, yard: str | None = None) -> dict[str, Any]:
        rows = [i for i in self.items if i.qty < i.reorder_point and (yard is None or i.yard == yard)]
        items = [
            {
                "sku": i.sku,
                "yard": i.yard,
                "qty": i.qty,
                "reorder_point": i.reorder_point,
                "summary": f"{i.sku} ({i.description}): {i.qty} in the {i.yard} yard, reorder point {i.reorder_point}",
            }
            for i in rows
        ]
        return {"items": items, "count": len(items)}

    def level(self, sku: str, yard: str | None) -> dict[str, Any]:
        rows = [i for i in self.items if i.sku == sku and (yard is None or i.yard == yard)]
        if not rows:
            raise LegacyAppError(f"no stock item {sku}" + (f" in the {yard} yard" if yard else ""))
        return {"sku": sku, "yards": {i.yard: i.qty for i in rows}, "qty": sum(i.qty for i in rows)}

    def reserve(self, sku: str, qty: int, order_id: str, yard: str) -> dict[str, Any]:
        with self.lock:
            item = next((i for i in self.items if i.sku == sku and i.yard == yard), None)
            if item is None or item.qty < qty:
                raise LegacyAppError(
                    f"only {item.qty if item else 0} of {sku} in the {yard} yard; cannot reserve {qty}"
                )
            item.qty -= qty
            reservation_id = f"RES-{uuid.uuid4().hex[:6].upper()}"
            reservation = {"reservation_id": reservation_id, "sku": sku, "qty": qty, "order_id": order_id, "yard": yard}
            self.reservations.append(reservation)
            return reservation


def _specs() -> list[MessageSpec]:
    yard = MessageParam(name="yard", type="string", description="'north' or 'south'; both when left out")
    return [
        MessageSpec(
            type="query.low_stock",
            description="Extrusions, glass and hardware running low: items under their reorder point, per yard.",
            params=[yard],
        ),
        MessageSpec(
            type="query.stock_level",
            description="Current quantity of one stock item (an extrusion, glass unit or hardware), per yard.",
            params=[MessageParam(name="sku", type="string", required=True, description="e.g. EXT-6063-50x50"), yard],
        ),
        MessageSpec(
            type="action.reserve_stock",
            description="Reserve stock against an order. Fails when the yard has too little.",
            params=[
                MessageParam(name="sku", type="string", required=True),
                MessageParam(name="qty", type="integer", required=True),
                MessageParam(name="order_id", type="string", required=True),
                MessageParam(name="yard", type="string", required=True),
            ],
        ),
        MessageSpec(type="test.ping", description="Checks that the stock ledger answers.", params=[]),
    ]


def stock_ledger(book: StockBook, secret: str) -> FakeLegacyApp:
    """The stock ledger app over ``book`` (not started)."""
    handlers: dict[str, Handler] = {
        "query.low_stock": lambda p: book.low(p.get("yard")),
        "query.stock_level": lambda p: book.level(str(p.get("sku")), p.get("yard")),
        "action.reserve_stock": lambda p: book.reserve(
            str(p.get("sku")), int(p.get("qty") or 0), str(p.get("order_id")), str(p.get("yard"))
        ),
        "test.ping": lambda p: {"pong": True},
    }
    return FakeLegacyApp(
        SLUG,
        secret,
        name="Stock Ledger",
        handlers=handlers,
        specs=_specs(),
        description="SFG's stock ledger (a legacy Next.js app): aluminium extrusion, glass and hardware stock "
        "across the north and south yards, reorder points and reservations against orders.",
        capabilities=("stock levels per yard", "low stock alerts", "stock reservation"),
    )


@contextlib.contextmanager
def running_legacy_apps(book: StockBook) -> Iterator[tuple[list[FakeLegacyApp], dict[str, str]]]:
    """Serve the legacy apps on free 127.0.0.1 ports; yield them and the secrets Nexus signs messages with."""
    secret = secrets.token_urlsafe(32)
    with stock_ledger(book, secret) as app:
        yield [app], {default_secret_env(SLUG): secret}


def format_legacy(apps: list[FakeLegacyApp]) -> str:
    lines = [
        f"Started {len(apps)} legacy app (not MCP: a message handler taking signed JSON messages over HTTP, "
        "each message type one tool):"
    ]
    for app in apps:
        types = ", ".join(kind + ("" if kind.startswith(("query.", "test.")) else "*") for kind in app.handlers)
        lines.append(f"  {app.slug:<24} {app.message_handler_url}  {types}")
    return "\n".join(lines)


def format_legacy_record(apps: list[FakeLegacyApp], book: StockBook) -> str:
    """What the legacy apps saw: every message, and whether its signature checked out."""
    lines = []
    for app in apps:
        if not app.messages:
            lines.append(f"  {app.slug} received no messages")
            continue
        kinds = ", ".join(str(m.type) for m in app.messages)
        signed = "each signed correctly" if all(m.signed_ok for m in app.messages) else "NOT all signed correctly"
        lines.append(f"  {app.slug} received {len(app.messages)} message(s), {signed}: {kinds}")
    lines += [
        f"  {SLUG} reserved {r['qty']} x {r['sku']} for {r['order_id']} ({r['yard']} yard)" for r in book.reservations
    ]
    return "\n".join(lines)
