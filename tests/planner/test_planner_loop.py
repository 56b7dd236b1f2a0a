"""The planner loop with the offline model: run, approve, reject, dry run, policy, logging."""

from __future__ import annotations

import anyio
import pytest
from planner_catalogue import FakeSatellites
from planner_support import MakePlanner

from nexus_agent.planner import ApprovalPolicy, CallbackApprover, OfflineModel, StaticApprover
from nexus_agent.services import NexusServices
from nexus_agent.wire.errors import Conflict, InvalidInput, NotFound

pytestmark = pytest.mark.anyio

CHASE = "Chase every quote over £25k that has been waiting more than a week and tell me which need my approval"
CHASER = "Send a chaser on quote Q-1043"
TWO_ACTIONS = "Send a chaser on quote Q-1043 and send a payment reminder for invoice INV-2025-0193"


async def test_the_owners_instruction_end_to_end_offline(
    make_planner: MakePlanner, satellites: FakeSatellites, registered: NexusServices
) -> None:
    """'Chase every quote over £25k ...': list them, ask to chase each, chase once approved, answer, log."""
    planner = make_planner(OfflineModel())
    with anyio.fail_after(10):
        pending = await planner.run(CHASE)
    assert pending.status == "awaiting_approval"
    calls = {c.tool: c for c in pending.calls if c.turn == 1}
    assert calls["quote-engine__list_quotes"].arguments == {"min_total": 25000, "older_than_days": 7}
    assert calls["quote-engine__list_quotes"].status == "succeeded"
    assert calls["quote-engine__list_quotes_awaiting_approval"].status == "succeeded"
    chasers = [c for c in pending.calls if c.turn == 2]
    assert [c.arguments for c in chasers] == [{"quote_id": "Q-1042"}, {"quote_id": "Q-1043"}]  # not Q-1051/Q-1055
    assert all(c.status == "awaiting_approval" for c in chasers)
    assert satellites.calls["quote-engine__send_quote_chaser"] == 0

    with anyio.fail_after(10):
        result = await planner.approve(pending.plan_id)
    assert result.status == "succeeded"
    assert satellites.calls == {
        "quote-engine__list_quotes": 1,
        "quote-engine__list_quotes_awaiting_approval": 1,
        "quote-engine__send_quote_chaser": 2,
    }
    assert "Q-1042" in result.answer and "Q-1043" in result.answer
    assert "could not call" not in result.answer  # the chasers it could not fill at first were made
    assert result.tools_offered[0].startswith("quote-engine__")

    memory = registered.memory
    plan = await memory.get_plan(result.plan_id)
    assert plan.status == "succeeded"
    assert [s.status for s in plan.steps] == ["succeeded"] * 4
    assert all(s.result_summary for s in plan.steps)
    conversation = await memory.get_conversation(result.conversation_id or 0)
    assert [m.role for m in conversation.messages] == ["user", "assistant"]
    decisions = await memory.search({"query": "plan", "kinds": ["decision"], "limit": 20})
    tags = {t for h in decisions.hits for t in h.tags}
    assert {"planner-selection", "planner-turn", "planner-approval", "planner-outcome"} <= tags
    assert (await planner.get(result.plan_id)).answer == result.answer


async def test_a_question_runs_read_only_tools_at_once(make_planner: MakePlanner, satellites: FakeSatellites) -> None:
    result = await make_planner(OfflineModel()).run("Which quotes over £25k have been waiting more than a week?")
    assert result.status == "succeeded"
    assert [(c.tool, c.arguments) for c in result.calls] == [
        ("quote-engine__list_quotes", {"min_total": 25000, "older_than_days": 7})
    ]
    assert "Q-1042" in result.answer and satellites.calls.total() == 1


