"""The planner with the Anthropic backend, through the real SDK and the scripted fake API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio
import pytest
from planner_catalogue import FakeSatellites, obj, s
from planner_support import MakePlanner

from nexus_agent.planner import (
    AnthropicModel,
    Budget,
    CompositeProvider,
    NexusToolProvider,
    StaticApprover,
    ToolDescriptor,
    ToolOutcome,
)
from nexus_agent.services import NexusServices
from nexus_agent.testing.fake_anthropic import FakeAnthropic, api_error, reply, text, tool_use

pytestmark = pytest.mark.anyio

Fake = tuple[FakeAnthropic, Any]
CHASE = "Chase every quote over £25k that has been waiting more than a week and tell me which need my approval"


def results_of(request: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The tool_result blocks of a request's last message, by tool_use id."""
    return {b["tool_use_id"]: b for b in request["messages"][-1]["content"] if b["type"] == "tool_result"}


async def test_parallel_calls_run_together_and_results_go_back_in_one_message(
    make_planner: MakePlanner, satellites: FakeSatellites, fake_api: Fake
) -> None:
    fake, client = fake_api
    fake.add(
        reply(
            text("Listing quotes and overdue invoices."),
            tool_use("quote-engine__list_quotes", {"min_total": 25000, "older_than_days": 7}, id="t1"),
            tool_use("invoicing__list_invoices", {"status": "overdue"}, id="t2"),
        ),
        reply(text("Two quotes need chasing: Q-1042 and Q-1043.")),
    )
    for name in ("quote-engine__list_quotes", "invoicing__list_invoices"):
        satellites.hold[name], satellites.started[name] = anyio.Event(), anyio.Event()

    async def release_when_both_started() -> None:  # only possible if they run concurrently
        for name in satellites.started:
            await satellites.started[name].wait()
        for event in satellites.hold.values():
            event.set()

    planner = make_planner(AnthropicModel(client, "claude-test"))
    with anyio.fail_after(15):
        async with anyio.create_task_group() as tg:
            tg.start_soon(release_when_both_started)
            result = await planner.run(CHASE)
    assert result.status == "succeeded"
    assert result.answer.startswith("Two quotes need chasing")
    assert [c.status for c in result.calls] == ["succeeded", "succeeded"]
    first, second = fake.requests
    assert first["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert all("cache_control" not in t for t in first["tools"][:-1])
    assert first["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert [t["name"] for t in first["tools"]] == sorted(t["name"] for t in first["tools"])
    assert len(first["tools"]) <= 24
    assert first["tools"] == second["tools"] and first["system"] == second["system"]  # stable, cacheable prefix
    blocks = results_of(second)
    assert set(blocks) == {"t1", "t2"} and not any(b.get("is_error") for b in blocks.values())
    assert "Q-1042" in blocks["t1"]["content"]
    assert result.usage.steps == 2 and result.usage.tokens > 0
    assert result.backend == "anthropic:claude-test"


async def test_a_satellite_error_mid_plan_goes_back_to_the_model(
    make_planner: MakePlanner, satellites: FakeSatellites, fake_api: Fake, registered: NexusServices
) -> None:
    fake, client = fake_api
    satellites.failing["invoicing__list_invoices"] = "[upstream_error] invoicing answered 503"
    fake.add(
        reply(
            tool_use("quote-engine__list_quotes", {"status": "sent"}, id="a"),
            tool_use("invoicing__list_invoices", {}, id="b"),
        ),
        reply(text("Quotes listed; invoicing is down, try later.")),
    )
    result = await make_planner(AnthropicModel(client, "claude-test")).run("Show sent quotes and overdue invoices")
    assert result.status == "partial"  # the model answered, but the invoices were never fetched
    blocks = results_of(fake.requests[1])
    assert blocks["b"]["is_error"] is True and "503" in blocks["b"]["content"]
    assert not blocks["a"].get("is_error")
    assert "Failed: invoicing__list_invoices({}): [upstream_error] invoicing answered 503" in result.answer
    steps = (await registered.memory.get_plan(result.plan_id)).steps
    assert [(st.tool, st.status) for st in steps] == [
        ("quote-engine__list_quotes", "succeeded"),
        ("invoicing__list_invoices", "failed"),
    ]


async def test_an_invalid_call_never_reaches_a_satellite_and_is_corrected_next_turn(
    make_planner: MakePlanner, satellites: FakeSatellites, fake_api: Fake
) -> None:
    fake, client = fake_api
    fake.add(
        reply(
            tool_use("quote-engine__list_quotes", {"min_total": "lots", "colour": "red"}, id="bad"),
            tool_use("quote-engine__list_quote", {}, id="typo"),
        ),
        reply(tool_use("quote-engine__list_quotes", {"min_total": 25000}, id="good")),
        reply(text("Done.")),
    )
    result = await make_planner(AnthropicModel(client, "claude-test")).run(CHASE)
    assert result.status == "succeeded"
    errors = results_of(fake.requests[1])
    assert errors["bad"]["is_error"] and "min_total: 'lots' is not of type 'number'" in errors["bad"]["content"]
    assert "'colour' was unexpected" in errors["bad"]["content"]
    assert errors["typo"]["is_error"] and "Did you mean quote-engine__list_quotes" in errors["typo"]["content"]
    assert satellites.log == [("quote-engine__list_quotes", {"min_total": 25000})]
    assert [c.status for c in result.calls] == ["invalid", "invalid", "succeeded"]


async def test_the_step_budget_stops_the_plan_and_says_what_is_left(
    make_planner: MakePlanner, satellites: FakeSatellites, fake_api: Fake
) -> None:
    fake, client = fake_api
    fake.add(
        reply(tool_use("quote-engine__list_quotes", {}, id="s1")),
        reply(tool_use("quote-engine__get_quote", {"quote_id": "Q-1042"}, id="s2")),
        reply(text("never asked for")),
    )
    planner = make_planner(AnthropicModel(client, "claude-test"))
    result = await planner.run(CHASE, budget=Budget(max_steps=2))
    assert result.status == "budget_exhausted"
    assert "the step budget ran out (2 model turns)" in result.answer
    assert [(c.id, c.status) for c in result.calls] == [("s1", "succeeded"), ("s2", "skipped")]
    assert "Left to do: quote-engine__get_quote" in result.answer
    assert fake.remaining == 1 and satellites.calls["quote-engine__get_quote"] == 0
    last_turn_note = fake.requests[1]["messages"][-1]["content"][-1]
    assert last_turn_note["type"] == "text" and "last turn of 2" in last_turn_note["text"]


async def test_the_token_budget_stops_the_plan(make_planner: MakePlanner, fake_api: Fake) -> None:
    fake, client = fake_api
    fake.add(reply(tool_use("quote-engine__list_quotes", {}, id="x"), input_tokens=5000), reply(text("unused")))
    result = await make_planner(AnthropicModel(client, "claude-test")).run(CHASE, budget=Budget(max_tokens=2000))
    assert result.status == "budget_exhausted" and "token budget ran out" in result.answer
    assert len(fake.requests) == 1


async def test_approval_path_both_ways_with_the_model(
    make_planner: MakePlanner, satellites: FakeSatellites, fake_api: Fake
) -> None:
    fake, client = fake_api
    planner = make_planner(AnthropicModel(client, "claude-test"))
    fake.add(
        reply(text("Chasing Q-1043."), tool_use("quote-engine__send_quote_chaser", {"quote_id": "Q-1043"}, id="c1"))
    )
    pending = await planner.run("Chase Q-1043")
    assert pending.status == "awaiting_approval" and len(fake.requests) == 1
    fake.add(reply(text("Chased Q-1043.")))
    done = await planner.approve(pending.plan_id)
    assert done.status == "succeeded" and satellites.calls["quote-engine__send_quote_chaser"] == 1
    assert not results_of(fake.requests[1])["c1"].get("is_error")

    fake.add(reply(tool_use("quote-engine__send_quote_chaser", {"quote_id": "Q-1042"}, id="c2")))
    pending = await planner.run("Chase Q-1042")
    rejected = await planner.reject(pending.plan_id, "Hartley asked us not to")
    assert rejected.status == "cancelled" and len(fake.requests) == 3
    assert satellites.calls["quote-engine__send_quote_chaser"] == 1

    fake.add(
        reply(tool_use("quote-engine__send_quote_chaser", {"quote_id": "Q-1042"}, id="c3")), reply(text("Not sent."))
    )
    declined = await planner.run("Chase Q-1042", approver=StaticApprover(False))
    assert declined.status == "cancelled" and declined.calls[0].status == "rejected"  # nothing done: not success
    assert results_of(fake.requests[-1])["c3"]["is_error"] is True
    assert satellites.calls["quote-engine__send_quote_chaser"] == 1


async def test_a_call_to_a_circuit_broken_satellite_is_refused(
    make_planner: MakePlanner, satellites: FakeSatellites, fake_api: Fake
) -> None:
    fake, client = fake_api
    satellites.broken["credit-check"] = "5 failures in a row"
    fake.add(
        reply(tool_use("credit-check__get_credit_status", {"customer_id": "CUST-0042"}, id="k")), reply(text("ok"))
    )
    result = await make_planner(AnthropicModel(client, "claude-test")).run("Credit status of CUST-0042?")
    assert not any(t["name"].startswith("credit-check__") for t in fake.requests[0]["tools"])
    assert "UNAVAILABLE right now" in fake.requests[0]["messages"][0]["content"][0]["text"]
    assert "circuit to credit-check is open" in results_of(fake.requests[1])["k"]["content"]
    assert result.calls[0].status == "invalid" and not satellites.calls


async def test_an_api_error_fails_the_plan_with_a_readable_reason(make_planner: MakePlanner, fake_api: Fake) -> None:
    fake, client = fake_api
    fake.add(api_error(529, "Overloaded", "overloaded_error"))
    result = await make_planner(AnthropicModel(client, "claude-test")).run(CHASE)
    assert result.status == "failed"
    assert "the Anthropic API refused the planning request (529)" in result.answer


class OddNames:
    """A provider whose tool names the Messages API would refuse as they are."""

    name = "truth.source/read file"

    async def descriptors(self) -> list[ToolDescriptor]:
        return [
            ToolDescriptor(
                self.name, "Read a quote file from the truth source.", obj(path=s()), read_only=True, source="truth"
            )
        ]

    def is_available(self, name: str) -> bool | str:
        return True

    async def call(self, name: str, arguments: Mapping[str, Any]) -> ToolOutcome:
        return ToolOutcome(ok=True, content={"read": name})


async def test_tool_names_are_mapped_to_and_from_the_api_alphabet(
    make_planner: MakePlanner, registered: NexusServices, fake_api: Fake
) -> None:
    fake, client = fake_api
    provider = CompositeProvider([NexusToolProvider(registered), OddNames()])
    model = AnthropicModel(client, "claude-test")
    wire = model.request("sys", [{"role": "user", "content": "x"}], [])  # no tools: no tools key
    assert "tools" not in wire

    def call_by_wire_name(body: dict[str, Any]) -> Any:
        name = next(t["name"] for t in body["tools"] if t["name"].startswith("truth"))
        return reply(tool_use(name, {"path": "quotes/Q-1042.json"}, id="w"))

    fake.add(call_by_wire_name, reply(text("read it")))
    result = await make_planner(model, provider=provider).run("Read the quote file in the truth source")
    assert result.calls[0].tool == OddNames.name and result.calls[0].status == "succeeded"
    assert fake.requests[1]["messages"][1]["content"][0]["name"] != OddNames.name  # sent mapped
