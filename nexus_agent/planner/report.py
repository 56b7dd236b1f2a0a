"""Text the planner writes: the context message, tool results for the model, the final answer."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from memory.models import SearchHit
from nexus_agent.planner.models import PlannedCall
from nexus_agent.planner.selection import RankedTool
from nexus_agent.planner.state import RunState
from nexus_agent.wire.models import AppRecord
from nexus_agent.wire.secret_guard import redact_data

__all__ = [
    "MAX_RESULT_CHARS",
    "apps_text",
    "final_answer",
    "memory_text",
    "result_block",
    "selection_rationale",
]

MAX_RESULT_CHARS = 16_000
MAX_OTHER_APPS = 60

_DECLINED = "The owner declined this call; it was not made. Do not try to get around that; say so in your answer."
_WOULD_RUN = (
    "Dry run: this call is valid and would be made, but it was not. Assume nothing about its result; "
    "finish the plan and describe what would be done."
)
_SKIPPED = "Not made: the plan stopped before it could run."
_UNKNOWN = (
    "This call was interrupted while running and was not re-run: it may or may not have taken effect. "
    "Tell the owner to check it."
)


def apps_text(
    records: Iterable[AppRecord],
    sources: Iterable[str],
    unavailable: Mapping[str, str],
    reachable: Iterable[str] | None = None,
) -> str:
    """The offered apps, then every other registered app marked ``[not reachable]`` (at most
    ``MAX_OTHER_APPS``), one line each: ``- slug (Name, status, category): capability; capability``."""
    by_slug = {r.slug: r for r in records}
    lines = []
    for slug in sorted(set(sources)):
        if slug == "nexus":
            lines.append("- nexus (Nexus itself): registry, memory, gap analysis, health")
            continue
        r = by_slug.get(slug)
        lines.append(_app_line(r) if r is not None else f"- {slug} (not in the registry)")
    for slug, reason in sorted(unavailable.items()):
        lines.append(f"- {slug} is UNAVAILABLE right now ({reason}): its tools were left out")
    callable_apps = set(sources) if reachable is None else set(reachable)
    others = [r for r in records if r.slug not in set(sources)][:MAX_OTHER_APPS]
    if others:
        lines.append("Other apps in the registry (tools not offered for this instruction):")
        lines += [_app_line(r, " [not offered]" if r.slug in callable_apps else " [not reachable]") for r in others]
    return "\n".join(lines) or "(none)"


def _app_line(r: AppRecord, mark: str = "") -> str:
    caps = "; ".join(r.capability_names()[:8]) or r.description[:200] or "no capabilities listed"
    caps = " ".join(caps.split())
    return f"- {r.slug} ({r.name.replace(',', ' ')}, {r.status.value}, {r.category}){mark}: {caps}"


def memory_text(hits: Sequence[SearchHit]) -> str:
    lines = []
    for h in hits:
        when = f"{h.created_at:%Y-%m-%d}"
        snippet = " ".join(h.snippet.split())[:240]
        title = " ".join(h.title.split())[:160]
        lines.append(f"- {h.kind} {h.id} ({when}): " + " — ".join(p for p in (title, snippet) if p))
    return "\n".join(lines) or "(nothing relevant found)"


def selection_rationale(ranked: Sequence[RankedTool], catalogue_size: int, k: int) -> str:
    head = ", ".join(f"{r.descriptor.name} ({r.score:.2f}: {' '.join(r.matched[:4])})" for r in ranked[:8])
    return (
        f"Ranked all {catalogue_size} reachable tools against the instruction with BM25F over tool names, "
        f"descriptions and app capabilities (business synonyms applied) and offered the top {len(ranked)} "
        f"(k={k}), leaving out unavailable apps. Best: {head or 'nothing matched'}."
    )


def _dump(content: Any) -> str:
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False, default=str)
    if len(text) > MAX_RESULT_CHARS:
        text = text[:MAX_RESULT_CHARS] + f"... (truncated; {len(text):,} characters in all)"
    return text


def result_block(call: PlannedCall, output: Any) -> dict[str, Any]:
    """The ``tool_result`` block the model sees for one settled call."""
    is_error = call.status in {"invalid", "failed", "rejected", "unknown", "skipped"}
    if call.status == "succeeded":
        text = _dump(output)
    elif call.status == "rejected":
        text = _DECLINED
    elif call.status == "would_run":
        text = _WOULD_RUN
    elif call.status == "skipped":
        text = _SKIPPED
    elif call.status == "unknown":
        text = _UNKNOWN
    else:
        text = call.error or "The call failed."
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call.id, "content": text}
    if is_error:
        block["is_error"] = True
    return block


def _line(c: PlannedCall) -> str:
    args = json.dumps(redact_data(c.arguments), ensure_ascii=False, default=str)
    args = args if len(args) <= 160 else args[:157] + "..."
    return f"{c.tool}({args})"


def final_answer(state: RunState, reason: str = "") -> str:
    """The model's answer, then a record of what was done, what failed and what is left."""
    by: dict[str, list[PlannedCall]] = {}
    for c in state.calls:
        by.setdefault(c.status, []).append(c)
    parts = [state.model_text.strip()] if state.model_text.strip() else []
    if reason:
        parts.append(f"Stopped: {reason}.")
    done = by.get("succeeded", [])
    failed = by.get("failed", []) + by.get("invalid", [])
    record = [f"Done ({len(done)}): " + ("; ".join(f"{_line(c)} -> {c.result_summary}" for c in done) or "nothing")]
    if failed:
        record.append("Failed: " + "; ".join(f"{_line(c)}: {c.error.splitlines()[0][:200]}" for c in failed))
    if by.get("would_run"):
        record.append("Would run (dry run, not made): " + "; ".join(_line(c) for c in by["would_run"]))
    left = by.get("awaiting_approval", []) + by.get("skipped", []) + by.get("proposed", [])
    if left:
        record.append("Left to do: " + "; ".join(_line(c) for c in left))
    if by.get("rejected"):
        record.append("Declined by the owner: " + "; ".join(_line(c) for c in by["rejected"]))
    if by.get("unknown"):
        record.append("Outcome unknown (interrupted, not re-run): " + "; ".join(_line(c) for c in by["unknown"]))
    if state.notes:
        record.append("Also: " + "; ".join(state.notes[:20]))
    parts.append("\n".join(record))
    return "\n\n".join(parts)
