"""Values from the owner's words, and the arguments the offline planner fills (and refuses to guess)."""

from __future__ import annotations

from datetime import datetime

import pytest
from planner_catalogue import obj, s

from nexus_agent.planner.arguments import fill_arguments
from nexus_agent.planner.entities import extract
from nexus_agent.planner.offline import split_clauses

NOW = datetime(2026, 3, 10, 9)  # a Tuesday


@pytest.mark.parametrize(
    ("text", "value", "bound"),
    [
        ("quotes over £25k", 25_000, "min"),
        ("anything under £1.5m", 1_500_000, "max"),
        ("the £48,500 order", 48_500, "exact"),
        ("at least 12k", 12_000, "min"),
    ],
)
def test_money(text: str, value: float, bound: str) -> None:
    amount = extract(text, NOW).money[0]
    assert (amount.value, amount.bound) == (value, bound)


@pytest.mark.parametrize(
    ("text", "days", "bound"),
    [
        ("waiting more than a week", 7, "min"),
        ("overdue by over 30 days", 30, "min"),
        ("in the last 2 weeks", 14, "max"),
        ("within a fortnight", 14, "max"),
        ("a couple of months", 60, "exact"),
    ],
)
def test_durations(text: str, days: int, bound: str) -> None:
    duration = extract(text, NOW).durations[0]
    assert (duration.days, duration.bound) == (days, bound)


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("on 2026-03-20", "2026-03-20"),
        ("on 24 March", "2026-03-24"),
        ("the week starting 2 March", "2026-03-02"),  # the nearest 2 March, not next year's
        ("on 3rd of January", "2026-01-03"),
        ("next Tuesday", "2026-03-17"),
        ("on Friday", "2026-03-13"),
        ("tomorrow", "2026-03-11"),
        ("on 14/04/2026", "2026-04-14"),
    ],
)
def test_dates(text: str, iso: str) -> None:
    assert extract(text, NOW).dates[0].value == iso


def test_ids_codes_names_and_other_values() -> None:
    e = extract(
        'Reserve 40 lengths of EXT-6063-50x50 for ORD-2025-118 and Q-1042, email "final notice" to '
        "accounts@hartley.co.uk for Hartley Construction at LS1 4AP, margin below 15%",
        NOW,
    )
    assert [f.value for f in e.ids] == ["ORD-2025-118", "Q-1042"]
    assert [f.value for f in e.skus] == ["EXT-6063-50x50"]
    assert e.quantities[0].value == 40
    assert e.quoted[0].value == "final notice"
    assert e.emails[0].value == "accounts@hartley.co.uk"
    assert e.postcodes[0].value == "LS1 4AP"
    assert e.names[0].value == "Hartley Construction"
    assert (e.percents[0].value, e.percents[0].bound) == (15.0, "max")


QUOTES = obj(
    status=s(enum=["draft", "sent", "accepted"]),
    min_total=s("number"),
    max_total=s("number"),
    older_than_days=s("integer"),
    limit=s("integer"),
)


def test_fills_only_what_the_instruction_states_and_says_why() -> None:
    text = "Chase every sent quote over £25k that has been waiting more than a week"
    filled = fill_arguments(QUOTES, text, extract(text, NOW), tool_name="quote-engine__list_quotes")
    assert filled.arguments == {"status": "sent", "min_total": 25_000, "older_than_days": 7}
    assert filled.reasons["min_total"] == "over £25k"
    assert "max_total" not in filled.arguments and "limit" not in filled.arguments


def test_required_values_it_cannot_justify_are_reported_not_guessed() -> None:
    schema = obj(("quote_id", "message"), quote_id=s(), message=s())
    text = "Chase the Hartley quote"
    filled = fill_arguments(schema, text, extract(text, NOW), tool_name="quote-engine__send_quote_chaser")
    assert filled.missing == ["quote_id", "message"] and not filled.complete
    other_id = "Chase INV-2025-0001"  # an invoice id is not a quote id
    assert fill_arguments(schema, other_id, extract(other_id, NOW)).missing[0] == "quote_id"


def test_ids_percentages_and_pydantic_style_optionals() -> None:
    schema = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "margin_floor": {"anyOf": [{"type": "number", "maximum": 1}, {"type": "null"}]},
            "yard": {"$ref": "#/$defs/Yard"},
        },
        "$defs": {"Yard": {"enum": ["north", "south"], "type": "string"}},
        "required": ["id"],
    }
    text = "Check the margin on Q-1042 is above 15% for the north yard"
    filled = fill_arguments(schema, text, extract(text, NOW), tool_name="margin-analyser__quote_check")
    assert filled.arguments == {"id": "Q-1042", "margin_floor": 0.15, "yard": "north"}


def test_clauses() -> None:
    assert split_clauses("Chase every quote over £25k and tell me which need my approval") == [
        "Chase every quote over £25k",
        "tell me which need my approval",
    ]
    assert split_clauses("List stock; then book a van. Thanks") == ["List stock", "book a van", "Thanks"]
    assert split_clauses("Quotes for Smith and Jones") == ["Quotes for Smith and Jones"]


@pytest.mark.parametrize(
    ("text", "qty", "order"),
    [
        ("Reserve 2 of EXT-6063-50x50 for order O-77", 2, "O-77"),
        ("Put 12 x EXT-4040 aside against order no. B-5", 12, "B-5"),
        ("Hold 7 EXT-6063-50x50 for ORD-5590", 7, "ORD-5590"),
    ],
)
def test_a_count_next_to_what_it_counts_and_an_id_named_by_its_record_fill_the_call(
    text: str, qty: int, order: str
) -> None:
    schema = obj(
        ("sku", "qty", "order_id"),
        sku=s(description="Stock code"),
        qty=s("integer", "How many lengths"),
        order_id=s(description="The order to reserve against"),
    )
    filled = fill_arguments(schema, text, extract(text, NOW), tool_name="stock-ledger__action_reserve_stock")
    assert filled.complete, filled.missing
    assert (filled.arguments["qty"], filled.arguments["order_id"]) == (qty, order)
    quote = "Chase quote O-77"  # an id stated as a quote's is not an order id
    assert fill_arguments(schema, quote, extract(quote, NOW)).missing == ["sku", "qty", "order_id"]


def test_a_quoted_option_the_description_lists_fills_the_field() -> None:
    # a legacy app documents its yard as "'north' or 'south' (default north)": asking about the south yard must
    # not quietly get the default's answer
    schema = obj(
        ("sku",), sku=s(description="stock item code"), yard=s(description="'north' or 'south' (default north)")
    )
    text = "How much EXT-6063-50x50 stock is in the south yard?"
    filled = fill_arguments(schema, text, extract(text, NOW), tool_name="stock-ledger__query_stock_level")
    assert filled.arguments == {"sku": "EXT-6063-50x50", "yard": "south"}
    unnamed = "How much EXT-6063-50x50 stock do we have?"
    assert "yard" not in fill_arguments(schema, unnamed, extract(unnamed, NOW)).arguments
