"""A registration written as the Markdown body of a ``[Registration]`` issue, mapped like an imported app.

Apps that register themselves with their own scripts (not the Python kit) open an issue
whose body carries the fields in Markdown and, often, a fenced JSON block::

    **App name:** Yard Tracker
    **Slug:** yard-tracker
    ### Endpoints
    - Webhook: https://yard-tracker.example.test/api/webhooks/nexus
    - Message handler: https://yard-tracker.example.test/api/messages/handle
    ### Webhook
    - Signature header: `x-nexus-signature` (HMAC-SHA256)
    ### Registration data
    ```json
    {"app_name": "yard-tracker", "message_types": ["query.bay_occupancy", "test.ping"]}
    ```

The fields become a JSON document in the shape of the portfolio files (a section's bullets
go under the section: ``Endpoints`` -> ``endpoints``, ``Webhook`` -> ``webhook_configuration``,
``Message handler`` -> ``message_handler_configuration``, a list section such as
``Capabilities`` -> a list), then both documents go through the importer's own mapping
(:func:`~nexus_agent.portfolio._shapes.draft_from_json`, :func:`~nexus_agent.portfolio._plan.build_record`).
Every secret in the body is a finding (``issue body:<line>``, or a JSON path in the
block), never copied: secret fields are dropped before the mapping sees them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from nexus_agent.portfolio._files import PortfolioFile, hidden, scan_text
from nexus_agent.portfolio._plan import FolderPlan, build_record
from nexus_agent.portfolio._shapes import Draft, draft_from_json, norm_key
from nexus_agent.wire.models import AppRecord, is_slug, slugify
from nexus_agent.wire.secret_guard import SecretFinding, redact_data, scan

__all__ = ["BODY", "IssueRegistration", "looks_like_registration", "map_registration_issue"]

#: How findings and failures name the issue body.
BODY = "issue body"
_BLOCK = "issue body JSON block"
_FIELD = re.compile(
    r"^\s*(?:[-*+]\s+)?(?:\*\*|__)?(?P<key>[A-Za-z][A-Za-z0-9 /()_-]{0,60}?)\s*(?:\*\*|__)?\s*:\s*(?:\*\*|__)?\s*"
    r"(?P<value>\S.*)$"
)
_BULLET = re.compile(r"^\s*[-*+]\s+(?P<item>\S.*)$")
_HEADING = re.compile(r"^\s*#{1,6}\s+(?P<title>.*?)\s*#*\s*$")
_LINK = re.compile(r"\[([^\]]*)\]\(([^)]*)\)")
_TITLE = re.compile(r"^\s*\[registration\]\s*", re.IGNORECASE)
#: Section heading -> the key its fields go under (None: the top level).
_SECTIONS = (
    ("endpoint", "endpoints"),
    ("url", "endpoints"),
    ("messagehandler", "message_handler_configuration"),
    ("webhook", "webhook_configuration"),
    ("signature", "webhook_configuration"),
    ("security", "webhook_configuration"),
)

_FIELD_SECTIONS = {target for _, target in _SECTIONS}


@dataclass
class IssueRegistration:
    """What a Markdown registration says: the record (None when it cannot be built), findings, notes."""

    slug: str | None
    record: AppRecord | None = None
    secrets: list[SecretFinding] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    env_vars: dict[str, str] = field(default_factory=dict)


def looks_like_registration(body: str) -> bool:
    """Whether ``body`` holds Markdown registration fields or a fenced JSON block (not just prose)."""
    fields = {norm_key(m["key"]) for line in (body or "").splitlines() if (m := _FIELD.match(line))}
    return bool(fields & {"appname", "name", "slug", "appslug"}) or "```json" in (body or "").lower()


def _clean(value: str) -> str:
    value = _LINK.sub(lambda m: m.group(1) if m.group(2).startswith("mailto:") else m.group(2) or m.group(1), value)
    return " ".join(value.replace("`", "").strip().strip("<>").split())


def _section(title: str) -> str | None:
    key = norm_key(title)
    if "registration" in key and "data" not in key:
        return None  # the body's own title ("New Satellite App Registration")
    return next((target for word, target in _SECTIONS if word in key), key or None)


def _put(doc: dict[str, Any], section: str | None, key: str, value: str) -> None:
    name = re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_")
    if section in {"webhook_configuration"} and name in {"secret", "signing_secret", "key"}:
        name = f"webhook_{name}"  # keep the secret-ness visible to the guard: it is dropped, never mapped
    if name in {"signature_header", "header"} and (algorithm := re.search(r"\(([^)]*)\)\s*$", value)):
        value = value[: algorithm.start()].strip()
        doc.setdefault("webhook_configuration", {})["signature_algorithm"] = algorithm.group(1)
        section = "webhook_configuration"
    target = doc if section is None else doc.setdefault(section, {})
    if isinstance(target, dict):
        target.setdefault(name, value)


def _fields(body: str) -> tuple[dict[str, Any], list[str]]:
    """The Markdown fields as a JSON document, and the fenced JSON blocks' texts."""
    doc: dict[str, Any] = {}
    blocks: list[str] = []
    section: str | None = None
    fence: list[str] | None = None
    for line in body.splitlines():
        if line.lstrip().startswith("```"):
            if fence is None:
                fence = []
            else:
                blocks.append("\n".join(fence))
                fence = None
            continue
        if fence is not None:
            fence.append(line)
        elif heading := _HEADING.match(line):
            section = _section(heading["title"])
        elif match := _FIELD.match(line):
            # a bullet belongs to its section; a '**Key:** value' line to the top unless the section holds fields
            inside = _BULLET.match(line) is not None or section in _FIELD_SECTIONS
            _put(doc, section if inside else None, match["key"], _clean(match["value"]))
        elif (bullet := _BULLET.match(line)) and section is not None:
            items = doc.setdefault(section, [])
            if isinstance(items, list):
                items.append(_clean(bullet["item"]))
    return doc, blocks


