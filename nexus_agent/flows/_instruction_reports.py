"""Following instructions up: reading the satellites' reports (files, issue comments, signed webhooks) and
completing or failing instructions from them. A part of
:class:`~nexus_agent.flows.instructions.InstructionService`."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from nexus_agent.flows._instruction_records import InstructionRecords, log
from nexus_agent.flows._reports import check_report
from nexus_agent.flows._store import steps_to
from nexus_agent.flows.models import Instruction, InstructionResult, InstructionStatus, ReportOutcome
from nexus_agent.truth.base import blob_sha
from nexus_agent.truth.models import TruthFile
from nexus_agent.wire.errors import Conflict

__all__ = ["InstructionReports"]

_S = InstructionStatus

_JSON_BLOCK = re.compile(r"```json\s*(\{.*?\})\s*```", re.S)


class InstructionReports(InstructionRecords):
    """Collecting and applying the satellites' reports."""

    async def _report_from_comments(self, ins: Instruction) -> TruthFile | None:
        """A report posted as a comment on the instruction's issue: a fenced JSON block naming the instruction."""
        assert ins.issue_number is not None
        for comment in reversed(await self.truth.list_comments(ins.issue_number)):
            for block in _JSON_BLOCK.findall(comment.body):
                if f'"{ins.id}"' in block:
                    content = block.strip().encode()
                    return TruthFile(
                        path=f"issue #{ins.issue_number} comment {comment.id}", content=content, sha=blob_sha(content)
                    )
        return None

    async def collect_reports(self, *, actor: str = "nexus") -> list[ReportOutcome]:
        """Read the satellites' reports of open instructions and complete or fail them.

        An invalid report (bad JSON, wrong id or target, a secret) leaves the instruction as it is
        and is noted in memory once per version of the file.
        """
        open_ = await self._db.run(self._store.open)
        if not open_:
            return []
        present = set(await self.truth.list("reports"))
        outcomes: list[ReportOutcome] = []
        finished: list[Instruction] = []
        for ins in open_:
            if ins.report_path in present:
                found = await self.truth.get(ins.report_path)
            elif ins.issue_number is not None:
                found = await self._report_from_comments(ins)
            else:
                continue
            if found is None:
                continue
            outcome = await self._apply_report(ins, found, actor)
            if outcome is None:
                continue
            outcomes.append(outcome)
            if outcome.instruction is not None:
                finished.append(outcome.instruction)
        await self._publish(finished, f"Instruction reports collected by {actor}")
        for ins in finished:
            await self._close_issue(ins)
        return outcomes

    async def accept_report(self, instruction_id: str, report: Mapping[str, Any], *, source: str) -> ReportOutcome:
        """A report that came another way than a file (a legacy app's signed webhook), checked like a report file.

        ``source`` names where it came from in notes. Raises Conflict when the instruction is already finished.
        """
        ins = await self.get(instruction_id)
        if ins.status in (_S.completed, _S.failed, _S.expired):
            raise Conflict(f"instruction {ins.id} is already {ins.status.value}", hint="Nothing more to report.")
        content = json.dumps(dict(report), default=str).encode()
        found = TruthFile(path=source, content=content, sha=blob_sha(content))
        outcome = await self._apply_report(ins, found, ins.target)
        if outcome is None:
            raise Conflict(f"instruction {ins.id} changed meanwhile", hint="Send the report again.")
        if outcome.instruction is not None:
            await self._publish([outcome.instruction], f"Instruction {ins.id} reported by {ins.target} ({source})")
            await self._close_issue(outcome.instruction)
        return outcome

    async def _apply_report(self, ins: Instruction, found: TruthFile, actor: str) -> ReportOutcome | None:
        """Complete or fail ``ins`` from a report (None: someone else moved it meanwhile)."""
        report, problems = check_report(ins, found)
        if report is None:
            if await self._db.run(self._store.note_invalid_report, ins.id, found.sha):
                text = f"The report {found.path} was not accepted:\n" + "\n".join(f"- {p}" for p in problems)
                await self._note(ins, f"Invalid report for {ins.id}", text, author=actor, tags=["invalid-report"])
            return ReportOutcome(instruction_id=ins.id, target=ins.target, outcome="invalid", problems=problems)
        result = InstructionResult(
            status=report.status,
            summary=report.result_summary,
            outputs=report.outputs,
            reported_by=report.reported_by,
            reported_at=report.reported_at,
            report_sha=found.sha,
        )
        try:
            updated, made = await self._move(
                ins.id,
                steps_to(ins.status, _S(report.status)),
                by=ins.target,
                reason=f"report by {report.reported_by}",
                update={"result": result},
                expect=[ins.status],
            )
        except Conflict as exc:  # moved by someone else meanwhile: the next collection sees it
            log.info("report of %s skipped: %s", ins.id, exc.message)
            return None
        await self._record(updated, made)
        return ReportOutcome(instruction_id=ins.id, target=ins.target, outcome=report.status, instruction=updated)
