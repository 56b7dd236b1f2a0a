"""`nexus ask` helpers: progress on stderr, approval at a prompt, the plan as text."""

from __future__ import annotations

import io

import pytest
from planner_support import MakePlanner

from nexus_agent.planner import OfflineModel, StderrProgress, TerminalApprover, format_plan

pytestmark = pytest.mark.anyio


async def test_terminal_approver_asks_and_fails_closed_without_a_terminal(
    make_planner: MakePlanner, satellites: object
) -> None:
    out = io.StringIO()
    yes = TerminalApprover(ask=lambda prompt: "y", interactive=lambda: True, stream=out)
    progress = StderrProgress(out)
    done = await make_planner(OfflineModel()).run("Send a chaser on quote Q-1043", approver=yes, progress=progress)
    assert done.status == "succeeded"
    assert "quote-engine__send_quote_chaser" in out.getvalue() and "[plan" in out.getvalue()

    no_tty = TerminalApprover(ask=lambda prompt: "y", interactive=lambda: False)
    waiting = await make_planner(OfflineModel()).run("Send a chaser on quote Q-1043", approver=no_tty)
    assert waiting.status == "awaiting_approval"
    text = format_plan(waiting)
    assert f"plan {waiting.plan_id}: awaiting_approval" in text and "plan_approve" in text

    def eof(prompt: str) -> str:
        raise EOFError

    assert (await TerminalApprover(ask=eof, interactive=lambda: True, stream=out).confirm(waiting, [])) is None


async def test_run_ask_prints_the_plan_and_returns_an_exit_code(make_planner: MakePlanner) -> None:
    from nexus_agent.planner import StaticApprover, run_ask

    out, err = io.StringIO(), io.StringIO()
    planner = make_planner(OfflineModel())
    code = await run_ask(planner, "List sent quotes", out=out, err=err)
    assert code == 0 and "succeeded" in out.getvalue() and "[select]" in err.getvalue()
    out = io.StringIO()
    code = await run_ask(
        planner, "Send a chaser on quote Q-1043", as_json=True, approver=StaticApprover(None), out=out, err=err
    )  # type: ignore[arg-type]
    assert code == 0 and '"status": "awaiting_approval"' in out.getvalue()


async def test_build_planner_wires_nexus_tools_and_extra_providers(registered: object, satellites: object) -> None:
    from nexus_agent.planner import build_planner

    planner = build_planner(registered, providers=[satellites])  # type: ignore[list-item]
    names = {d.name for d in await planner.provider.descriptors()}
    assert {"memory_search", "quote-engine__list_quotes"} <= names
    assert not names & {"satellite_call", "satellite_fan_out", "instruct", "plan_approve"}
    result = await planner.run("List sent quotes")
    assert result.status == "succeeded" and result.backend == "offline"


def test_select_model_is_offline_without_a_key() -> None:
    from nexus_agent.planner import AnthropicModel, select_model

    assert select_model(None).name == "offline"
    model = select_model("sk-test", model="claude-haiku-4-5", base_url="http://127.0.0.1:9")
    assert isinstance(model, AnthropicModel) and model.name == "anthropic:claude-haiku-4-5"


def test_nexus_plan_approve_takes_single_calls(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    """`nexus plan approve ID --call CALL_ID`: per-call approval at the CLI, as plan_approve has."""
    import json

    from nexus_agent.cli import main

    env = {"NEXUS_HOME": str(tmp_path), "NEXUS_DB_SYNC": "normal"}
    assert main(["ask", "Remember that Kawneer's rep is now Sam", "--json"], env=env) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["status"] == "awaiting_approval" and plan["calls"][0]["tool"] == "memory_remember"
    assert main(["plan", "approve", str(plan["plan_id"]), "--call", "nope"], env=env) == 2
    assert "has no pending call(s) nope" in capsys.readouterr().err
    call_id = plan["calls"][0]["id"]
    assert main(["plan", "approve", str(plan["plan_id"]), "--call", call_id, "--json"], env=env) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["status"] == "succeeded" and done["calls"][0]["status"] == "succeeded"
