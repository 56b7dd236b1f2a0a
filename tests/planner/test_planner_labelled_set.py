"""The labelled instruction set: selection recall@k and the offline planner's accuracy, reported.

Run with ``-s`` to see the report. The floors asserted here are what the planner
achieves today, so a regression fails the build. The offline heuristics were
developed against the labelled set (37/38); the held-out set was written
afterwards and is the fairer figure (7/12 on first run, 9/12 after fixing two
general bugs it exposed: the year of a past date, and 'Can you ...?' read as a
question).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from planner_catalogue import FakeSatellites, records

from nexus_agent.planner import Catalogue, NexusToolProvider, OfferedTool, OfflineModel, ToolSelector, recall_at_k

pytestmark = pytest.mark.anyio

HERE = Path(__file__).parent
KS = (1, 3, 5, 10, 24)


def load(name: str) -> dict[str, Any]:
    return json.loads((HERE / name).read_text(encoding="utf-8"))


async def evaluate(data: dict[str, Any]) -> dict[str, Any]:
    tools = await FakeSatellites().descriptors() + await NexusToolProvider(None).descriptors()
    cat = Catalogue(tools).with_apps({r.slug: (r.status.value, tuple(r.capability_names())) for r in records()})
    selector = ToolSelector()
    now = datetime.fromisoformat(data["now"])
    model = OfflineModel(clock=lambda: now)
    recall = dict.fromkeys(KS, 0.0)
    correct, misses = 0, []
    for item in data["items"]:
        ranked = selector.select(cat, item["instruction"], keep=lambda d: d.app_status != "suspended")
        names = [r.descriptor.name for r in ranked]
        for k in KS:
            recall[k] += recall_at_k(names, item["tools"], k)
        turn = model.plan(item["instruction"], [OfferedTool(r.descriptor, r.score, r.contributions) for r in ranked])
        got = {c.name: c.arguments for c in turn.tool_calls}
        ok = all(
            tool in got and all(got[tool].get(arg) == value for arg, value in args.items())
            for tool, args in item["offline"].items()
        )
        correct += ok
        if not ok:
            misses.append(f"{item['instruction']!r}: made {got}")
    n = len(data["items"])
    return {"n": n, "recall": {k: v / n for k, v in recall.items()}, "offline": correct / n, "misses": misses}


def report(title: str, result: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        recall = ", ".join(f"@{k} {v:.3f}" for k, v in result["recall"].items())
        print(f"\n{title}: {result['n']} instructions; recall {recall}; offline accuracy {result['offline']:.3f}")
        for miss in result["misses"]:
            print(f"  offline miss: {miss}")


async def test_labelled_set_recall_and_offline_accuracy(capsys: pytest.CaptureFixture[str]) -> None:
    data = load("labelled_instructions.json")
    result = await evaluate(data)
    report("labelled set", result, capsys)
    assert result["n"] >= 30
    assert result["recall"][24] >= 0.95
    assert result["recall"][10] >= 0.95
    assert result["offline"] >= 0.95


async def test_held_out_set_recall_and_offline_accuracy(capsys: pytest.CaptureFixture[str]) -> None:
    result = await evaluate(load("heldout_instructions.json"))
    report("held-out set", result, capsys)
    assert result["recall"][24] >= 0.95
    # 0.58 when first run; 0.75 after fixing two general bugs it exposed; 0.67 with the issue #11 planner (not
    # tuned on it). The planner's held-out figure now comes from heldout_demo.json (benchmarks/planner_accuracy.py).
    assert result["offline"] >= 0.65