def _block_drafts(blocks: list[str], reg: IssueRegistration) -> list[Draft]:
    drafts = []
    for number, text in enumerate(blocks, start=1):
        where = _BLOCK if len(blocks) == 1 else f"{_BLOCK} {number}"
        try:
            data = json.loads(text)
        except ValueError as exc:
            reg.notes.append(f"{where} is not JSON ({exc}); only the Markdown fields were read")
            reg.secrets += scan_text(text, where)
            continue
        reg.secrets += hidden(scan(data, location=f"{where}:$"))
        if isinstance(data, dict):
            drafts.append(draft_from_json(redact_data(data, drop_fields=True), where, 1))
    return drafts


def _mask_fences(body: str) -> str:
    """``body`` with the lines of fenced blocks blanked (they are scanned as JSON), line numbers kept."""
    lines, inside = [], False
    for line in body.splitlines():
        fence = line.lstrip().startswith("```")
        lines.append("" if inside or fence else line)
        inside = inside != fence
    return "\n".join(lines)


def _slug(drafts: list[Draft], title: str) -> str | None:
    hints = [s for d in drafts for s in d.slug_hints] + [n for d in drafts for _, n in sorted(d.names)]
    hints.append(_TITLE.sub("", title or ""))
    for hint in hints:
        slug = hint if is_slug(hint) else slugify(hint)
        if slug and is_slug(slug):
            return slug
    return None


def map_registration_issue(body: str, title: str = "") -> IssueRegistration:
    """Map a Markdown ``[Registration]`` issue body onto an :class:`AppRecord` (pure: no I/O)."""
    doc, blocks = _fields(body or "")
    reg = IssueRegistration(slug=None, secrets=scan_text(_mask_fences(body or ""), BODY))
    drafts = [draft_from_json(redact_data(doc, drop_fields=True), BODY, 0)] if doc else []
    drafts += _block_drafts(blocks, reg)
    drafts = [d for d in drafts if d.registration]
    reg.slug = _slug(drafts, title)
    if reg.slug is None:
        reg.failures.append("no slug: give a **Slug:** field, an app name, or app_slug in the JSON block")
        return reg
    if not any(d.names for d in drafts) and (name := _TITLE.sub("", title or "").strip()):
        drafts.append(Draft(file="issue title", rank=9, registration=True, names=[(2, name[:200])]))
    files = [PortfolioFile(BODY, "markdown", secrets=reg.secrets)]
    plan = FolderPlan(folder=reg.slug, slug=reg.slug, files=files, drafts=drafts, where=BODY)
    build_record(plan)
    reg.record, reg.env_vars = plan.record, plan.env_vars
    reg.failures += [f.reason for f in plan.failures]
    reg.notes += [n.replace("left in the portfolio", "not mapped") for n in plan.notes]
    return reg
