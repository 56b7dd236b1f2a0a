"""The offline planner's accuracy on the owner's instructions stays at the issue #11 targets.

The held-out set (``heldout_demo.json``) was written before the planner changes and not tuned on; its
first measurement met the targets (tool 0.91, arguments 0.90, can't 0.90, asks 1.00, no writes for
questions). These floors keep it there; ``benchmarks/planner_accuracy.py`` prints the full table.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from planner_accuracy import evaluate

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def rate(values: list[object]) -> float:
    return sum(bool(v) for v in values) / len(values)


async def test_held_out_instructions_meet_the_targets() -> None:
    marks = (await evaluate("heldout", verbose=False))["ALL"]
    assert len(marks["tool"]) >= 50
    assert rate(marks["tool"]) >= 0.9 and rate(marks["args"]) >= 0.85
    assert rate(marks["cant"]) >= 0.9 and rate(marks["ask"]) >= 0.8
    assert sum(marks["writes_for_question"]) == 0


async def test_tuning_instructions_stay_where_they_are() -> None:
    marks = (await evaluate("tuning", verbose=False))["ALL"]
    assert len(marks["tool"]) >= 100
    assert rate(marks["tool"]) >= 0.95 and rate(marks["args"]) >= 0.95
    assert rate(marks["cant"]) >= 0.95 and rate(marks["ask"]) >= 0.95
    assert sum(marks["writes_for_question"]) == 0
