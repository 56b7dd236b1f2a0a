"""The demo's sample business: quotes, enquiries, accounts, crews and invoices of a made-up week at SFG Aluminium.

Dates are relative to the day the demo runs, so 'waiting more than a week' means
the same thing whenever it is run. Everything here is invented; nothing is read
from or written to any real system. :class:`DemoBook` is the satellites' shared
state for one run: what they hold, and what was done to it (chases, bookings).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

from pydantic import BaseModel

__all__ = [
    "APPROVAL_THRESHOLD",
    "MIN_MARGIN_PCT",
    "Account",
    "Booking",
    "Chase",
    "CrewDay",
    "DemoBook",
    "Enquiry",
    "Invoice",
    "Quote",
    "sample_book",
]

QuoteStatus = Literal["draft", "sent", "accepted", "declined", "expired"]
EnquiryStatus = Literal["new", "qualified", "quoted", "won", "lost"]
EnquirySource = Literal["web", "phone", "email", "referral"]
Rating = Literal["A", "B", "C", "D"]

#: A quote over this total (£) waits for the owner's approval before it is sent.
APPROVAL_THRESHOLD = 40_000
#: A quote under this margin waits for the owner's approval too.
MIN_MARGIN_PCT = 15.0


class Quote(BaseModel):
    quote_id: str
    customer: str
    customer_id: str
    job: str
    total: float
    margin_pct: float
    status: QuoteStatus
    created_on: date
    sent_on: date | None = None
    days_waiting: int | None = None


class Enquiry(BaseModel):
    enquiry_id: str
    customer: str
    received_on: date
    source: EnquirySource
    status: EnquiryStatus
    summary: str
    postcode: str


class Account(BaseModel):
    customer_id: str
    customer: str
    rating: Rating
    credit_limit: float
    balance: float
    on_stop: bool = False
    note: str = ""


class CrewDay(BaseModel):
    crew: str
    fitters: list[str]
    region: str
    date: date
    booked_for: str | None = None


class Invoice(BaseModel):
    invoice_id: str
    customer: str
    customer_id: str
    amount: float
    due_on: date
    days_overdue: int
    reminders_sent: int


class Chase(BaseModel):
    quote_id: str
    customer: str
    emailed_to: str
    note: str
    chase_number: int
    chased_on: date


class Booking(BaseModel):
    installation_id: str
    order_id: str
    crew: str
    date: date


@dataclass
class DemoBook:
    """The satellites' data for one run, and a log of what Nexus had them do (thread-safe)."""

    today: date
    quotes: list[Quote]
    contacts: dict[str, str]
    enquiries: list[Enquiry]
    accounts: list[Account]
    crew_days: list[CrewDay]
    invoices: list[Invoice]
    chases: list[Chase] = field(default_factory=list)
    bookings: list[Booking] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def quote(self, quote_id: str) -> Quote | None:
        return next((q for q in self.quotes if q.quote_id == quote_id.strip().upper()), None)


# id, customer, account, job, total £, margin %, status, days since created, days since sent
_QUOTES: list[tuple[str, str, str, str, int, float, QuoteStatus, int, int | None]] = [
    ("Q-1039", "Wharfedale Leisure", "CUST-0131", "Pool hall glazing", 39_000, 24.0, "accepted", 34, 30),
    ("Q-1042", "Hartley Construction", "CUST-0107", "Curtain walling, Wellington Street offices", 48_500, 22.5,
     "sent", 15, 12),
    ("Q-1043", "Baxter Homes", "CUST-0112", "Bi-fold doors for plots 3-9, Oakwood Rise", 31_200, 24.1, "sent", 11, 9),
    ("Q-1047", "Northgate Medical Centre", "CUST-0119", "Shopfront and automatic entrance doors", 27_850, 19.0,
     "sent", 18, 16),
    ("Q-1051", "Pennine Schools Trust", "CUST-0124", "Window replacement, Calder Primary", 26_000, 25.3, "sent", 4, 3),
    ("Q-1055", "Leeds Dental Care", "CUST-0126", "Aluminium entrance door and side screen", 8_400, 27.0, "sent", 17,
     15),
    ("Q-1058", "Calder Valley Homes", "CUST-0128", "Sliding patio doors, show home", 12_750, 23.0, "sent", 22, 21),
    ("Q-1060", "Ilkley Lido Trust", "CUST-0133", "Glazed roof lantern and poolside screens", 64_000, 23.5, "draft", 2,
     None),
    ("Q-1062", "Skipton Motors", "CUST-0135", "Showroom curtain walling", 36_900, 12.8, "draft", 1, None),
    ("Q-1063", "Otley Bakery", "CUST-0136", "Shopfront refurbishment", 9_950, 26.0, "draft", 0, None),
]  # fmt: skip

_CONTACTS = {
    "CUST-0107": "j.hartley@hartley-construction.example",
    "CUST-0112": "buying@baxterhomes.example",
    "CUST-0119": "practice.manager@northgate-medical.example",
    "CUST-0124": "estates@pennine-schools.example",
    "CUST-0126": "reception@leedsdental.example",
    "CUST-0128": "site@caldervalleyhomes.example",
}

