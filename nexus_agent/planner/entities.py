"""Values stated in an instruction: money, durations, percentages, dates, ids, names.

Used by the offline planner to fill tool arguments it can justify from the
owner's own words. Everything here is deterministic and keeps the words each
value came from, so a filled argument can say why.

    >>> e = extract("Chase every quote over £25k that has been waiting more than a week")
    >>> e.money[0].value, e.money[0].bound, e.durations[0].days
    (25000.0, 'min', 7)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal


def _wordlist(text: str) -> list[str]:
    return text.split()


def _set(text: str) -> frozenset[str]:
    return frozenset(text.split())


__all__ = ["ID_PREFIXES", "RECORD_NOUNS", "Amount", "Duration", "Entities", "Found", "extract", "proper_nouns"]

Bound = Literal["min", "max", "exact"]

_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fourteen": 14, "fifteen": 15,
    "twenty": 20, "thirty": 30, "a couple of": 2, "a few": 3, "several": 3,
}  # fmt: skip
_UNIT_DAYS = {"day": 1, "week": 7, "fortnight": 14, "month": 30, "year": 365}
_MULT = {"k": 1_000, "m": 1_000_000, "thousand": 1_000, "million": 1_000_000, "grand": 1_000}
_MIN_WORDS = (
    r"(?:over|above|more than|greater than|at least|exceeding|upwards of|bigger than|larger than|min(?:imum)?|from)"
)
_MAX_WORDS = r"(?:under|below|less than|up to|at most|no more than|smaller than|max(?:imum)?|within)"
_MONTHS = {
    m: i
    for i, names in enumerate(
        [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
         ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
         ("dec", "december")],
        start=1,
    )
    for m in names
}  # fmt: skip
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

_MONEY = re.compile(
    r"(?:(?P<cmp>" + _MIN_WORDS + "|" + _MAX_WORDS + r")\s+)?"
    r"(?:£|gbp\s?)(?P<num>\d[\d,]*(?:\.\d+)?)\s*(?P<mult>k|m|thousand|million)?\b"
    r"|(?:(?P<cmp2>"
    + _MIN_WORDS
    + "|"
    + _MAX_WORDS
    + r")\s+)?(?P<num2>\d[\d,]*(?:\.\d+)?)\s*(?P<mult2>k|grand|thousand)\b",
    re.I,
)
_DURATION = re.compile(
    r"(?:(?P<cmp>" + _MIN_WORDS + "|" + _MAX_WORDS + r"|for|in the (?:last|past)|last|past|next|ago)\s+)?"
    r"(?P<n>\d+|a couple of|a few|several|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"fourteen|fifteen|twenty|thirty)?\s*(?P<unit>day|week|fortnight|month|year)s?\b",
    re.I,
)
_PERCENT = re.compile(
    r"(?:(?P<cmp>" + _MIN_WORDS + "|" + _MAX_WORDS + r")\s+)?(?P<n>\d+(?:\.\d+)?)\s*(?:%|per ?cent\b)", re.I
)
_CODE = re.compile(r"\b[A-Z]{1,6}(?:-[A-Za-z0-9]+)+\b")
#: Prefixes of record ids (everything else with a code shape is taken for a stock code / SKU).
ID_PREFIXES = frozenset(
    _wordlist(
        "Q QU QUO QT ENQ EQ INV IN ORD SO PO JOB J CUST CUS ACC SUR SV SITE INS FAB CN CR DN TASK REQ APP NCR TKT"
    )
)
_QUOTED = re.compile(r"(?:(?<=\s)|^)[\"“‘']([^\"”’']{2,200})[\"”’'](?=\s|$|[.,;:!?)])")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b")
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_UK_DATE = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{2,4})\b")
_TEXT_DATE = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?([A-Za-z]{3,9})\b(?:\s+(\d{4}))?")
_NAME = re.compile(r"\b(?:for|from|to|with|at|customer|client)\s+((?:[A-Z][\w&'-]*\s?){1,4})")
_QTY = re.compile(r"\b(\d+)\s+(?:x\s+)?(?:lengths?|units?|pieces?|pcs|sheets?|panels?|windows?|doors?|items?)\b", re.I)
#: A count of a thing named next to it: '2 of EXT-6063-50x50', '10 x AA100', '4 EXT-6063', 'reserve 10 of them'.
_COUNT_OF = re.compile(r"(?<![\w.,£-])(\d+)\s*(?:x\s+|of\s+(?:the\s+|those\s+|them\b)?|(?=[A-Z]{1,6}-\w))", re.I)
#: Nouns that say what record a code names when it has no known prefix ('order O-77', 'job 7781-B').
RECORD_NOUNS = _set(
    "quote quotation enquiry inquiry lead invoice order po job customer client account survey site installation "
    "install fabrication task ticket complaint booking reservation delivery shipment"
)
_NOUN_CODE = re.compile(r"\b([A-Za-z]+)\s+(?:no\.?\s*|number\s+|#)?([A-Z]{1,6}-[A-Za-z0-9-]*\d[A-Za-z0-9-]*)\b")
_NOT_NAMES = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "I", "Nexus"}


_CAPS = re.compile(r"(?<![\w'’-])([A-Z][\w&’'-]*(?:\s+(?:of\s+|&\s+)?[A-Z][\w&’'-]*)*)")
_NOT_CAPS = _set(
    "I Nexus Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June July "
    "August September October November December Easter Christmas OK"
)


#: Words that open a sentence without being part of a name ('Is Leeds Dental Care on stop?').
_LEADING = _set(
    "what what's whats which who who's whose when where why how how's is are was were do does did has have any "
    "anything can could should will would show list give tell find search look pull get check see please pls "
    "chase book send remind nudge email remember note make run raise put"
)


def proper_nouns(text: str) -> list[str]:
    """Capitalised names in the text ('Hartley Construction', 'Kawneer'), the sentence's first word excluded
    unless it is followed by another capitalised word."""
    found: list[str] = []
    for m in _CAPS.finditer(text):
        words = m[1].replace("’", "'").split()
        if m.start() == 0 or text[: m.start()].rstrip().endswith((".", "?", "!", ":")):
            words = words[1:] if len(words) == 1 or words[0].lower() in _LEADING else words
            if words and words[0].lower() in _LEADING:
                words = words[1:]
        words = [w for w in words if not re.search(r"\d", w)]
        while words and (words[0] in _NOT_CAPS or (words[0].isupper() and len(words[0]) <= 4 and "-" in words[0])):
            words = words[1:]
        while words and words[-1] in _NOT_CAPS:
            words = words[:-1]
        name = " ".join(words).strip(" ,.;:!?")
        name = re.sub(r"'s?$", "", name).strip()
        if name and name not in _NOT_CAPS and len(name) > 1:
            found.append(name)
    return list(dict.fromkeys(found))


@dataclass(frozen=True)
class Found:
    value: object
    text: str  # the words it came from


@dataclass(frozen=True)
class Amount:
    value: float
    bound: Bound
    text: str


@dataclass(frozen=True)
class Duration:
    days: int
    bound: Bound
    text: str


@dataclass
class Entities:
    money: list[Amount] = field(default_factory=list)
    durations: list[Duration] = field(default_factory=list)
    percents: list[Amount] = field(default_factory=list)
    dates: list[Found] = field(default_factory=list)
    ids: list[Found] = field(default_factory=list)
    skus: list[Found] = field(default_factory=list)
    quoted: list[Found] = field(default_factory=list)
    emails: list[Found] = field(default_factory=list)
    postcodes: list[Found] = field(default_factory=list)
    names: list[Found] = field(default_factory=list)
    quantities: list[Found] = field(default_factory=list)


def _bound(words: str | None) -> Bound:
    if not words:
        return "exact"
    return "max" if re.fullmatch(_MAX_WORDS, words.strip(), re.I) else "min"


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _money(text: str, out: Entities) -> None:
    for m in _MONEY.finditer(text):
        num = m.group("num") or m.group("num2")
        mult = (m.group("mult") or m.group("mult2") or "").lower()
        value = _number(num) * _MULT.get(mult, 1)
        out.money.append(Amount(value, _bound(m.group("cmp") or m.group("cmp2")), m.group(0).strip()))


def _durations(text: str, out: Entities) -> None:
    for m in re.finditer(r"\b(?:this|the coming|the next)\s+(week|fortnight|month)\b", text, re.I):
        out.durations.append(Duration(_UNIT_DAYS[m[1].lower()], "exact", m[0]))
    for m in _DURATION.finditer(text):
        raw = (m.group("n") or "").lower()
        cmp = (m.group("cmp") or "").lower()
        if not raw and cmp not in {"last", "past", "next", "in the last", "in the past"}:
            continue  # 'weekly', 'this week', 'the month end' are not durations
        n = int(raw) if raw.isdigit() else _NUMBER_WORDS.get(raw, 1)
        days = n * _UNIT_DAYS[m.group("unit").lower()]
        bound: Bound = "min" if cmp in {"ago"} else _bound(cmp) if cmp not in {"for", "next"} else "exact"
        if cmp in {"last", "past", "in the last", "in the past"}:
            bound = "max"
        out.durations.append(Duration(days, bound, m.group(0).strip()))


def _next_weekday(today: date, weekday: int, *, strictly_next: bool) -> date:
    ahead = (weekday - today.weekday()) % 7
    if ahead == 0 or strictly_next:
        ahead = ahead or 7
    return today + timedelta(days=ahead)


def _dates(text: str, now: datetime, out: Entities) -> None:
    today = now.date()
    spans: list[tuple[int, date, str]] = []
    for m in _ISO_DATE.finditer(text):
        try:
            spans.append((m.start(), date(int(m[1]), int(m[2]), int(m[3])), m[0]))
        except ValueError:
            continue
    for m in _UK_DATE.finditer(text):
        year = int(m[3]) + (2000 if len(m[3]) == 2 else 0)
        try:
            spans.append((m.start(), date(year, int(m[2]), int(m[1])), m[0]))
        except ValueError:
            continue
    for m in _TEXT_DATE.finditer(text):
        month = _MONTHS.get(m[2].lower())
        if month is None:
            continue
        years = [int(m[3])] if m[3] else [today.year - 1, today.year, today.year + 1]
        options = []
        for year in years:
            try:
                options.append(date(year, month, int(m[1])))
            except ValueError:
                continue
        if options:  # no year given: the date nearest to today ('2 March' said on 10 March is this year's)
            spans.append((m.start(), min(options, key=lambda d: abs((d - today).days)), m[0]))
    lower = text.lower()
    for word, delta in (("today", 0), ("tomorrow", 1), ("yesterday", -1)):
        for m in re.finditer(rf"\b{word}\b", lower):
            spans.append((m.start(), today + timedelta(days=delta), word))
    for m in re.finditer(r"\b(next|this|on)?\s*(" + "|".join(_WEEKDAYS) + r")\b", lower):
        when = _next_weekday(today, _WEEKDAYS.index(m[2]), strictly_next=m[1] == "next")
        spans.append((m.start(), when, m[0].strip()))
    for m in re.finditer(r"\bnext week\b", lower):
        spans.append((m.start(), _next_weekday(today, 0, strictly_next=True), m[0]))
    for _, when, words in sorted(spans, key=lambda s: s[0]):
        out.dates.append(Found(when.isoformat(), words))


def extract(text: str, now: datetime | None = None) -> Entities:
    """Every value :mod:`nexus_agent.planner.offline` may use to fill arguments."""
    now = now or datetime.now()
    out = Entities()
    _money(text, out)
    _durations(text, out)
    for m in _PERCENT.finditer(text):
        out.percents.append(Amount(float(m["n"]), _bound(m["cmp"]), m[0].strip()))
    _dates(text, now, out)
    named = {m[2]: f"{m[1].lower()} {m[2]}" for m in _NOUN_CODE.finditer(text) if m[1].lower() in RECORD_NOUNS}
    for m in _CODE.finditer(text):
        if any(c.isdigit() for c in m[0]):
            if m[0] in named and m[0].split("-", 1)[0] not in ID_PREFIXES:
                out.ids.append(Found(m[0], named[m[0]]))  # 'order O-77': an order id of the app's own shape
                continue
            target = out.ids if m[0].split("-", 1)[0] in ID_PREFIXES else out.skus
            target.append(Found(m[0], m[0]))
    out.quoted = [Found(m[1].strip(), m[0]) for m in _QUOTED.finditer(text)]
    out.emails = [Found(m[0], m[0]) for m in _EMAIL.finditer(text)]
    out.postcodes = [Found(m[0].upper(), m[0]) for m in _POSTCODE.finditer(text)]
    out.quantities = [Found(int(m[1]), m[0]) for m in _QTY.finditer(text)]
    if not out.quantities:
        out.quantities = [Found(int(m[1]), m[0].strip()) for m in _COUNT_OF.finditer(text)]
    for m in _NAME.finditer(text):
        words = []
        for w in m[1].split():
            if w in _NOT_NAMES or w.lower() in _MONTHS or any(c.isdigit() for c in w):
                break
            words.append(w)
        if words:
            out.names.append(Found(" ".join(words).strip(" ,.;").removesuffix("'s").rstrip("'’"), m[0].strip()))
    known = {n.value for n in out.names}
    unquoted = _QUOTED.sub(" ", text)
    out.names += [Found(n, n) for n in proper_nouns(unquoted) if n not in known and not _is_code(n)]
    return out


def _is_code(name: str) -> bool:
    return bool(_CODE.fullmatch(name)) or name.lower() in _MONTHS