async def test_side_effect_waits_for_approval_and_runs_once_approved(
    make_planner: MakePlanner, satellites: FakeSatellites, registered: NexusServices
) -> None:
    planner = make_planner(OfflineModel())
    pending = await planner.run(CHASER)
    assert pending.status == "awaiting_approval"
    assert [c.status for c in pending.calls] == ["awaiting_approval"]
    assert pending.calls[0].needs_approval and not pending.calls[0].read_only
    assert satellites.calls["quote-engine__send_quote_chaser"] == 0
    assert f"plan_id={pending.plan_id}" in pending.next_action
    assert (await registered.memory.get_plan(pending.plan_id)).status == "awaiting_approval"  # one status, one row

    done = await planner.approve(pending.plan_id)
    assert done.status == "succeeded"
    assert done.calls[0].status == "succeeded"
    assert satellites.calls["quote-engine__send_quote_chaser"] == 1
    approvals = await registered.memory.search({"query": "approved", "kinds": ["decision"], "tag": "planner-approval"})
    assert approvals.hits and approvals.hits[0].apps == []
    with pytest.raises(Conflict):
        await planner.approve(pending.plan_id)


async def test_reject_closes_the_plan_and_nothing_runs(make_planner: MakePlanner, satellites: FakeSatellites) -> None:
    planner = make_planner(OfflineModel())
    pending = await planner.run(CHASER)
    rejected = await planner.reject(pending.plan_id, "not this week")
    assert rejected.status == "cancelled"
    assert rejected.calls[0].status == "rejected"
    assert "Declined by the owner" in rejected.answer and "not this week" in rejected.answer
    assert satellites.calls["quote-engine__send_quote_chaser"] == 0
    with pytest.raises(Conflict):
        await planner.approve(pending.plan_id)


async def test_approving_some_calls_rejects_the_others(make_planner: MakePlanner, satellites: FakeSatellites) -> None:
    planner = make_planner(OfflineModel())
    pending = await planner.run(TWO_ACTIONS)
    ids = {c.tool: c.id for c in pending.pending}
    assert set(ids) == {"quote-engine__send_quote_chaser", "invoicing__send_payment_reminder"}
    with pytest.raises(InvalidInput):
        await planner.approve(pending.plan_id, ["nope"])
    done = await planner.approve(pending.plan_id, [ids["invoicing__send_payment_reminder"]])
    status = {c.tool: c.status for c in done.calls}
    assert status == {"quote-engine__send_quote_chaser": "rejected", "invoicing__send_payment_reminder": "succeeded"}
    assert satellites.calls == {"invoicing__send_payment_reminder": 1}


async def test_an_approver_that_says_yes_or_no_is_asked_at_once(
    make_planner: MakePlanner, satellites: FakeSatellites
) -> None:
    yes = StaticApprover(True)
    done = await make_planner(OfflineModel()).run(CHASER, approver=yes)
    assert done.status == "succeeded" and yes.asked == [["offline_1"]]
    assert satellites.calls["quote-engine__send_quote_chaser"] == 1

    declined = await make_planner(OfflineModel()).run(CHASER, approver=StaticApprover(False))
    assert declined.status == "cancelled"  # the owner said no to the only call: nothing was done
    assert declined.calls[0].status == "rejected"
    assert satellites.calls["quote-engine__send_quote_chaser"] == 1  # not called again


async def test_an_approver_that_fails_or_cannot_answer_fails_closed(
    make_planner: MakePlanner, satellites: FakeSatellites
) -> None:
    async def broken(plan: object, calls: object) -> bool | None:
        raise RuntimeError("no terminal")

    for approver in (CallbackApprover(broken), StaticApprover(None)):
        result = await make_planner(OfflineModel()).run(CHASER, approver=approver)
        assert result.status == "awaiting_approval"
    assert satellites.calls["quote-engine__send_quote_chaser"] == 0


async def test_policy_can_allow_a_source_but_not_its_destructive_tools(
    make_planner: MakePlanner, satellites: FakeSatellites
) -> None:
    policy = ApprovalPolicy.allowing(sources=["quote-engine", "invoicing"])
    planner = make_planner(OfflineModel(), policy=policy)
    done = await planner.run(CHASER)
    assert done.status == "succeeded" and not done.calls[0].needs_approval
    credit_note = await planner.run("Issue a credit note of £450 against INV-2025-0150 for the damaged sill")
    assert credit_note.status == "awaiting_approval"
    assert credit_note.calls[0].arguments == {"invoice_id": "INV-2025-0150", "amount": 450}
    assert satellites.calls["invoicing__issue_credit_note"] == 0


