"""The offline answer reads a tool's result the way a person would, not as raw JSON."""

from __future__ import annotations

import json

from nexus_agent.planner.offline import readable


def test_an_item_with_its_own_summary_is_shown_by_that_summary() -> None:
    rows = [
        {"sku": "EXT-6063-50x50", "yard": "north", "qty": 42, "summary": "EXT-6063-50x50: 42 in the north yard"},
        {"sku": "EXT-6060-CW52", "yard": "north", "qty": 18, "summary": "EXT-6060-CW52: 18 in the north yard"},
    ]

    line = readable(json.dumps({"items": rows}))

    assert line == "2 items: EXT-6063-50x50: 42 in the north yard; EXT-6060-CW52: 18 in the north yard"
    assert "{" not in line


def test_an_item_without_a_summary_is_shown_by_its_id_and_details() -> None:
    quote = {"quote_id": "Q-1042", "customer": "Hartley Construction", "status": "sent", "total": 48500}

    assert readable(json.dumps({"quotes": [quote]})) == "1 quotes: Q-1042 (Hartley Construction, sent, 48500)"
