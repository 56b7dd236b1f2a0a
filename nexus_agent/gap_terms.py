"""The words of gap analysis: how a text becomes terms, and what each term weighs.

Lower-cased words, stopwords dropped, a light stemmer (``quoting``, ``quotes``, ``quotation`` -> ``quot``)
and a small synonym table in the owner's vocabulary, multi-word phrases first. Domain terms (the synonym
table) weigh 2, ordinary words 1 and generic verbs ('manage', 'generate', 'track') 0.5. Used by
:mod:`nexus_agent.gaps` (and the planner's text matching).
"""

from __future__ import annotations

import functools
import re

__all__ = ["STOPWORDS", "SYNONYMS", "WEAK_WORDS", "normalise", "stem", "term_weight"]

#: Domain concept -> the words and phrases that mean it in SFG Aluminium's business.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "quote": ("quote", "quotation", "estimate", "estimating", "pricing", "price", "costing", "tender"),
    "enquiry": ("enquiry", "inquiry", "enquire", "inquire", "lead", "sales lead", "prospect"),
    "lead time": ("lead time", "lead time estimate"),  # not an enquiry, not a quote
    "invoice": ("invoice", "billing", "bill"),
    "payment": ("payment", "pay", "receivable", "cash collection", "debt chasing"),
    "schedule": ("schedule", "calendar", "booking", "book", "appointment", "diary", "slot", "roster", "rota"),
    "survey": ("survey", "surveyor", "site visit", "site survey", "measure up"),
    "measurement": ("measurement", "measure", "dimension"),
    "stock": ("stock", "inventory", "stock level", "stock control", "inventory control", "stock take"),
    "credit check": ("credit check", "credit vetting", "credit vet", "credit rating", "credit score", "credit scoring"),
    "fabrication": ("fabrication", "fabricate", "manufacturing", "manufacture", "production", "workshop"),
    "installation": ("installation", "install", "installer", "fitting", "fit", "fitter"),
    "margin": ("margin", "profitability", "profit", "markup"),
    "glazing": ("glazing", "glazier", "glass", "curtain wall", "curtain walling"),
    "customer": ("customer", "client"),
    "supplier": ("supplier", "vendor", "procurement", "purchasing", "purchase order"),
    "delivery": ("delivery", "dispatch", "shipping", "logistics", "transport"),
    "staff": ("staff", "crew", "employee", "workforce", "operative", "team"),
    "notification": ("notification", "notify", "alert", "reminder"),
    "report": ("report", "reporting", "dashboard", "analytics", "kpi"),
    "approval": ("approval", "approve", "sign off", "authorisation", "authorization"),
    "accounting": ("accounting", "bookkeeping", "xero", "sage", "quickbooks"),
    "aftercare": ("aftercare", "warranty", "snagging", "remedial", "repair", "service call"),
    "compliance": ("compliance", "certification", "fensa", "building regulation"),
    "document": ("document", "pdf", "paperwork"),
}


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOPWORDS = _word_set(
    "a an and are as at be by can could do does for from has have in into is it its of on or our so that the their "
    "this to via we when where which while who will with within without all any each every per than then them they "
    "us also new app apps application system software tool platform module feature functionality capability "
    "ability able using use based etc e g i ie"
)
#: Generic verbs and nouns that say little on their own: half weight.
WEAK_WORDS = _word_set(
    "manage management handle handling process generate generation create track tracking record capture view "
    "update send check run support automate automation data information detail"
)


def _undouble(w: str) -> str:
    return w[:-1] if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "lsz" else w


def _drop_final_vowel(w: str) -> str:
    return w[:-1] if len(w) > 3 and w.endswith(("e", "y")) else w


@functools.lru_cache(maxsize=8192)
def stem(word: str) -> str:
    """A light, predictable stemmer: 'quotations', 'quoting', 'quoted' and 'quote' all give 'quot'."""
    w = word
    if len(w) <= 3 or w.isdigit():
        return w
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("sses"):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suffix in ("ing", "ed"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = _undouble(w[: -len(suffix)])  # planning -> plan
            break
    for suffix in ("ation", "ment", "ion"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)]
            break
    w = _drop_final_vowel(w)
    for suffix in ("or", "er"):  # surveyor -> survey -> surve, fitter -> fit
        if w.endswith(suffix) and len(w) - len(suffix) >= 4:
            w = _drop_final_vowel(_undouble(w[: -len(suffix)]))
            break
    if len(w) > 4 and w.endswith("at"):  # generat(e) -> gener, like generation
        w = w[:-2]
    return w


def _words(text: str) -> list[str]:
    return [w for w in re.findall(r"[^\W_]+", text.lower()) if (len(w) > 1 or w.isdigit()) and w not in STOPWORDS]


def _build_phrases() -> dict[tuple[str, ...], str]:
    phrases: dict[tuple[str, ...], str] = {}
    for concept, variants in SYNONYMS.items():
        for variant in (concept, *variants):
            key = tuple(stem(w) for w in _words(variant))
            if key:
                phrases.setdefault(key, "=" + concept)
    return phrases


_PHRASES = _build_phrases()
_LONGEST = max(len(k) for k in _PHRASES)
_WEAK = frozenset(stem(w) for w in WEAK_WORDS)


def normalise(text: str) -> list[tuple[str, str]]:
    """Text -> ``[(term, original words)]``; a term is a stem or ``=concept`` (longest phrase first)."""
    words = _words(text)
    stems = [stem(w) for w in words]
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(stems):
        for n in range(min(_LONGEST, len(stems) - i), 0, -1):
            concept = _PHRASES.get(tuple(stems[i : i + n]))
            if concept:
                out.append((concept, " ".join(words[i : i + n])))
                i += n
                break
        else:
            out.append((stems[i], words[i]))
            i += 1
    return out


def term_weight(term: str) -> float:
    return 2.0 if term.startswith("=") else 0.5 if term in _WEAK else 1.0
