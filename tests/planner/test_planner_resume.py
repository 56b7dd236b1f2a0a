"""A plan interrupted by a crash can be inspected and resumed without repeating side effects.

A crash is simulated by cancelling the planner at a known point: nothing after
it runs, as if the process had died there. A fresh planner (new satellites
provider, new model) then resumes the plan from the same database.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
import pytest
from planner_catalogue import FakeSatellites
from planner_support import MakePlanner

from nexus_agent.planner import ModelTurn, OfferedTool, OfflineModel, Planner, StaticApprover, ToolCallRequest
from nexus_agent.services import NexusServices
from nexus_agent.wire.errors import InvalidInput

pytestmark = pytest.mark.anyio

CHASER = "quote-engine__send_quote_chaser"
REMINDER = "invoicing__send_payment_reminder"


async def crash(planner: Planner, instruction: str, point: Callable[[], Awaitable[None]], **kw: Any) -> None:
    """Run ``instruction`` until ``point()`` returns, then stop the planner dead."""
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: planner.run(instruction, **kw))
            await point()
            tg.cancel_scope.cancel()


async def last_plan_id(services: NexusServices) -> int:
    return (await services.memory.recent_activity(kinds=["plan"]))[0].id


class Scripted:
    """A PlannerModel playing a list of turns; a ``None`` turn blocks forever (a crash point)."""

    name = "scripted"

    def __init__(self, turns: Sequence[ModelTurn | None]) -> None:
        self.turns = list(turns)
        self.seen: list[int] = []
        self.asked = anyio.Event()

    async def next_turn(self, system: str, messages: Sequence[Any], tools: Sequence[OfferedTool]) -> ModelTurn:
        self.seen.append(len(messages))
        turn = self.turns.pop(0)
        if turn is None:
            self.asked.set()
            await anyio.sleep_forever()
        assert turn is not None
        return turn


def call(call_id: str, tool: str, **arguments: Any) -> ModelTurn:
    return ModelTurn(tool_calls=[ToolCallRequest(call_id, tool, arguments)])


async def test_a_side_effect_interrupted_mid_call_is_not_re_run_without_approval(
    make_planner: MakePlanner, satellites: FakeSatellites, registered: NexusServices
) -> None:
    satellites.hold[CHASER], satellites.started[CHASER] = anyio.Event(), anyio.Event()
    await crash(make_planner(OfflineModel()), "Send a chaser on quote Q-1043", satellites.started[CHASER].wait,
                approver=StaticApprover(True))  # fmt: skip
    plan_id = await last_plan_id(registered)
    assert satellites.calls[CHASER] == 1  # it was sent off; whether it took effect is unknown
    assert (await make_planner(OfflineModel()).get(plan_id)).status == "interrupted"
    assert (await registered.memory.get_plan(plan_id)).steps[0].status == "running"

    restarted = FakeSatellites()
    second = make_planner(OfflineModel(), satellites=restarted)
    resumed = await second.resume(plan_id)
    assert resumed.status == "awaiting_approval"
    interrupted = resumed.calls[0]
    assert interrupted.interrupted and interrupted.status == "awaiting_approval"
    assert "may already have taken effect" in interrupted.error
    assert not restarted.calls
    step = (await registered.memory.get_plan(plan_id)).steps[0]
    assert step.status == "failed" and step.error.startswith("[unknown]")

    with pytest.raises(InvalidInput, match="may already have taken effect"):
        await second.approve(plan_id)  # approving the plan does not re-approve a possibly-done call
    assert not restarted.calls
    done = await second.approve(plan_id, [interrupted.id], note="checked: the email never went")
    assert done.status == "succeeded" and restarted.calls[CHASER] == 1
    step = (await registered.memory.get_plan(plan_id)).steps[0]
    assert step.status == "succeeded" and step.error == ""


async def test_completed_side_effects_are_never_repeated_and_the_unknown_one_can_be_dropped(
    make_planner: MakePlanner, satellites: FakeSatellites, registered: NexusServices
) -> None:
    satellites.hold[REMINDER], satellites.started[REMINDER] = anyio.Event(), anyio.Event()
    model = Scripted([call("a", CHASER, quote_id="Q-1043"), call("b", REMINDER, invoice_id="INV-2025-0193")])
    await crash(make_planner(model), "Chase Q-1043, then remind INV-2025-0193", satellites.started[REMINDER].wait,
                approver=StaticApprover(True))  # fmt: skip
    plan_id = await last_plan_id(registered)

    restarted = FakeSatellites()
    second = make_planner(Scripted([ModelTurn(text="unused")]), satellites=restarted)
    resumed = await second.resume(plan_id)
    assert {c.tool: (c.status, c.interrupted) for c in resumed.calls} == {
        CHASER: ("succeeded", False),
        REMINDER: ("awaiting_approval", True),
    }
    dropped = await second.reject(plan_id, "I'll phone them instead")
    assert dropped.status == "cancelled"
    assert {c.tool: c.status for c in dropped.calls} == {CHASER: "succeeded", REMINDER: "unknown"}
    assert "Outcome unknown (interrupted, not re-run): invoicing__send_payment_reminder" in dropped.answer
    assert not restarted.calls and satellites.calls[CHASER] == 1
    step = next(s for s in (await registered.memory.get_plan(plan_id)).steps if s.tool == REMINDER)
    assert step.error.startswith("[unknown]") and "not made" not in step.error  # one record, and it says unknown
    said = await registered.memory.search({"query": "reject plan", "kinds": ["decision"], "limit": 50})
    assert not any("declined" in h.title and REMINDER in h.title for h in said.hits)


class StepWatcher:
    """Memory that signals when a plan step reaches a status (the crash point inside a turn)."""

    def __init__(self, memory: Any, status: str) -> None:
        self._memory, self._status, self.reached = memory, status, anyio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._memory, name)

    async def update_plan_step(self, plan_id: int, seq: int, update: Any) -> Any:
        step = await self._memory.update_plan_step(plan_id, seq, update)
        if step.status == self._status:
            self.reached.set()
        return step


async def test_a_call_that_finished_in_the_crashed_turn_counts_as_done(
    make_planner: MakePlanner, satellites: FakeSatellites, registered: NexusServices
) -> None:
    satellites.hold[REMINDER] = anyio.Event()  # never released: still running at the crash
    watcher = StepWatcher(registered.memory, "succeeded")
    model = Scripted([ModelTurn(tool_calls=[
        ToolCallRequest("a", CHASER, {"quote_id": "Q-1043"}),
        ToolCallRequest("b", REMINDER, {"invoice_id": "INV-2025-0193"}),
    ])])  # fmt: skip
    await crash(make_planner(model, memory=watcher), "Chase and remind", watcher.reached.wait,
                approver=StaticApprover(True))  # fmt: skip
    plan_id = await last_plan_id(registered)
    state = await make_planner(OfflineModel()).states.load(plan_id)
    # As last saved: cleared to run. Memory's steps say which were sent (each is marked when it is sent).
    assert {c.tool: c.status for c in state.calls} == {CHASER: "approved", REMINDER: "approved"}

    restarted = FakeSatellites()
    resumed = await make_planner(Scripted([]), satellites=restarted).resume(plan_id)
    assert {c.tool: c.status for c in resumed.calls} == {CHASER: "succeeded", REMINDER: "awaiting_approval"}
    assert not restarted.calls


async def test_an_interrupted_read_only_call_is_simply_run_again(
    make_planner: MakePlanner, satellites: FakeSatellites, registered: NexusServices
) -> None:
    name = "quote-engine__list_quotes"
    satellites.hold[name], satellites.started[name] = anyio.Event(), anyio.Event()
    await crash(make_planner(OfflineModel()), "List sent quotes", satellites.started[name].wait)
    restarted = FakeSatellites()
    resumed = await make_planner(OfflineModel(), satellites=restarted).resume(await last_plan_id(registered))
    assert resumed.status == "succeeded" and restarted.calls[name] == 1


async def test_a_crash_during_the_model_call_resumes_from_the_saved_transcript(
    make_planner: MakePlanner, satellites: FakeSatellites, registered: NexusServices
) -> None:
    first = Scripted([call("m1", CHASER, quote_id="Q-1043"), None])
    await crash(make_planner(first), "Chase Q-1043", first.asked.wait, approver=StaticApprover(True))
    plan_id = await last_plan_id(registered)
    assert satellites.calls[CHASER] == 1

    second = Scripted([ModelTurn(text="Chased Q-1043.")])
    done = await make_planner(second).resume(plan_id)
    assert done.status == "succeeded" and done.answer.startswith("Chased Q-1043.")
    assert second.seen == [3]  # context + instruction, the call, its result: nothing asked twice
    assert satellites.calls[CHASER] == 1


class SaveCrash:
    """Plan state that 'crashes' the process at the first save where a call is cleared but not yet sent."""

    def __init__(self, states: Any) -> None:
        self._states, self.reached = states, anyio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._states, name)

    async def save(self, state: Any) -> None:
        await self._states.save(state)
        if any(c.status == "approved" and not c.read_only for c in state.calls):
            self.reached.set()
            await anyio.sleep_forever()


async def test_calls_never_sent_before_a_crash_run_on_resume_under_their_original_approval(
    make_planner: MakePlanner, satellites: FakeSatellites, registered: NexusServices
) -> None:
    model = Scripted([ModelTurn(tool_calls=[
        ToolCallRequest("a", CHASER, {"quote_id": "Q-1043"}),
        ToolCallRequest("b", REMINDER, {"invoice_id": "INV-2025-0193"}),
    ]), ModelTurn(text="Chased and reminded.")])  # fmt: skip
    first = make_planner(model)
    first.states = SaveCrash(first.states)  # type: ignore[assignment]
    await crash(first, "Chase and remind", first.states.reached.wait, approver=StaticApprover(True))  # type: ignore[attr-defined]
    plan_id = await last_plan_id(registered)
    assert not satellites.calls  # approved, but nothing was sent
    assert {s.status for s in (await registered.memory.get_plan(plan_id)).steps} == {"pending"}

    restarted = FakeSatellites()
    asked = StaticApprover(False)  # would decline, were it asked: it must not be
    done = await make_planner(model, satellites=restarted).resume(plan_id, approver=asked)
    assert done.status == "succeeded" and not asked.asked
    assert restarted.calls == {CHASER: 1, REMINDER: 1}


async def test_a_claim_left_by_a_dead_process_is_taken_over_at_once(
    make_planner: MakePlanner, satellites: FakeSatellites, registered: NexusServices
) -> None:
    import subprocess
    import sys

    from nexus_agent.planner.state import _HOST

    pending = await make_planner(OfflineModel()).run("Chase Q-1043")
    assert pending.status == "awaiting_approval"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = f"{_HOST}:{int(gone.stdout)}"  # a process that has exited
    with registered.database.write() as db:  # as a `nexus plan approve` killed mid-way leaves it
        db.execute(
            "UPDATE plans SET claimed_by = ?, updated_at = strftime('%s','now') WHERE id = ?",
            [dead, pending.plan_id],
        )
    done = await make_planner(OfflineModel()).approve(pending.plan_id)
    assert done.status == "succeeded" and satellites.calls[CHASER] == 1
