# ruff: noqa: E501  (a data table: one tool per line reads best)
"""A realistic, in-process satellite catalogue for planner tests and benchmarks.

Sixteen of SFG Aluminium's satellites, 3-6 tools each, with JSON schemas,
read-only annotations and canned answers. :class:`FakeSatellites` is a
``ToolProvider``: it counts calls, can fail a tool, open a satellite's circuit,
or hold a call until released (to simulate a crash mid-call).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

from nexus_agent.planner import ToolDescriptor, ToolOutcome
from nexus_agent.wire.models import AppRecord


def _words(text: str) -> list[str]:
    return text.split()


def s(kind: str = "string", description: str = "", **extra: Any) -> dict[str, Any]:
    return {"type": kind, "description": description, **extra}


def obj(required: tuple[str, ...] = (), **props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(required), "additionalProperties": False}


DATE = {"format": "date"}
PERIODS = ["this_week", "this_month", "last_month", "this_quarter"]

QUOTES = [
    {"quote_id": "Q-1042", "customer": "Hartley Construction", "total": 48_500, "status": "sent", "age_days": 12},
    {"quote_id": "Q-1043", "customer": "Baxter Homes", "total": 31_200, "status": "sent", "age_days": 9},
    {"quote_id": "Q-1051", "customer": "Pennine Schools", "total": 26_000, "status": "sent", "age_days": 3},
    {"quote_id": "Q-1055", "customer": "Leeds Dental", "total": 8_400, "status": "sent", "age_days": 15},
]


def _list_quotes(args: Mapping[str, Any]) -> dict[str, Any]:
    found = [
        q
        for q in QUOTES
        if q["total"] >= args.get("min_total", 0)
        and q["age_days"] >= args.get("older_than_days", 0)
        and q["status"] == args.get("status", q["status"])
    ]
    return {"quotes": found, "total": len(found)}


@dataclass
class Tool:
    name: str
    description: str
    schema: dict[str, Any]
    read_only: bool = True
    idempotent: bool = False
    destructive: bool = False
    answer: Callable[[Mapping[str, Any]], Any] | None = None


@dataclass
class App:
    slug: str
    name: str
    category: str
    description: str
    capabilities: list[str]
    tools: list[Tool]
    status: str = "active"


def _ok(**fixed: Any) -> Callable[[Mapping[str, Any]], Any]:
    return lambda args: {**fixed, "request": dict(args)}


APPS: list[App] = [
    App("enquiries", "Enquiries Desk", "sales", "Captures and qualifies new enquiries from the web, phone and email.",
        ["Enquiry intake", "Lead qualification", "Enquiry follow-up"], [
        Tool("list_enquiries", "List enquiries, filtered by status, source and age in days.",
             obj(status=s(enum=["new", "qualified", "quoted", "won", "lost"]), source=s(enum=["web", "phone", "email", "referral"]),
                 max_age_days=s("integer", "Only enquiries received within this many days.", minimum=1)),
             answer=_ok(enquiries=[{"enquiry_id": "ENQ-2025-014", "customer": "Baxter Homes", "status": "new"}])),
        Tool("get_enquiry", "Read one enquiry with its notes.", obj(("enquiry_id",), enquiry_id=s(pattern="^ENQ-"))),
        Tool("create_enquiry", "Record a new enquiry from a customer.",
             obj(("customer_name", "description"), customer_name=s(), description=s(), source=s(enum=["web", "phone", "email", "referral"])),
             read_only=False),
        Tool("assign_enquiry", "Assign an enquiry to an estimator.", obj(("enquiry_id", "assignee"), enquiry_id=s(), assignee=s()),
             read_only=False, idempotent=True),
        Tool("mark_enquiry_lost", "Close an enquiry as lost, with the reason.", obj(("enquiry_id",), enquiry_id=s(), reason=s()),
             read_only=False),
    ]),
    App("quote-engine", "Quote Engine", "sales",
        "Prices aluminium windows, doors and shopfronts, applies margin and tier rules, renders PDF quotes.",
        ["Quote generation with margin checks (15% minimum, 25% target)", "Customer tier discounts", "PDF quote rendering",
         "Quote follow-up"], [
        Tool("list_quotes", "List quotes by status, value (total in £) and age (days since sent).",
             obj(status=s(enum=["draft", "sent", "accepted", "declined", "expired"]),
                 min_total=s("number", "Only quotes worth at least this many pounds.", minimum=0),
                 older_than_days=s("integer", "Only quotes sent more than this many days ago.", minimum=0),
                 customer_id=s()), answer=_list_quotes),
        Tool("get_quote", "Read one quote: lines, total, margin and status.", obj(("quote_id",), quote_id=s(pattern="^Q-")),
             answer=lambda a: next((q for q in QUOTES if q["quote_id"] == a["quote_id"]), {"error": "no such quote"})),
        Tool("create_quote", "Price an enquiry and create a draft quote.",
             obj(("enquiry_id",), enquiry_id=s(), margin_target_pct=s("number", minimum=0, maximum=100)), read_only=False),
        Tool("send_quote_chaser", "Chase a customer about a sent quote: emails a polite follow-up reminder.",
             obj(("quote_id",), quote_id=s(pattern="^Q-"), message=s()), read_only=False,
             answer=lambda a: {"chased": a["quote_id"], "email": "sent"}),
        Tool("list_quotes_awaiting_approval",
             "Quotes held for the owner's approval before they are sent (over the approval threshold or under the "
             "minimum margin).", obj(), answer=_ok(quotes=[{"quote_id": "Q-1042", "reason": "over £40k"}])),
        Tool("approve_quote", "Approve a held quote so it can be sent.", obj(("quote_id",), quote_id=s(pattern="^Q-"), note=s()),
             read_only=False),
    ]),
    App("margin-analyser", "Margin Analyser", "finance", "Job and quote profitability.",
        ["Job margin analysis", "Profitability reports", "Margin alerts"], [
        Tool("job_margins", "Gross margin per job for a period; optionally only jobs below a margin percentage.",
             obj(period=s(enum=PERIODS), below_margin_pct=s("number", minimum=0, maximum=100), customer_id=s())),
        Tool("quote_margin_check", "Check a quote's margin against the 15% minimum and 25% target.",
             obj(("quote_id",), quote_id=s(pattern="^Q-"))),
        Tool("margin_report", "Margin report for a period, grouped by customer, product or installer.",
             obj(("period",), period=s(enum=PERIODS), group_by=s(enum=["customer", "product", "installer"]))),
    ]),
    App("credit-check", "Credit Check", "finance", "Customer credit vetting through the bureau, credit limits, stop list.",
        ["Customer credit checks", "Credit limits", "Account stop list"], [
        Tool("run_credit_check", "Run a bureau credit check on a customer (a paid search) for an order value.",
             obj(("customer_id",), customer_id=s(pattern="^CUST-"), amount=s("number", minimum=0)),
             read_only=False, idempotent=True, answer=_ok(rating="A", limit=60_000)),
        Tool("get_credit_status", "Current credit rating, limit and balance of a customer account.",
             obj(("customer_id",), customer_id=s(pattern="^CUST-"))),
        Tool("set_credit_limit", "Change a customer's credit limit (£).",
             obj(("customer_id", "limit"), customer_id=s(), limit=s("number", minimum=0)), read_only=False),
        Tool("list_accounts_on_stop", "Customer accounts on stop (no new work until paid).", obj()),
    ]),
    App("site-survey", "Site Survey Companion", "operations", "Books surveys and captures measurements.",
        ["Book site surveys", "Capture measurements and photos on site"], [
        Tool("book_survey", "Book a surveyor's site visit for a customer at a postcode on a date.",
             obj(("customer_name", "postcode", "date"), customer_name=s(), postcode=s(), date=s(**DATE), surveyor=s()),
             read_only=False),
        Tool("list_surveys", "Surveys booked or completed between two dates.",
             obj(date_from=s(**DATE), date_to=s(**DATE), status=s(enum=["booked", "completed", "cancelled"]))),
        Tool("get_measurements", "Measurements and photos captured on a survey.", obj(("survey_id",), survey_id=s(pattern="^SUR-"))),
    ]),
    App("fabrication-scheduler", "Fabrication Scheduler", "operations", "Plans workshop fabrication slots.",
        ["Fabrication slot planning", "Workshop capacity", "Cutting lists"], [
        Tool("list_fabrication_slots", "Fabrication slots booked in a week.", obj(("week_start",), week_start=s(**DATE))),
        Tool("schedule_fabrication", "Reserve workshop machine time to fabricate an order.",
             obj(("order_id",), order_id=s(pattern="^ORD-"), start_date=s(**DATE)), read_only=False),
        Tool("workshop_capacity", "Free workshop hours per machine for a week.", obj(("week_start",), week_start=s(**DATE))),
        Tool("generate_cutting_list", "Produce the cutting list of an order's frames.", obj(("order_id",), order_id=s(pattern="^ORD-")),
             idempotent=True),
    ]),
    App("installation-scheduler", "Installation Scheduler", "operations", "Rosters installation crews and vans.",
        ["Installation crew rostering", "Install booking", "Conflict detection between crews and vans"], [
        Tool("crew_availability", "Which installation crews are free on a date.", obj(("date",), date=s(**DATE), region=s())),
        Tool("book_installation", "Book an installation crew for an order on a date.",
             obj(("order_id", "date"), order_id=s(pattern="^ORD-"), date=s(**DATE), crew=s()), read_only=False),
        Tool("list_installations", "Installations booked between two dates.", obj(date_from=s(**DATE), date_to=s(**DATE))),
        Tool("reschedule_installation", "Move a booked installation to a new date.",
             obj(("installation_id", "new_date"), installation_id=s(pattern="^INS-"), new_date=s(**DATE)), read_only=False),
    ]),
    App("invoicing", "Invoicing", "finance", "Invoices, payments and credit notes.",
        ["Invoice generation", "Payment tracking", "Credit notes", "Debt chasing"], [
        Tool("list_invoices", "List invoices by status, days overdue, customer and amount.",
             obj(status=s(enum=["draft", "sent", "paid", "overdue"]), overdue_days_min=s("integer", minimum=0),
                 customer_id=s(), min_amount=s("number", minimum=0)),
             answer=_ok(invoices=[{"invoice_id": "INV-2025-0193", "days_overdue": 41, "amount": 12_400}])),
        Tool("raise_invoice", "Raise an invoice for an order: deposit, stage or final payment.",
             obj(("order_id",), order_id=s(pattern="^ORD-"), stage=s(enum=["deposit", "stage", "final"]), amount=s("number")),
             read_only=False),
        Tool("send_payment_reminder", "Email the customer a payment reminder for an overdue invoice.",
             obj(("invoice_id",), invoice_id=s(pattern="^INV-")), read_only=False),
        Tool("issue_credit_note", "Issue a credit note against an invoice.",
             obj(("invoice_id", "amount"), invoice_id=s(pattern="^INV-"), amount=s("number", minimum=0), reason=s()),
             read_only=False, destructive=True),
    ]),
    App("stock-ledger", "Stock Ledger", "inventory", "Tracks aluminium extrusion, glass and hardware stock across two yards.",
        ["Stock levels per yard", "Reservations against orders", "Low-stock alerts"], [
        Tool("stock_level", "Current quantity of a stock item (SKU), per yard.",
             obj(("sku",), sku=s(), yard=s(enum=["north", "south"])), answer=_ok(qty=212)),
        Tool("reserve_stock", "Reserve a quantity of a SKU against an order. Fails when stock is short.",
             obj(("sku", "qty", "order_id"), sku=s(), qty=s("integer", minimum=1), order_id=s(pattern="^ORD-")),
             read_only=False),
        Tool("release_stock", "Release stock reserved against an order.",
             obj(("sku", "qty", "order_id"), sku=s(), qty=s("integer", minimum=1), order_id=s()), read_only=False),
        Tool("low_stock_report", "Items under their reorder point.", obj(yard=s(enum=["north", "south"]))),
    ]),
    App("purchasing", "Purchasing", "operations", "Supplier purchase orders for glass, extrusions and hardware.",
        ["Supplier purchase orders", "Glass and extrusion ordering", "Supplier lead times"], [
        Tool("create_purchase_order", "Raise a purchase order with a supplier.",
             obj(("supplier", "sku", "qty"), supplier=s(), sku=s(), qty=s("integer", minimum=1)), read_only=False),
        Tool("list_purchase_orders", "Purchase orders by status.", obj(status=s(enum=["open", "delivered", "late"]))),
        Tool("supplier_lead_times", "Current lead times quoted by each supplier.", obj(supplier=s())),
    ]),
    App("customer-crm", "Customer CRM", "sales", "Customer records and contact history.",
        ["Customer records", "Contact history", "Customer tiers"], [
        Tool("find_customer", "Find customers by name.", obj(("name",), name=s())),
        Tool("get_customer", "Read a customer record.", obj(("customer_id",), customer_id=s(pattern="^CUST-"))),
        Tool("log_contact", "Add a note of a call or email to a customer's history.",
             obj(("customer_id", "note"), customer_id=s(), note=s()), read_only=False),
    ]),
    App("delivery-planner", "Delivery Planner", "operations", "Plans van deliveries of finished frames.",
        ["Delivery scheduling", "Van routing", "Dispatch notes"], [
        Tool("list_deliveries", "Deliveries planned on a date.", obj(("date",), date=s(**DATE))),
        Tool("book_delivery", "Book a delivery van for an order on a date.",
             obj(("order_id", "date"), order_id=s(pattern="^ORD-"), date=s(**DATE)), read_only=False),
    ]),
    App("aftercare", "Aftercare", "service", "Warranty claims, snagging and remedial visits.",
        ["Warranty claims", "Snagging lists", "Remedial visits"], [
        Tool("list_open_snags", "Open snags, optionally for one order.", obj(order_id=s(pattern="^ORD-"))),
        Tool("log_warranty_claim", "Log a customer's warranty claim against an order.",
             obj(("order_id", "description"), order_id=s(pattern="^ORD-"), description=s()), read_only=False),
        Tool("book_remedial_visit", "Book a remedial visit to fix a snag.",
             obj(("order_id", "date"), order_id=s(), date=s(**DATE)), read_only=False),
    ]),
    App("document-vault", "Document Vault", "admin", "Drawings, O&M manuals, contracts and certificates.",
        ["Drawings and O&M manuals", "Certificates", "Document search"], [
        Tool("search_documents", "Search stored documents by words and kind.",
             obj(("query",), query=s(), kind=s(enum=["drawing", "certificate", "manual", "contract"]))),
        Tool("get_certificate", "The compliance certificate (FENSA) issued for an order.", obj(("order_id",), order_id=s(pattern="^ORD-"))),
    ]),
    App("staff-rota", "Staff Rota", "people", "Staff holidays, timesheets and the crew rota.",
        ["Staff holidays", "Timesheets", "Crew rota"], [
        Tool("list_holiday_requests", "Holiday requests by status.", obj(status=s(enum=["pending", "approved", "declined"]))),
        Tool("approve_holiday", "Approve a holiday request.", obj(("request_id",), request_id=s(), note=s()), read_only=False),
        Tool("timesheet_summary", "Hours worked per person for a week.", obj(("week_start",), week_start=s(**DATE))),
    ]),
    App("glazing-legacy", "Glazing Legacy Portal", "operations", "Old glazing order portal, being retired.",
        ["Glazing orders"], [
        Tool("list_glazing_orders", "Glazing orders from the old portal.", obj()),
    ], status="suspended"),
]  # fmt: skip


def records() -> list[AppRecord]:
    return [
        AppRecord.model_validate(
            {
                "slug": a.slug,
                "name": a.name,
                "category": a.category,
                "description": a.description,
                "status": a.status,
                "capabilities": a.capabilities,
                "endpoints": {"mcp_url": f"http://127.0.0.1:9/{a.slug}/mcp"},
            }
        )
        for a in APPS
    ]


@dataclass
class FakeSatellites:
    """A ``ToolProvider`` over :data:`APPS` (or any apps)."""

    apps: list[App] = field(default_factory=lambda: list(APPS))
    calls: Counter[str] = field(default_factory=Counter)
    log: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    failing: dict[str, str] = field(default_factory=dict)  # tool -> error text
    broken: dict[str, str] = field(default_factory=dict)  # slug -> reason (circuit open)
    hold: dict[str, anyio.Event] = field(default_factory=dict)  # tool -> released when set
    started: dict[str, anyio.Event] = field(default_factory=dict)  # tool -> set when the call starts

    def __post_init__(self) -> None:
        self._tools = {f"{a.slug}__{t.name}": (a, t) for a in self.apps for t in a.tools}

    async def descriptors(self) -> list[ToolDescriptor]:
        return [
            ToolDescriptor(
                name=name,
                description=t.description,
                input_schema=t.schema,
                read_only=t.read_only,
                idempotent=t.idempotent,
                destructive=t.destructive,
                source=a.slug,
                app_capabilities=tuple(a.capabilities),
            )
            for name, (a, t) in self._tools.items()
        ]

    def is_available(self, name: str) -> bool | str:
        entry = self._tools.get(name)
        if entry is None:
            return f"no satellite offers {name!r}"
        reason = self.broken.get(entry[0].slug)
        return f"the circuit to {entry[0].slug} is open ({reason})" if reason else True

    async def call(self, name: str, arguments: Mapping[str, Any]) -> ToolOutcome:
        self.calls[name] += 1
        self.log.append((name, dict(arguments)))
        if name in self.started:
            self.started[name].set()
        if name in self.hold:
            await self.hold[name].wait()
        if name in self.failing:
            return ToolOutcome(ok=False, error=self.failing[name])
        _, tool = self._tools[name]
        answer = tool.answer(arguments) if tool.answer else {"ok": True, "request": dict(arguments)}
        return ToolOutcome(ok=True, content=answer)


_DOMAINS = _words(
    "fleet marketing payroll recruitment training facilities helpdesk legal insurance safety energy waste print "
    "canteen security reception events pensions expenses travel"
)
_PLACES = _words(
    "north south east west central head office depot yard plant annex campus tower hub main regional group shared"
)
_VERBS = _words("list get create update delete export sync archive approve assign schedule search")
_NOUNS = _words(
    "record entry ticket report campaign vehicle policy document request booking asset contract incident "
    "invoice order schedule item task note contact job"
)
_QUALIFIERS = _words("monthly weekly archived draft pending external internal bulk summary detailed")


def distractors(n: int, seed: int = 7) -> list[ToolDescriptor]:
    """``n`` plausible tools from unrelated back-office apps (same generic verbs and nouns, no numbers)."""
    rng = random.Random(seed)
    out: list[ToolDescriptor] = []
    seen: set[str] = set()
    while len(out) < n:
        domain, place = rng.choice(_DOMAINS), rng.choice(_PLACES)
        verb, noun, qualifier = rng.choice(_VERBS), rng.choice(_NOUNS), rng.choice(_QUALIFIERS)
        slug = f"{domain}-{place}"
        name = f"{slug}__{verb}_{qualifier}_{noun}"
        if name in seen:
            continue
        seen.add(name)
        out.append(
            ToolDescriptor(
                name=name,
                description=f"{verb.capitalize()} a {qualifier} {domain} {noun} by id, date or status.",
                input_schema=obj(id=s(), date=s(**DATE), status=s()),
                read_only=verb in {"list", "get", "export", "search"},
                source=slug,
                app_capabilities=(f"{domain} {noun}s", f"{domain} reporting"),
            )
        )
    return out


def catalogue_tools(n: int, nexus: list[ToolDescriptor]) -> list[ToolDescriptor]:
    """``n`` tools: the realistic satellites and Nexus's own first, then unrelated distractors."""
    real = [
        ToolDescriptor(
            name=f"{a.slug}__{t.name}",
            description=t.description,
            input_schema=t.schema,
            read_only=t.read_only,
            idempotent=t.idempotent,
            destructive=t.destructive,
            source=a.slug,
            app_capabilities=tuple(a.capabilities),
        )
        for a in APPS
        for t in a.tools
    ] + nexus
    return real[:n] + distractors(max(0, n - len(real)))


@dataclass
class StaticProvider:
    """Descriptors only (benchmarks); every call succeeds with an empty result."""

    tools: list[ToolDescriptor]

    async def descriptors(self) -> list[ToolDescriptor]:
        return list(self.tools)

    def is_available(self, name: str) -> bool | str:
        return True

    async def call(self, name: str, arguments: Mapping[str, Any]) -> ToolOutcome:
        return ToolOutcome(ok=True, content={"ok": True})
