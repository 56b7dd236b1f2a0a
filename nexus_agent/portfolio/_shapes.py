"""Mapping the legacy file shapes onto AppRecord fields, one file at a time (pure: no I/O).

The shapes vary (flat ``business-logic.json``, camelCase ``app-registration.json``,
nested ``metadata.json``, ``registration-metadata.json``, ``config/webhooks.json``,
``config/communications.json``), so keys are matched by meaning, not by file
name: ``appName``, ``app_name`` and ``app-name`` are the same key, and the
containers ``registration``, ``appMetadata`` and ``app_info`` are read as if
their keys were at the top. Secret fields never reach here (the reader drops
them); only the names of environment variables that hold secrets do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Draft", "draft_from_json", "draft_from_markdown", "norm_key"]

_CONTAINERS = ("registration", "appmetadata", "appinfo", "app", "application", "metadata")
_ENDPOINT_KEYS = {
    "webhook": "webhook_url", "webhookurl": "webhook_url", "webhookendpoint": "webhook_url",
    "messagehandler": "message_handler_url", "messagehandlerurl": "message_handler_url",
    "messages": "message_handler_url", "messageendpoint": "message_handler_url",
    "health": "health_url", "healthcheck": "health_url", "healthurl": "health_url", "healthcheckurl": "health_url",
    "mcp": "mcp_url", "mcpurl": "mcp_url", "mcpendpoint": "mcp_url",
}  # fmt: skip
_ENV_NAME_KEYS = ("secretenvvar", "secretenv", "envvar", "webhooksecretenv", "tokenenv", "tokenenvvar")
#: Keys that are bookkeeping of the old registration, not facts about the app.
_QUIET = {"registrationdate", "registeredat", "registeredby", "registrationid", "appslug", "slug", "private"}


def norm_key(key: object) -> str:
    """'appName', 'app_name' and 'App-Name' all become 'appname'."""
    return re.sub(r"[^a-z0-9]", "", str(key).lower())


@dataclass
class Draft:
    """What one file says about its app; :mod:`._plan` merges the drafts of a folder."""

    file: str
    rank: int
    registration: bool = False
    names: list[tuple[int, str]] = field(default_factory=list)  # (quality, name): 3 full name, 2 display, 1 slug
    slug_hints: list[str] = field(default_factory=list)
    scalars: dict[str, str] = field(default_factory=dict)  # category, description, version, owner
    statuses: list[str] = field(default_factory=list)
    lists: dict[str, list[Any]] = field(default_factory=dict)  # AppRecord list fields
    endpoints: dict[str, str] = field(default_factory=dict)
    env_refs: dict[str, str] = field(default_factory=dict)  # 'webhook' | 'token' -> env var named by the file
    published: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, values: list[Any]) -> None:
        self.lists.setdefault(name, []).extend(v for v in values if v not in (None, "", {}, []))


def _text(value: Any) -> str | None:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        text = " ".join(str(value).split())
        return text or None
    return None


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _view(data: Mapping[str, Any]) -> dict[str, tuple[str, Any]]:
    """normalised key -> (original key, value): top-level keys first, then those of the known containers."""
    view = {norm_key(k): (str(k), v) for k, v in data.items()}
    for container in _CONTAINERS:
        inner = view.get(container, (None, None))[1]
        if isinstance(inner, Mapping):
            for k, v in inner.items():
                view.setdefault(norm_key(k), (f"{view[container][0]}.{k}", v))
    return view


def _name_quality(key: str, name: str) -> int:
    if key in {"fullname", "displayname"}:
        return 3
    return 2 if (" " in name or any(c.isupper() for c in name)) else 1


def _capability(item: Any) -> dict[str, str] | None:
    if isinstance(item, str):
        return {"name": item} if item.strip() else None
    if isinstance(item, Mapping):
        v = {norm_key(k): x for k, x in item.items()}
        name = _text(v.get("name") or v.get("capability") or v.get("title"))
        return {"name": name, "description": _text(v.get("description")) or ""} if name else None
    return None


def _workflow(item: Any) -> dict[str, Any] | None:
    if isinstance(item, str):
        return {"name": item} if item.strip() else None
    if not isinstance(item, Mapping):
        return None
    v = {norm_key(k): x for k, x in item.items()}
    name = _text(v.get("name") or v.get("title"))
    if not name:
        return None
    parts = [_text(v.get("description"))]
    triggers = _strings(v.get("triggers") or v.get("trigger"))
    outputs = _strings(v.get("outputs") or v.get("output"))
    parts.append(f"Triggered by {', '.join(triggers)}." if triggers else None)
    parts.append(f"Outputs {', '.join(outputs)}." if outputs else None)
    steps = [s for s in (_text(x) for x in v.get("steps") or []) if s] if isinstance(v.get("steps"), list) else []
    return {"name": name, "description": " ".join(p for p in parts if p), "steps": steps}


def _rule(item: Any) -> str | None:
    if isinstance(item, str):
        return item.strip() or None
    if not isinstance(item, Mapping):
        return None
    v = {norm_key(k): _text(x) for k, x in item.items()}
    head = v.get("rule") or v.get("name") or ""
    text = f"{head}: {v['description']}" if head and v.get("description") else head or v.get("description") or ""
    if v.get("condition"):
        text += f" (when {v['condition']}"
        text += f" then {v['action']})" if v.get("action") else ")"
    elif v.get("action"):
        text += f" ({v['action']})"
    if v.get("priority"):
        text += f" [priority {v['priority']}]"
    return text.strip() or None


def _integration(item: Any) -> str | None:
    if isinstance(item, Mapping):
        v = {norm_key(k): x for k, x in item.items()}
        return _text(v.get("system") or v.get("name") or v.get("app"))
    return _text(item)


def _endpoints(draft: Draft, value: Any) -> None:
    """An ``endpoints``-like object: ``{webhook_url: ...}`` or ``{webhook: {url, secret_env_var}}``."""
    if not isinstance(value, Mapping):
        return
    for key, item in value.items():
        slot = _ENDPOINT_KEYS.get(norm_key(key))
        if slot and isinstance(item, str):
            draft.endpoints.setdefault(slot, item.strip())
        elif slot and isinstance(item, Mapping):
            inner = {norm_key(k): x for k, x in item.items()}
            if isinstance(inner.get("url"), str):
                draft.endpoints.setdefault(slot, inner["url"].strip())
            for env_key in _ENV_NAME_KEYS:
                if isinstance(inner.get(env_key), str) and inner[env_key].strip():
                    draft.env_refs.setdefault("webhook" if slot == "webhook_url" else "token", inner[env_key].strip())
        elif norm_key(key) in {"tokenenv", "webhooksecretenv"} and isinstance(item, str):
            draft.env_refs.setdefault("token" if norm_key(key) == "tokenenv" else "webhook", item.strip())


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _events(value: Any) -> list[str]:
    """Event names from a list of strings or of ``{event: ...}`` objects (incoming webhooks)."""
    if not isinstance(value, list):
        return []
    out = []
    for item in value:
        if isinstance(item, Mapping):
            item = {norm_key(k): x for k, x in item.items()}.get("event")
        if isinstance(item, str) and item.strip():
            out.append(item.strip())
    return out


def draft_from_json(data: Mapping[str, Any], file: str, rank: int) -> Draft:
    """Everything one JSON file says about its app, whatever its shape."""
    draft = Draft(file=file, rank=rank)
    view = _view(data)
    used: set[str] = set(_CONTAINERS) | _QUIET
    is_package = file.endswith("/package.json")

    def take(*keys: str) -> Any:
        for key in keys:
            if key in view:
                used.add(key)
                return view[key][1]
        return None

    for key in ("fullname", "displayname", "appname", "name", "title"):
        name = _text(view.get(key, (None, None))[1])
        if name:
            used.add(key)
            name = name.rsplit("/", 1)[-1] if is_package else name  # '@org/portal' -> 'portal'
            draft.names.append((_name_quality(key, name), name))
    draft.slug_hints += [s for s in (_text(take("appslug")), _text(take("slug"))) if s]
    for slot, keys in {
        "category": ("category",),
        "description": ("description", "summary"),
        "version": ("version",),
        "owner": ("owner", "contactemail", "maintainer"),
    }.items():
        if (text := _text(take(*keys))) is not None:
            draft.scalars[slot] = text
    deployment = take("deployment")
    for status in (take("status"), deployment.get("environment") if isinstance(deployment, Mapping) else None):
        if isinstance(status, str) and status.strip():
            draft.statuses.append(status.strip())
    draft.add("capabilities", [_capability(c) for c in (_as_list(take("capabilities", "features")))])
    draft.add("workflows", [_workflow(w) for w in (_as_list(take("workflows")))])
    draft.add("business_rules", [_rule(r) for r in (_as_list(take("businessrules", "rules")))])
    draft.add("integrations", [_integration(i) for i in (_as_list(take("integrations")))])
    draft.add("tags", [t.strip().lower() for t in _strings(take("tags"))])

    _endpoints(draft, take("endpoints"))
    _endpoints(draft, {k: v[1] for k, v in view.items() if k in _ENDPOINT_KEYS and k.endswith("url")})
    used |= {k for k in view if k in _ENDPOINT_KEYS and k.endswith("url")}
    realtime = take("realtimecommunication", "communication")
    if isinstance(realtime, Mapping):
        _endpoints(draft, realtime)
        rt = {norm_key(k): x for k, x in realtime.items()}
        draft.add("subscribes_to", _events(rt.get("webhookevents") or rt.get("events")))
        draft.add("message_types", _strings(rt.get("supportedmessages") or rt.get("messagetypes")))
    webhook_conf = take("webhookconfiguration", "webhookconfig")
    if isinstance(webhook_conf, Mapping):
        wc = {norm_key(k): x for k, x in webhook_conf.items()}
        draft.add("subscribes_to", _events(wc.get("supportedevents") or wc.get("events")))
        if isinstance(wc.get("url"), str):
            draft.endpoints.setdefault("webhook_url", wc["url"].strip())
        for env_key in _ENV_NAME_KEYS:
            if isinstance(wc.get(env_key), str) and wc[env_key].strip():
                draft.env_refs.setdefault("webhook", wc[env_key].strip())
    handler_conf = take("messagehandlerconfiguration", "messagehandlerconfig")
    if isinstance(handler_conf, Mapping):
        hc = {norm_key(k): x for k, x in handler_conf.items()}
        draft.add("message_types", _strings(hc.get("supportedmessagetypes") or hc.get("messagetypes")))
        if isinstance(hc.get("url"), str):
            draft.endpoints.setdefault("message_handler_url", hc["url"].strip())
    draft.add("message_types", _strings(take("supportedmessages", "supportedmessagetypes", "messagetypes")))
    draft.add("subscribes_to", _events(take("incomingwebhooks")) + _strings(take("subscribesto")))
    draft.published += _events(take("outgoingwebhooks"))
    templates = take("emailtemplates", "notifications", "templates")
    triggers = [t for item in _as_list(templates) if isinstance(item, Mapping) for t in _strings(item.get("trigger"))]
    if triggers:
        draft.notes.append(f"notification templates (triggers: {', '.join(dict.fromkeys(triggers))}) not recorded")

    draft.unmapped = [view[k][0] for k in view if k not in used]
    says = draft.names or draft.slug_hints or draft.lists or draft.endpoints or draft.published or triggers
    draft.registration = not is_package and bool(says or "category" in draft.scalars)
    return draft


_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_MESSAGE_TYPE = re.compile(r"^`?([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+)`?$")


def draft_from_markdown(text: str, file: str, rank: int) -> Draft:
    """Message types documented as headings (``#### `query.stock_level` ``) in a message-handlers page.

    Types under a heading that says outgoing, sent or emitted are what the app sends, so they are skipped.
    """
    draft = Draft(file=file, rank=rank)
    if not re.search(r"message|handler", file.rsplit("/", 1)[-1], re.IGNORECASE):
        return draft
    outgoing_level: int | None = None
    types: list[str] = []
    for line in text.splitlines():
        heading = _HEADING.match(line)
        if not heading:
            continue
        level, title = len(heading.group(1)), heading.group(2)
        if outgoing_level is not None and level <= outgoing_level:
            outgoing_level = None
        if re.search(r"\b(outgoing|sent|emit|emits|emitted|publish)", title, re.IGNORECASE):
            outgoing_level = level
        elif (match := _MESSAGE_TYPE.match(title)) and outgoing_level is None:
            types.append(match.group(1))
    draft.add("message_types", types)
    draft.registration = bool(types)
    return draft
