"""Checking a satellite's report file before Nexus accepts it (no I/O)."""

from __future__ import annotations

import json
import re

from pydantic import ValidationError

from nexus_agent.flows.models import Instruction, InstructionReport
from nexus_agent.truth.models import TruthFile
from nexus_agent.wire.errors import describe_validation_error
from nexus_agent.wire.secret_guard import scan

__all__ = ["check_report"]


def check_report(ins: Instruction, found: TruthFile) -> tuple[InstructionReport | None, list[str]]:
    """The report if it is valid for ``ins``, else None and every problem (by location, never by value)."""
    try:
        data = json.loads(found.content.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        return None, [f"{found.path} is not JSON ({type(exc).__name__})"]
    if not isinstance(data, dict):
        return None, [f"{found.path} must hold a JSON object"]
    problems = [
        f"{found.path} at {f.location}: holds a secret ({f.kind}); remove it and rotate it"
        for f in scan(data, location="$")
        if f.severity != "low"
    ]
    for field, expected in (("instruction_id", ins.id), ("target", ins.target)):
        named = data.get(field)
        if named != expected:
            shown = f" {named}" if isinstance(named, str) and re.match(r"^[a-z0-9-]{1,64}$", named) else ""
            problems.append(f"{found.path} at $.{field}: names{shown or ' another'}, not {expected}")
    try:
        report = InstructionReport.model_validate(data)
    except ValidationError as exc:
        problems += [
            f"{found.path} at $.{d['field']}: {d['problem'].split(' (got ')[0]}" for d in describe_validation_error(exc)
        ]
        return None, problems
    return (None, problems) if problems else (report, [])
