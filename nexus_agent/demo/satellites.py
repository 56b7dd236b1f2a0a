"""The demo's satellites, built with the satellite kit: five small apps over one :class:`DemoBook`.

    book = sample_book(date.today())
    for sat in build_satellites(book):
        app = sat.create_app(SatelliteSettings(tokens=(SecretStr(token),)))

Tool and parameter names follow what SFG Aluminium's apps call things (and what
the offline planner understands): ``min_total`` in pounds, ``older_than_days``,
``quote_id`` like ``Q-1042``. Read-only tools say so; ``chase_quote`` and
``book_installation`` change things and so wait for the owner's approval.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from pydantic import BaseModel, Field

from nexus_agent.demo._data import (
    APPROVAL_THRESHOLD,
    MIN_MARGIN_PCT,
    Account,
    Booking,
    Chase,
    CrewDay,
    DemoBook,
    Enquiry,
    EnquirySource,
    EnquiryStatus,
    Invoice,
    Quote,
    QuoteStatus,
)
from nexus_agent.wire.errors import Conflict, NotFound
from satellite_template import Satellite

__all__ = ["build_satellites"]


class QuoteList(BaseModel):
    quotes: list[Quote]
    count: int


class HeldQuote(BaseModel):
    quote_id: str
    customer: str
    total: float
    reason: str


class HeldQuotes(BaseModel):
    quotes: list[HeldQuote]
    count: int


class EnquiryList(BaseModel):
    enquiries: list[Enquiry]
    count: int


class CreditCheck(BaseModel):
    account: Account
    headroom: float
    verdict: str


class AccountList(BaseModel):
    accounts: list[Account]
    count: int


class FreeCrews(BaseModel):
    date: date
    free: list[CrewDay]
    booked: list[CrewDay]


class Slots(BaseModel):
    slots: list[CrewDay]
    count: int


class InvoiceList(BaseModel):
    invoices: list[Invoice]
    count: int
    total_overdue: float


def build_satellites(book: DemoBook) -> list[Satellite]:
    """Fresh satellites over ``book`` (a Satellite's MCP session manager runs once: build new ones per run)."""
    return [
        _quote_engine(book),
        _enquiries(book),
        _credit_check(book),
        _installation_scheduler(book),
        _invoicing(book),
    ]


def _quote_engine(book: DemoBook) -> Satellite:
    sat = Satellite(
        "quote-engine",
        "Quote Engine",
        version="2.0.0",
        category="sales",
        description="Prices aluminium windows, doors and curtain walling, applies margin rules, chases sent quotes.",
        capabilities=[
            "Quote generation with margin checks (15% minimum, 25% target)",
            "Quote follow-up",
            "Owner approval of large or low-margin quotes",
        ],
        owner="sales",
        tags=["demo"],
    )

    @sat.tool(read_only=True, idempotent=True)
    def list_quotes(
        status: Annotated[QuoteStatus | None, Field(description="Only quotes in this status.")] = None,
        min_total: Annotated[float | None, Field(ge=0, description="Only quotes worth at least this many £.")] = None,
        older_than_days: Annotated[
            int | None, Field(ge=0, description="Only sent quotes waiting for an answer more than this many days.")
        ] = None,
        customer_id: Annotated[str | None, Field(description="Only this customer's quotes (CUST-...).")] = None,
    ) -> QuoteList:
        """List quotes by status, value (total in £) and age (days since sent, waiting for the customer's answer)."""
        found = [
            q
            for q in book.quotes
            if (status is None or q.status == status)
            and (min_total is None or q.total >= min_total)
            and (older_than_days is None or (q.days_waiting is not None and q.days_waiting > older_than_days))
            and (customer_id is None or q.customer_id == customer_id.strip().upper())
        ]
        return QuoteList(quotes=found, count=len(found))

    @sat.tool(read_only=True, idempotent=True)
    def get_quote(quote_id: Annotated[str, Field(description="The quote, e.g. Q-1042.")]) -> Quote:
        """Read one quote: customer, job, total, margin and status."""
        return _known_quote(book, quote_id)

    @sat.tool(read_only=True, idempotent=True)
    def list_quotes_awaiting_approval() -> HeldQuotes:
        """Quotes held for the owner's approval before they are sent (over the approval threshold or under the
        minimum margin)."""
        return _held_quotes(book)

    @sat.tool(read_only=False, idempotent=False, destructive=False)
    def chase_quote(
        quote_id: Annotated[str, Field(description="The sent quote to chase, e.g. Q-1042.")],
        note: Annotated[str | None, Field(max_length=1000, description="A line to add to the email.")] = None,
    ) -> Chase:
        """Chase a customer about a sent quote: emails them a polite follow-up reminder and logs the chase."""
        return _chase(book, quote_id, note)

    return sat


def _held_quotes(book: DemoBook) -> HeldQuotes:
    held = []
    for q in book.quotes:
        if q.status != "draft":
            continue
        if q.total > APPROVAL_THRESHOLD:
            reason = f"over the £{APPROVAL_THRESHOLD // 1000}k approval threshold"
        elif q.margin_pct < MIN_MARGIN_PCT:
            reason = f"margin {q.margin_pct:g}% is under the {MIN_MARGIN_PCT:g}% minimum"
        else:
            continue
        held.append(HeldQuote(quote_id=q.quote_id, customer=q.customer, total=q.total, reason=reason))
    return HeldQuotes(quotes=held, count=len(held))


def _chase(book: DemoBook, quote_id: str, note: str | None) -> Chase:
    quote = _known_quote(book, quote_id)
    if quote.status != "sent":
        raise Conflict(
            f"{quote.quote_id} is {quote.status}, not sent, so there is nothing to chase",
            hint="Only quotes sent to the customer and still waiting for an answer can be chased.",
        )
    with book.lock:
        number = 1 + sum(c.quote_id == quote.quote_id for c in book.chases)
        chase = Chase(
            quote_id=quote.quote_id,
            customer=quote.customer,
            emailed_to=book.contacts.get(quote.customer_id, "accounts@unknown.example"),
            note=note or f"Following up our quote {quote.quote_id} ({quote.job}); happy to answer any questions.",
            chase_number=number,
            chased_on=book.today,
        )
        book.chases.append(chase)
    return chase


def _known_quote(book: DemoBook, quote_id: str) -> Quote:
    quote = book.quote(quote_id)
    if quote is None:
        known = ", ".join(q.quote_id for q in book.quotes)
        raise NotFound(f"there is no quote {quote_id!r}", hint=f"Known quotes: {known}.")
    return quote


def _enquiries(book: DemoBook) -> Satellite:
    sat = Satellite(
        "enquiries",
        "Enquiries Desk",
        version="1.4.0",
        category="sales",
        description="Captures and qualifies new enquiries from the web, phone and email.",
        capabilities=["Enquiry intake", "Lead qualification", "Enquiry search"],
        owner="sales",
        tags=["demo"],
    )

    @sat.tool(read_only=True, idempotent=True)
    def list_enquiries(
        status: Annotated[EnquiryStatus | None, Field(description="Only enquiries in this status.")] = None,
        source: Annotated[EnquirySource | None, Field(description="Only enquiries from this channel.")] = None,
        max_age_days: Annotated[
            int | None, Field(ge=1, description="Only enquiries received within this many days.")
        ] = None,
    ) -> EnquiryList:
        """List enquiries, filtered by status, source and age in days."""
        found = [
            e
            for e in book.enquiries
            if (status is None or e.status == status)
            and (source is None or e.source == source)
            and (max_age_days is None or (book.today - e.received_on).days <= max_age_days)
        ]
        return EnquiryList(enquiries=found, count=len(found))

    @sat.tool(read_only=True, idempotent=True)
    def search_enquiries(query: Annotated[str, Field(min_length=1, description="Words to look for.")]) -> EnquiryList:
        """Search enquiries by customer, job description or postcode."""
        words = query.lower().split()
        found = [
            e
            for e in book.enquiries
            if any(w in f"{e.customer} {e.summary} {e.postcode} {e.enquiry_id}".lower() for w in words)
        ]
        return EnquiryList(enquiries=found, count=len(found))

    return sat


def _credit_check(book: DemoBook) -> Satellite:
    sat = Satellite(
        "credit-check",
        "Credit Check",
        version="1.1.0",
        category="finance",
        description="Customer credit vetting: ratings, credit limits and the stop list.",
        capabilities=["Customer credit checks", "Credit limits", "Account stop list"],
        owner="finance",
        tags=["demo"],
    )

    @sat.tool(read_only=True, idempotent=True)
    def check_credit(
        customer: Annotated[str, Field(min_length=2, description="Customer name or account id (CUST-...).")],
    ) -> CreditCheck:
        """Credit rating, limit, balance and stop status of a customer account, and whether to extend credit."""
        wanted = customer.strip().lower()
        account = next(
            (a for a in book.accounts if wanted in {a.customer_id.lower(), a.customer.lower()}),
            next((a for a in book.accounts if wanted in a.customer.lower()), None),
        )
        if account is None:
            raise NotFound(f"no customer account matches {customer!r}", hint="Give the account id, e.g. CUST-0107.")
        headroom = account.credit_limit - account.balance
        if account.on_stop:
            verdict = "on stop: no new work until the overdue balance is paid"
        elif account.rating in {"C", "D"}:
            verdict = f"caution: rating {account.rating}; ask for a deposit"
        else:
            verdict = f"ok: £{headroom:,.0f} of credit available"
        return CreditCheck(account=account, headroom=headroom, verdict=verdict)

    @sat.tool(read_only=True, idempotent=True)
    def list_accounts_on_stop() -> AccountList:
        """Customer accounts on stop (no new work until they pay)."""
        found = [a for a in book.accounts if a.on_stop]
        return AccountList(accounts=found, count=len(found))

    return sat


def _installation_scheduler(book: DemoBook) -> Satellite:
    sat = Satellite(
        "installation-scheduler",
        "Installation Scheduler",
        version="0.9.0",
        category="operations",
        description="Rosters installation crews (fitters and vans) and books installs.",
        capabilities=["Installation crew rostering", "Install booking", "Fitter availability"],
        owner="operations",
        tags=["demo"],
    )

    @sat.tool(read_only=True, idempotent=True)
    def available_fitters(
        date: Annotated[date | None, Field(description="The day (default: the next working day).")] = None,
        region: Annotated[str | None, Field(description="Leeds, Bradford or Harrogate.")] = None,
    ) -> FreeCrews:
        """Which installation crews (fitters) are free on a date, and which are booked."""
        day = date or min(c.date for c in book.crew_days)
        on_day = [c for c in book.crew_days if c.date == day and (region is None or c.region.lower() == region.lower())]
        return FreeCrews(
            date=day, free=[c for c in on_day if c.booked_for is None], booked=[c for c in on_day if c.booked_for]
        )

    @sat.tool(read_only=True, idempotent=True)
    def available_installation_slots(
        days_ahead: Annotated[int, Field(ge=1, le=14, description="How many days ahead to look.")] = 14,
        region: Annotated[str | None, Field(description="Leeds, Bradford or Harrogate.")] = None,
    ) -> Slots:
        """Free installation slots (a crew on a day) in the coming fortnight."""
        until = book.today + timedelta(days=days_ahead)
        found = [
            c
            for c in book.crew_days
            if c.booked_for is None and c.date <= until and (region is None or c.region.lower() == region.lower())
        ]
        return Slots(slots=found, count=len(found))

    @sat.tool(read_only=False, idempotent=False, destructive=False)
    def book_installation(
        order_id: Annotated[str, Field(pattern=r"^ORD-\d+$", description="The order to install, e.g. ORD-5540.")],
        date: Annotated[date, Field(description="The installation day.")],
        crew: Annotated[str | None, Field(description="Crew A, B or C (default: the first free one).")] = None,
    ) -> Booking:
        """Book an installation crew for an order on a date."""
        with book.lock:
            free = [c for c in book.crew_days if c.date == date and c.booked_for is None]
            if crew:
                free = [c for c in free if c.crew.lower() == crew.strip().lower()]
            if not free:
                raise Conflict(
                    f"no {crew or 'crew'} is free on {date}", hint="Ask available_installation_slots for free days."
                )
            free[0].booked_for = order_id
            booking = Booking(
                installation_id=f"INS-{7000 + len(book.bookings) + 1}", order_id=order_id, crew=free[0].crew, date=date
            )
            book.bookings.append(booking)
        return booking

    return sat


def _invoicing(book: DemoBook) -> Satellite:
    sat = Satellite(
        "invoicing",
        "Invoicing",
        version="3.2.1",
        category="finance",
        description="Invoices, payments and credit control.",
        capabilities=["Invoice generation", "Payment tracking", "Overdue invoice reporting"],
        owner="finance",
        tags=["demo"],
    )

    @sat.tool(read_only=True, idempotent=True)
    def list_overdue_invoices(
        overdue_days_min: Annotated[
            int | None, Field(ge=0, description="Only invoices overdue this many days.")
        ] = None,
        min_amount: Annotated[float | None, Field(ge=0, description="Only invoices of at least this many £.")] = None,
        customer_id: Annotated[str | None, Field(description="Only this customer's invoices (CUST-...).")] = None,
    ) -> InvoiceList:
        """Overdue invoices: who owes what, how many days late, and how many reminders were sent."""
        found = [
            i
            for i in book.invoices
            if i.days_overdue > 0
            and (overdue_days_min is None or i.days_overdue >= overdue_days_min)
            and (min_amount is None or i.amount >= min_amount)
            and (customer_id is None or i.customer_id == customer_id.strip().upper())
        ]
        return InvoiceList(invoices=found, count=len(found), total_overdue=sum(i.amount for i in found))

    return sat