# id, customer, days ago, source, status, summary, postcode
_ENQUIRIES: list[tuple[str, str, int, EnquirySource, EnquiryStatus, str, str]] = [
    ("ENQ-2025-201", "Harrogate Golf Club", 1, "web", "new", "Clubhouse bi-fold doors, 6 m opening", "HG1 2PX"),
    ("ENQ-2025-198", "Baxter Homes", 3, "email", "qualified", "Windows for phase 2, plots 10-18", "LS16 7QT"),
    ("ENQ-2025-196", "Mrs A. Patel", 4, "phone", "new", "Replacement patio door, rear extension", "BD9 4RS"),
    ("ENQ-2025-190", "Keighley Fire Station", 9, "referral", "quoted", "Appliance bay doors and glazing", "BD21 3LH"),
    ("ENQ-2025-184", "Otley Bakery", 12, "web", "quoted", "Shopfront refurbishment", "LS21 1AA"),
    ("ENQ-2025-171", "Ripon Cathedral Shop", 26, "email", "lost", "Secondary glazing (went with a timber firm)",
     "HG4 1QS"),
]  # fmt: skip

# id, customer, rating, limit £, balance £, on stop, note
_ACCOUNTS: list[tuple[str, str, Rating, int, int, bool, str]] = [
    ("CUST-0107", "Hartley Construction", "A", 75_000, 18_400, False, ""),
    ("CUST-0112", "Baxter Homes", "B", 40_000, 22_150, False, ""),
    ("CUST-0119", "Northgate Medical Centre", "A", 30_000, 0, False, ""),
    ("CUST-0124", "Pennine Schools Trust", "A", 50_000, 3_200, False, ""),
    ("CUST-0126", "Leeds Dental Care", "B", 10_000, 2_100, False, ""),
    ("CUST-0128", "Calder Valley Homes", "C", 15_000, 14_600, True, "On stop: INV-2025-0193 is 41 days overdue."),
    ("CUST-0133", "Ilkley Lido Trust", "B", 50_000, 0, False, "Grant-funded; stage payments agreed."),
    ("CUST-0135", "Skipton Motors", "C", 20_000, 6_800, False, "Paid late twice this year."),
]  # fmt: skip

_CREWS = [  # crew, fitters, region, booked on day offsets (working days from tomorrow)
    ("Crew A", ["Dave Marsh", "Liam Croft"], "Leeds", {0: "ORD-5521", 1: "ORD-5521"}),
    ("Crew B", ["Sam Okafor", "Pete Lund"], "Bradford", {0: "ORD-5530"}),
    ("Crew C", ["Gary Hewitt", "Tom Ashby"], "Harrogate", {2: "ORD-5517", 3: "ORD-5517"}),
]

_INVOICES = [  # id, customer, account, amount £, days overdue (negative: not due yet), reminders sent
    ("INV-2025-0193", "Calder Valley Homes", "CUST-0128", 12_400, 41, 2),
    ("INV-2025-0201", "Baxter Homes", "CUST-0112", 9_850, 18, 1),
    ("INV-2025-0207", "Hartley Construction", "CUST-0107", 18_400, 6, 0),
    ("INV-2025-0212", "Leeds Dental Care", "CUST-0126", 2_100, -9, 0),
]


def _working_days(start: date, count: int) -> list[date]:
    days: list[date] = []
    day = start
    while len(days) < count:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days.append(day)
    return days


def sample_book(today: date) -> DemoBook:
    """A fresh copy of the sample data, dated relative to ``today``."""
    quotes = [
        Quote(
            quote_id=qid,
            customer=customer,
            customer_id=account,
            job=job,
            total=total,
            margin_pct=margin,
            status=status,
            created_on=today - timedelta(days=created),
            sent_on=None if sent is None else today - timedelta(days=sent),
            days_waiting=sent if status == "sent" else None,
        )
        for qid, customer, account, job, total, margin, status, created, sent in _QUOTES
    ]
    enquiries = [
        Enquiry(
            enquiry_id=eid,
            customer=customer,
            received_on=today - timedelta(days=ago),
            source=source,
            status=status,
            summary=summary,
            postcode=postcode,
        )
        for eid, customer, ago, source, status, summary, postcode in _ENQUIRIES
    ]
    accounts = [
        Account(customer_id=cid, customer=name, rating=rating, credit_limit=limit, balance=bal, on_stop=stop, note=note)
        for cid, name, rating, limit, bal, stop, note in _ACCOUNTS
    ]
    days = _working_days(today, 10)
    crew_days = [
        CrewDay(crew=crew, fitters=fitters, region=region, date=day, booked_for=booked.get(i))
        for crew, fitters, region, booked in _CREWS
        for i, day in enumerate(days)
    ]
    invoices = [
        Invoice(
            invoice_id=iid,
            customer=customer,
            customer_id=account,
            amount=amount,
            due_on=today - timedelta(days=overdue),
            days_overdue=max(overdue, 0),
            reminders_sent=reminders,
        )
        for iid, customer, account, amount, overdue, reminders in _INVOICES
    ]
    return DemoBook(
        today=today,
        quotes=quotes,
        contacts=dict(_CONTACTS),
        enquiries=enquiries,
        accounts=accounts,
        crew_days=crew_days,
        invoices=invoices,
    )