async def test_dry_run_returns_the_calls_it_would_make_without_side_effects(
    make_planner: MakePlanner, satellites: FakeSatellites, registered: NexusServices
) -> None:
    planner = make_planner(OfflineModel())
    result = await planner.run(CHASER, dry_run=True, approver=StaticApprover(True))
    assert result.status == "dry_run" and result.dry_run
    assert [(c.tool, c.status) for c in result.calls] == [("quote-engine__send_quote_chaser", "would_run")]
    assert "Would run (dry run, not made)" in result.answer
    assert not satellites.calls
    plan = await registered.memory.get_plan(result.plan_id)
    assert plan.status == "dry_run" and "dry-run" in plan.tags
    assert plan.steps[0].status == "skipped"

    reads = await planner.run(CHASE, dry_run=True)  # read-only calls run in a dry run; the chasers would
    assert [(c.tool, c.status) for c in reads.calls][-2:] == [("quote-engine__send_quote_chaser", "would_run")] * 2
    assert {c.status for c in reads.calls if c.turn == 1} == {"succeeded"}
    no_reads = await make_planner(OfflineModel(), dry_run_reads=False).run(CHASE, dry_run=True)
    assert {c.status for c in no_reads.calls} == {"would_run"}
    assert satellites.calls.total() == 2 and not satellites.calls["quote-engine__send_quote_chaser"]


async def test_circuit_broken_and_suspended_apps_are_not_offered(
    make_planner: MakePlanner, satellites: FakeSatellites
) -> None:
    satellites.broken["quote-engine"] = "5 failures in a row"
    planner = make_planner(OfflineModel())
    result = await planner.run(CHASE)
    assert not any(t.startswith("quote-engine__") for t in result.tools_offered)
    assert not any(c.tool.startswith("quote-engine__") for c in result.calls)
    glazing = await planner.run("List the glazing orders from the legacy portal")
    assert "glazing-legacy__list_glazing_orders" not in glazing.tools_offered
    assert not satellites.calls["quote-engine__list_quotes"]


async def test_offline_planner_asks_when_the_target_of_an_order_is_missing(make_planner: MakePlanner) -> None:
    result = await make_planner(OfflineModel()).run("Approve the quote for the Leeds job")
    assert result.status == "needs_input" and not result.calls  # it never guesses an id to act on
    assert "quote-engine__approve_quote" in result.question and "quote_id" in result.question


async def test_unknown_or_finished_plans_are_refused(make_planner: MakePlanner) -> None:
    planner = make_planner(OfflineModel())
    with pytest.raises(NotFound):
        await planner.get(999)
    done = await planner.run("List sent quotes")
    with pytest.raises(Conflict):
        await planner.resume(done.plan_id)
    with pytest.raises(Conflict):
        await planner.reject(done.plan_id)
    with pytest.raises(InvalidInput):
        await planner.run("   ")


async def test_progress_is_reported_stage_by_stage(make_planner: MakePlanner) -> None:
    stages: list[str] = []

    async def progress(event: object) -> None:
        stages.append(event.stage)  # type: ignore[attr-defined]

    await make_planner(OfflineModel()).run(CHASE, progress=progress)
    assert stages[:3] == ["recall", "select", "plan"]
    assert {"validate", "run"} <= set(stages)


async def test_recall_brings_earlier_decisions_into_the_prompt(
    make_planner: MakePlanner, registered: NexusServices
) -> None:
    await registered.memory.log_decision(
        {"decision": "Never chase Hartley quotes before ten days", "rationale": "They asked us.", "decided_by": "owner"}
    )
    planner = make_planner(OfflineModel())
    result = await planner.run(CHASE)
    state = await planner.states.load(result.plan_id)
    context = state.messages[0]["content"][0]["text"]
    assert "Never chase Hartley quotes" in context
    assert "quote-engine (Quote Engine, active, sales)" in context
    assert state.messages[0]["content"][1]["text"] == CHASE


