"""Words to terms, the same way for tool descriptions and for instructions.

Lower-cased words, stopwords dropped, the light stemmer of :mod:`nexus_agent.gaps`
(``quoting``, ``quotes``, ``quotation`` -> ``quot``) and a synonym table in the
owner's vocabulary: every variant of a concept becomes one ``=concept`` term, so
'estimate' in an instruction meets 'quote' in a tool description. Multi-word
phrases are matched first ('credit check', 'site visit', 'follow up').
"""

from __future__ import annotations

import functools
import re

from nexus_agent.gaps import STOPWORDS, SYNONYMS, stem


def _wordlist(text: str) -> list[str]:
    return text.split()


__all__ = ["ID_HINTS", "PLANNER_SYNONYMS", "quoted_options", "split_identifier", "terms"]

#: Planner-specific concepts, checked before the gap-analysis table.
PLANNER_SYNONYMS: dict[str, tuple[str, ...]] = {
    "chase": ("chase", "chaser", "chasing", "follow up", "follow-up", "nudge", "remind", "reminder"),
    "overdue": (
        "overdue",
        "late payment",
        "unpaid",
        "owe",
        "owes",
        "owing",
        "arrears",
        "aged debt",
        "outstanding",
        "late payer",
        "late payers",
    ),
    "payment": ("payment", "pay", "paid", "paying", "payer", "payers", "receivable", "cash collection"),
    "approval": ("approval", "approve", "sign off", "sign-off", "authorise", "authorize", "authorisation"),
    "margin": ("margin", "profitability", "profit", "markup", "mark-up"),
    "holiday": ("holiday", "annual leave", "time off", "leave request"),
    "complaint": ("complaint", "complain", "complained", "unhappy customer"),
    "drawing": ("drawing", "cad", "shop drawing", "technical drawing"),
    "snag": ("snag", "snagging", "defect", "punch list"),
    "certificate": ("certificate", "certification", "fensa", "compliance certificate"),
    "purchase order": ("purchase order", "po", "supplier order", "order from supplier"),
    "cutting list": ("cutting list", "cut list", "cutting schedule"),
    "van": ("van", "vehicle", "fleet"),
    "timesheet": ("timesheet", "hours worked", "clock in"),
    "stock": ("stock", "lengths", "bars", "extrusion", "extrusions", "inventory", "stock level"),
    "decision": ("decision", "decide", "decided", "agreed", "agree"),
    "remember": (
        "remember",
        "memory",
        "recall",
        "remind me what",
        "note",
        "notes",
        "make a note",
        "jot down",
        "write down",
        "keep in mind",
        "note down",
    ),
    "schedule": (
        "schedule",
        "book",
        "booking",
        "booked",
        "pencil",
        "arrange",
        "slot in",
        "put in the diary",
        "appointment",
    ),
    "credit check": (
        "credit check",
        "credit vetting",
        "credit vet",
        "credit rating",
        "credit score",
        "creditworthiness",
        "credit worthy",
        "credit-wise",
        "credit wise",
        "ok to trade",
        "safe to trade",
        "good for credit",
    ),
    "web": ("web", "website", "online", "internet", "web form"),
    "phone": ("phone", "telephone", "phoned", "rang", "over the phone"),
    "email": ("email", "e-mail", "emailed", "mail"),
    "referral": ("referral", "referred", "recommendation", "word of mouth"),
    "sent": ("sent", "sent out", "still out", "gone out", "issued"),
    "search": ("search", "mentioning", "mention", "mentions", "containing"),
    "wait": ("wait", "waiting", "await", "awaiting", "held", "pending"),
}

_EXTRA_STOPWORDS = frozenset(
    _wordlist(
        "me my please tell show give let know need needs want wants get got make sure just about there here did "
        "what how many much list find look see them those these anything everything something been being was "
        "were has have had more than less over under after before since ago"
    )
)
#: 'app' means a satellite to the planner (the registry tools), so it is not a stopword here.
_STOP = (STOPWORDS | _EXTRA_STOPWORDS) - {"app", "apps", "application", "applications"}
_WORD = re.compile(r"[^\W_]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_DIGIT = re.compile(r"\d")


def _words(text: str) -> list[str]:
    # Numbers and ids ('Q-1042', '25k', '2025') say nothing about which tool to use: dropped.
    return [w for w in _WORD.findall(text.lower()) if len(w) > 1 and w not in _STOP and not _DIGIT.search(w)]


def _build_phrases() -> tuple[dict[tuple[str, ...], str], int]:
    phrases: dict[tuple[str, ...], str] = {}
    for table in (PLANNER_SYNONYMS, SYNONYMS):
        for concept, variants in table.items():
            for variant in (concept, *variants):
                key = tuple(stem(w) for w in _words(variant))  # as the text side sees it: no stopwords
                if key:
                    phrases.setdefault(key, "=" + concept)
    return phrases, max(len(k) for k in phrases)


_PHRASES, _LONGEST = _build_phrases()


#: An id says what it is about: 'Q-1042' is a quote, 'INV-2025-0193' an invoice.
ID_HINTS: dict[str, str] = {
    "Q": "quote", "QU": "quote", "QUO": "quote", "QT": "quote", "ENQ": "enquiry", "EQ": "enquiry",
    "INV": "invoice", "ORD": "order", "SO": "order", "PO": "purchase order", "JOB": "job", "CUST": "customer",
    "CUS": "customer", "ACC": "customer account", "SUR": "survey", "SV": "survey", "INS": "installation",
    "FAB": "fabrication", "CN": "credit note", "TKT": "ticket", "NCR": "complaint",
}  # fmt: skip
_ID_HINT = re.compile(r"\b([A-Z]{1,4})-\d")
_CODE = re.compile(r"\b[A-Z]{1,6}(?:-[A-Za-z0-9]+)*-\d[A-Za-z0-9-]*\b")
_STOCK_CODE = re.compile(r"\b[A-Z]{2,5}-\d{3,6}-[0-9A-Za-z]+\b")  # 'EXT-6063-50x50': a stock item


@functools.lru_cache(maxsize=65536)
def _terms_cached(text: str) -> tuple[str, ...]:
    hints = [ID_HINTS[m[1]] for m in _ID_HINT.finditer(text) if m[1] in ID_HINTS]
    hints += ["stock" for m in _STOCK_CODE.finditer(text) if m[0].split("-", 1)[0] not in ID_HINTS]
    if hints:  # the id itself goes; what it says it is stays
        text = _CODE.sub(" ", text) + " " + " ".join(hints)
    stems = [stem(w) for w in _words(text)]
    out: list[str] = []
    i = 0
    while i < len(stems):
        for n in range(min(_LONGEST, len(stems) - i), 0, -1):
            concept = _PHRASES.get(tuple(stems[i : i + n]))
            if concept:
                out.append(concept)
                i += n
                break
        else:
            out.append(stems[i])
            i += 1
    return tuple(out)


def terms(text: str) -> list[str]:
    """``'Chase quotes awaiting approval'`` -> ``['=chase', '=quote', 'await', '=approval']``."""
    return list(_terms_cached(text))


def split_identifier(name: str) -> str:
    """``'quote-engine__listOpenQuotes'`` -> ``'quote engine list Open Quotes'``."""
    return " ".join(_CAMEL.sub(" ", part) for part in re.split(r"[_\-.:/\s]+", name) if part)


_QUOTED = re.compile(r"['\"]([\w-]{3,})['\"]")


def quoted_options(description: str) -> list[str]:
    """The values a description lists in quotes, when it lists several: ``"'north' or 'south'"``."""
    found = _QUOTED.findall(description)
    return found if len(found) >= 2 else []
