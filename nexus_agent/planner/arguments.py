"""Fill a tool's arguments from values stated in the instruction, and only those.

A property is filled when its name (and type, format or enum) says what kind of
value it wants and the instruction states such a value: ``min_total`` takes
'over £25k' (25000), ``older_than_days`` takes 'more than a week' (7),
``quote_id`` takes 'Q-1042', an enum takes a value the instruction names. Each
filled property keeps the words that justify it. Required properties that
cannot be filled are reported, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nexus_agent.planner.entities import Amount, Entities, Found
from nexus_agent.planner.text import quoted_options, split_identifier, terms

__all__ = ["Filled", "fill_arguments", "ids_for", "is_id_property"]

_ID_KINDS: dict[str, tuple[str, ...]] = {
    "quote": ("Q", "QU", "QUO", "QT"),
    "quotation": ("Q", "QU", "QUO", "QT"),
    "enquiry": ("ENQ", "EQ"),
    "inquiry": ("ENQ", "EQ"),
    "lead": ("ENQ", "EQ"),
    "invoice": ("INV", "IN"),
    "order": ("ORD", "SO"),
    "po": ("PO",),
    "purchase": ("PO",),
    "job": ("JOB", "J"),
    "customer": ("CUST", "CUS", "ACC"),
    "client": ("CUST", "CUS", "ACC"),
    "account": ("CUST", "CUS", "ACC"),
    "survey": ("SUR", "SV"),
    "site": ("SITE",),
    "installation": ("INS",),
    "fabrication": ("FAB",),
    "task": ("TASK",),
    "ticket": ("TKT", "NCR"),
    "complaint": ("TKT", "NCR"),
    "credit": ("CN",),
}
_MONEY_WORDS = {"amount", "total", "value", "price", "gbp", "pounds", "net", "gross", "cost", "spend", "balance", "sum"}
_PERCENT_WORDS = {"margin", "percent", "percentage", "pct", "markup", "discount", "rate"}
_DAY_WORDS = {"day", "days", "age", "older", "waiting", "overdue", "lookback", "since", "weeks", "stale"}
_QTY_WORDS = {"qty", "quantity", "count", "units", "lengths", "pieces"}
_MIN_WORDS = {"min", "minimum", "over", "above", "from", "least", "older", "more", "greater", "after", "since"}
_MAX_WORDS = {"max", "maximum", "under", "below", "upto", "most", "less", "within", "until", "before", "lookback"}
_END_WORDS = {"to", "end", "until", "before", "finish"}
_QUERY_WORDS = {"query", "search", "text", "keywords", "q", "terms"}
_NOTE_WORDS = {"note", "message", "reason", "comment", "body", "subject", "title", "notes", "description"}
_NAME_WORDS = {"customer", "client", "company", "contact", "name", "account"}


@dataclass
class Filled:
    arguments: dict[str, Any] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)  # property -> the words that justify it
    missing: list[str] = field(default_factory=list)  # required properties it could not fill
    guessed: set[str] = field(default_factory=set)  # filled from the instruction's leftover words, not a value

    @property
    def carried(self) -> int:
        """How many stated constraints the call carries (leftover words do not count)."""
        return len({self.reasons.get(p, p) for p in set(self.arguments) - self.guessed})  # one value, once

    @property
    def complete(self) -> bool:
        return not self.missing


def _words(name: str) -> set[str]:
    return {w.lower() for w in split_identifier(name).split()}


def _pick_amount(amounts: Iterable[Amount], words: set[str]) -> Amount | None:
    wants = "min" if words & _MIN_WORDS else "max" if words & _MAX_WORDS else None
    for amount in amounts:
        if wants is None or amount.bound in {wants, "exact"}:
            return amount
    return None


def _id_for(words: set[str], tool_words: set[str], ids: list[Found]) -> Found | None:
    kinds = [k for k in words if k in _ID_KINDS]
    if not kinds and words & {"id", "ref", "reference", "number"}:
        kinds = [k for k in tool_words if k in _ID_KINDS]  # 'id' on a quote tool is a quote id
    prefixes = {p for k in kinds for p in _ID_KINDS[k]}
    return next((f for f in ids if str(f.value).split("-", 1)[0] in prefixes or _noun_of(f) in kinds), None)


def _noun_of(found: Found) -> str:
    """The record noun an id was stated with ('order O-77' -> 'order'), '' when it was stated bare."""
    head = found.text.split()
    return head[0].lower() if len(head) > 1 and head[-1] == str(found.value) else ""


def is_id_property(prop: str) -> bool:
    words = _words(prop)
    return bool(words & {"id", "ref", "reference"}) or prop.endswith("_id")


def ids_for(prop: str, tool_name: str, found: list[Found]) -> list[Found]:
    """The ids among ``found`` that are of the kind property ``prop`` of ``tool_name`` wants."""
    tool_words = _words(tool_name) | {t.lstrip("=") for t in terms(split_identifier(tool_name))}
    return [f for f in found if _id_for(_words(prop), tool_words, [f])]


def _enum(values: list[Any], text_terms: set[str], lower: str) -> tuple[Any, str] | None:
    best: tuple[int, Any, str] | None = None
    for value in values:
        if not isinstance(value, str):
            continue
        value_terms = set(terms(split_identifier(value)))
        if value_terms and value_terms <= text_terms:
            score = len(value_terms)
        elif len(value) > 2 and re.search(rf"\b{re.escape(value.lower())}\b", lower):
            score = 1
        else:
            continue
        if best is None or score > best[0]:
            best = (score, value, value)
    return (best[1], best[2]) if best else None


class _Context:
    def __init__(self, instruction: str, entities: Entities, tool_name: str, tool_text: str, slugs: Iterable[str]):
        self.instruction = instruction
        self.lower = instruction.lower()
        self.entities = entities
        self.terms = set(terms(instruction))
        self.tool_words = _words(tool_name) | {t.lstrip("=") for t in terms(split_identifier(tool_name))}
        self.tool_terms = set(terms(f"{split_identifier(tool_name)} {tool_text}"))
        self.tool_text = tool_text
        self.slugs = list(slugs)


def _number(prop: str, schema: Mapping[str, Any], ctx: _Context) -> tuple[Any, str] | None:
    words = _words(prop)
    e = ctx.entities
    if words & _PERCENT_WORDS and e.percents:
        amount = _pick_amount(e.percents, words)
        if amount:
            maximum = schema.get("maximum")
            fraction = (isinstance(maximum, int | float) and maximum <= 1) or "fraction" in str(
                schema.get("description", "")
            )
            return (amount.value / 100 if fraction else amount.value), amount.text
    if words & _DAY_WORDS and e.durations:
        for d in e.durations:
            wants = "min" if words & _MIN_WORDS else "max" if words & _MAX_WORDS else None
            if wants is None or d.bound in {wants, "exact"} or (wants == "min" and "older" in words):
                value = d.days / 7 if "weeks" in words else d.days
                return (int(value) if float(value).is_integer() else value), d.text
    if (words & _MONEY_WORDS or "£" in str(schema.get("description", ""))) and e.money:
        amount = _pick_amount(e.money, words)
        if amount:
            return (int(amount.value) if amount.value.is_integer() else amount.value), amount.text
    if words & _QTY_WORDS and e.quantities:
        return e.quantities[0].value, e.quantities[0].text
    return None


def _string(prop: str, schema: Mapping[str, Any], ctx: _Context) -> tuple[Any, str] | None:
    words = _words(prop)
    e = ctx.entities
    fmt = schema.get("format")
    if fmt in {"date", "date-time"} or words & {"date", "from", "to", "start", "end", "until", "due", "when", "on"}:
        if e.dates and "update" not in words:
            found = e.dates[-1] if words & _END_WORDS and len(e.dates) > 1 else e.dates[0]
            if words & _END_WORDS and len(e.dates) == 1 and not words & {"date", "due"}:
                return None
            value = str(found.value) + ("T00:00:00Z" if fmt == "date-time" else "")
            return value, found.text
        return None
    if words & {"sku", "product", "code", "item", "part", "stock"} and e.skus:
        return e.skus[0].value, e.skus[0].text
    if words & {"id", "ref", "reference", "number"} or any(w.endswith("id") for w in words):
        found_id = _id_for(words, ctx.tool_words, e.ids)
        return (found_id.value, found_id.text) if found_id else None
    described = _described_value(prop, str(schema.get("description", "")), words, ctx)
    if described is not None:
        return described
    if "email" in words and e.emails:
        return e.emails[0].value, e.emails[0].text
    if words & {"postcode", "zip", "post"} and e.postcodes:
        return e.postcodes[0].value, e.postcodes[0].text
    if words & {"slug", "app", "satellite", "source"}:
        for slug in ctx.slugs:
            if slug in ctx.lower or slug.replace("-", " ") in ctx.lower:
                return slug, slug
        return None
    if words & _NOTE_WORDS and e.quoted:
        return e.quoted[0].value, e.quoted[0].text
    if words & _NAME_WORDS and e.names:
        return e.names[0].value, e.names[0].text
    if words & _QUERY_WORDS:
        if e.quoted:
            return e.quoted[0].value, e.quoted[0].text
        if e.postcodes and "postcode" in ctx.tool_text.lower():
            return e.postcodes[0].value, e.postcodes[0].text
        if e.names:
            return e.names[0].value, e.names[0].text
        # the instruction's own words, less those about the tool itself ('what did we decide about X')
        own = [
            w
            for w in re.findall(r"[A-Za-z][\w&'-]*", ctx.instruction)
            if (terms(w) and not set(terms(w)) & ctx.tool_terms) or (re.search(r"\d", w) and len(w) > 2)
        ]
        if own:
            text = " ".join(own[:6])
            return text, _GUESSED + text
    return None


_GUESSED = "\x00"  # marks a value taken from the instruction's leftover words
_OPTIONS = re.compile(r"\b([A-Z][\w-]*)(?=,| or | and |\.|$)")


def _described_value(prop: str, description: str, words: set[str], ctx: _Context) -> tuple[Any, str] | None:
    """Values a string property's description lists ('Leeds, Bradford or Harrogate.'; 'Crew A, B or C'),
    when the instruction names one; an id of the kind the description shows ('(CUST-...)')."""
    e = ctx.entities
    shown = re.findall(r"\b([A-Z]{2,6})-", description)
    if shown:
        found = next((f for f in e.ids if str(f.value).split("-", 1)[0] in shown), None)
        if found is not None:
            return found.value, found.text
    label = re.search(rf"\b({re.escape(prop.replace('_', ' '))})\s+([A-Z0-9])\b", description, re.I)
    if label:  # 'Crew A, B or C': the instruction says 'crew b'
        said = re.search(rf"\b{re.escape(label[1])}\s+([A-Za-z0-9])\b", ctx.instruction, re.I)
        if said:
            return f"{label[1]} {said[1].upper()}", said[0]
    quoted = quoted_options(description)  # "'north' or 'south'": the exact values the app takes
    for options in (quoted, [o for o in _OPTIONS.findall(description) if len(o) >= 3]):
        if len(options) < 2:
            continue
        for option in options:
            m = re.search(rf"\b{re.escape(option)}\b", ctx.instruction, re.I)
            if m:
                return option, m[0]
    return None


def _value(prop: str, schema: Mapping[str, Any], ctx: _Context) -> tuple[Any, str] | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if "enum" in schema:
        return _enum(list(schema["enum"]), ctx.terms, ctx.lower)
    if kind in {"number", "integer"}:
        found = _number(prop, schema, ctx)
        if found and kind == "integer":
            value = found[0]
            return (int(value), found[1]) if float(value).is_integer() else None
        return found
    if kind == "boolean":
        words = _words(prop) - {"only", "include", "is", "has", "flag", "show"}
        prop_terms = set(terms(" ".join(words)))
        return (True, " ".join(sorted(words))) if prop_terms and prop_terms <= ctx.terms else None
    if kind == "array":
        items = schema.get("items") or {}
        if "enum" in items:
            picked = [v for v in items["enum"] if _enum([v], ctx.terms, ctx.lower)]
            return (picked, ", ".join(map(str, picked))) if picked else None
        if items.get("type") == "string" and any(w.endswith("ids") for w in _words(prop)):
            singular = {w[:-1] if w.endswith("s") else w for w in _words(prop)}
            ids = [f for f in ctx.entities.ids if _id_for(singular, ctx.tool_words, [f])]
            return ([f.value for f in ids], ", ".join(str(f.value) for f in ids)) if ids else None
        return None
    if kind == "string" or kind is None:
        return _string(prop, schema, ctx)
    return None


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow a local ``$ref`` and a one-of-null ``anyOf`` (pydantic's ``X | None``)."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    options = schema.get("anyOf")
    if isinstance(options, list):
        real = [o for o in options if o.get("type") != "null"]
        if len(real) == 1:
            schema = {**_resolve(real[0], root), **{k: v for k, v in schema.items() if k != "anyOf"}}
    return schema


def fill_arguments(
    schema: Mapping[str, Any],
    instruction: str,
    entities: Entities,
    *,
    tool_name: str = "",
    tool_text: str = "",
    slugs: Iterable[str] = (),
) -> Filled:
    """Arguments for one tool from the instruction; see the module docstring for the rules."""
    ctx = _Context(instruction, entities, tool_name, tool_text, slugs)
    out = Filled()
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    for prop, raw in properties.items():
        resolved = _resolve(raw, schema) if isinstance(raw, Mapping) else {}
        said = _said(instruction) if _free_text(prop, resolved) else ""
        found = (said, said) if said else _value(prop, resolved, ctx) if isinstance(raw, Mapping) else None
        if found is not None:
            out.arguments[prop], reason = found
            if reason.startswith(_GUESSED):
                out.guessed.add(prop)
                reason = reason[1:]
            out.reasons[prop] = reason
        elif prop in required:
            out.missing.append(prop)
    return out


_TEXT_PROPS = {"text", "note", "body", "message", "content", "decision", "description", "summary"}
_LEAD = re.compile(
    r"^\s*(?:(?:please|pls|can you|could you|just)\s+)*"
    r"(?:remember(?:\s+that)?|note(?:\s+down)?(?:\s+that)?|make a note(?:\s+that)?|jot(?:\s+down)?(?:\s+that)?|"
    r"write down(?:\s+that)?|log(?:\s+that)?|record(?:\s+that)?|keep in mind(?:\s+that)?)\s*[:,-]?\s*",
    re.I,
)


def _free_text(prop: str, schema: Mapping[str, Any]) -> bool:
    kind = schema.get("type")
    plain = kind in {"string", None} and not {"enum", "pattern", "format"} & set(schema)
    return plain and bool(_words(prop) & _TEXT_PROPS)


def _said(instruction: str) -> str:
    """What the owner asked to be written down: the instruction less its leading 'remember that'."""
    m = _LEAD.match(instruction)
    return instruction[m.end() :].strip() if m and m.end() < len(instruction) else ""