async def test_two_approvals_of_one_plan_at_once_run_it_only_once(
    make_planner: MakePlanner, satellites: FakeSatellites
) -> None:
    planner = make_planner(OfflineModel())
    pending = await planner.run(CHASER)
    name = "quote-engine__send_quote_chaser"
    satellites.hold[name], satellites.started[name] = anyio.Event(), anyio.Event()
    outcomes: list[str] = []

    async def approve() -> None:
        try:
            outcomes.append((await planner.approve(pending.plan_id)).status)
        except Conflict:
            outcomes.append("conflict")

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(approve)
            tg.start_soon(approve)
            await satellites.started[name].wait()
            satellites.hold[name].set()
    assert sorted(outcomes) == ["conflict", "succeeded"]
    assert satellites.calls[name] == 1


async def test_secrets_in_results_reach_neither_the_model_nor_memory(
    make_planner: MakePlanner, satellites: FakeSatellites, registered: NexusServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    leaky = "sk-ant-api03-" + "a1B2c3D4" * 5
    list_quotes = satellites.apps[1].tools[0]
    monkeypatch.setattr(list_quotes, "answer", lambda args: {"quotes": [], "webhook_secret": leaky, "note": leaky})
    planner = make_planner(OfflineModel())
    result = await planner.run("List sent quotes")
    state = await planner.states.load(result.plan_id)
    assert leaky not in state.model_dump_json() and leaky not in result.answer
    plan = await registered.memory.get_plan(result.plan_id)
    assert leaky not in plan.model_dump_json() and "[REDACTED" in plan.steps[0].result_summary


async def test_two_nexus_processes_cannot_approve_the_same_plan_at_once(
    make_planner: MakePlanner, satellites: FakeSatellites, registered: NexusServices
) -> None:
    """Each planner has its own Database connection on the same file, as two `nexus` processes would."""
    from memory.database import Database
    from memory.store import SqliteMemoryStore
    from nexus_agent.planner import CompositeProvider, NexusToolProvider, Planner
    from nexus_agent.planner.state import SqlitePlanStateStore
    from nexus_agent.registry import SqliteRegistry

    first = make_planner(OfflineModel())
    pending = await first.run(CHASER)
    other_db = Database(registered.database.path, sync="normal")
    try:
        second = Planner(
            memory=SqliteMemoryStore(other_db),
            registry=SqliteRegistry(other_db),
            provider=CompositeProvider([NexusToolProvider(registered), satellites]),
            states=SqlitePlanStateStore(other_db),
            model=OfflineModel(),
        )
        name = "quote-engine__send_quote_chaser"
        satellites.hold[name], satellites.started[name] = anyio.Event(), anyio.Event()
        outcomes: list[str] = []

        async def approve(planner: Planner) -> None:
            try:
                outcomes.append((await planner.approve(pending.plan_id)).status)
            except Conflict as exc:
                outcomes.append("another process" if "another Nexus process" in exc.message else "conflict")

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(approve, first)
                await satellites.started[name].wait()  # the first process is mid-call
                await approve(second)
                satellites.hold[name].set()
        assert outcomes[0] in {"another process", "conflict"} and outcomes[1] == "succeeded"
        assert satellites.calls[name] == 1
        assert (await second.get(pending.plan_id)).status == "succeeded"
    finally:
        other_db.close()


async def test_a_plan_claim_is_atomic_across_database_connections(
    make_planner: MakePlanner, registered: NexusServices
) -> None:
    from memory.database import Database
    from nexus_agent.planner.state import SqlitePlanStateStore

    pending = await make_planner(OfflineModel()).run(CHASER)
    mine = SqlitePlanStateStore(registered.database)
    other_db = Database(registered.database.path, sync="normal")
    try:
        theirs = SqlitePlanStateStore(other_db)
        claimed = await mine.claim(pending.plan_id, {"awaiting_approval"})
        assert claimed.status == "awaiting_approval"
        with pytest.raises(Conflict, match="another Nexus process"):
            await theirs.claim(pending.plan_id, {"awaiting_approval"})
        await mine.release(pending.plan_id, claimed.status)  # given back untouched: claimable again
        assert (await theirs.claim(pending.plan_id, {"awaiting_approval"})).plan_id == pending.plan_id
    finally:
        other_db.close()
