"""The hot paths' JSON (wire.json_codec) writes the text json.dumps writes and reads what json.loads reads."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import pytest

from nexus_agent.wire import json_codec

ODD_TEXT = [
    "",
    "plain",
    'quote " and \\ backslash',
    "tab\tnew\nline\x00\x1f",
    "é ü ß 中文 🙂",
    "\u2028\u2029",
    "\ud800",
]
ODD_NUMBERS = [0, -1, 2**63, -(2**70), 1e15, 1e-7, 0.1, -0.0, 1.5e300, float("nan"), float("inf"), float("-inf")]


def random_value(rng: random.Random, depth: int = 0) -> Any:
    kinds = ["text", "number", "bool", "null"] + (["list", "object"] if depth < 4 else [])
    kind = rng.choice(kinds)
    if kind == "text":
        return rng.choice(ODD_TEXT) + "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randrange(6)))
    if kind == "number":
        return rng.choice([*ODD_NUMBERS, rng.randrange(-(10**6), 10**6), rng.uniform(-1e6, 1e6)])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(5))]
    return {rng.choice(ODD_TEXT) + str(i): random_value(rng, depth + 1) for i in range(rng.randrange(5))}


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"separators": (",", ":")},
        {"separators": (",", ":"), "ensure_ascii": False},
        {"ensure_ascii": False, "default": str},
    ],
)
def test_the_encoder_writes_what_json_dumps_writes(options: dict[str, Any]) -> None:
    encode = json_codec.encoder(**options)
    rng = random.Random(7)
    for _ in range(3000):
        value = random_value(rng)
        assert encode(value) == json.dumps(value, **options)


def test_the_encoder_uses_default_for_what_json_cannot_hold_and_refuses_without_one() -> None:
    assert json_codec.encoder(default=str)({"at": {1, 2}}) == json.dumps({"at": {1, 2}}, default=str)
    with pytest.raises(TypeError):
        json_codec.encoder()({"at": object()})


def test_loads_reads_what_json_loads_reads() -> None:
    rng = random.Random(11)
    for _ in range(3000):
        value = random_value(rng)
        for text in (json.dumps(value), json.dumps(value, ensure_ascii=False), f" \n{json.dumps(value)}\t\r\n "):
            got, want = json_codec.loads(text), json.loads(text)
            assert json.dumps(got) == json.dumps(want)  # NaN != NaN: compared as text


@pytest.mark.parametrize("text", ["", " ", "{", '{"a": 1} x', '{"a": 1}{}', "[1,]", "nul", '"\\x"', "1 2", "\ufeff{}"])
def test_loads_refuses_what_json_loads_refuses_with_the_same_words(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as want:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as got:
        json_codec.loads(text)
    assert (got.value.msg, got.value.pos) == (want.value.msg, want.value.pos)


def test_nan_survives_the_round_trip() -> None:
    assert math.isnan(json_codec.loads(json_codec.encoder()(float("nan"))))
