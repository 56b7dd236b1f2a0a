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

from nexus_agent.portfolio._messages import MessageDraft, messages_from_markdown, split_message_list

__all__ = ["Draft", "draft_from_json", "draft_from_markdown", "norm_key"]

_CONTAINERS = ("registration", "appmetadata", "appinfo", "app", "application", "metadata")
_ENDPOINT_KEYS = {
    "webhook": "webhook_url", "webhookurl": "webhook_url", "webhookendpoint": "webhook_url",
    "messagehandler": "message_handler_url", "messagehandlerurl": "message_handler_url",
    "messagehandlerendpoint": "message_handler_url", "handlerurl": "message_handler_url",
    "messages": "message_handler_url", "messageendpoint": "message_handler_url",
    "health": "health_url", "healthcheck": "health_url", "healthurl": "health_url", "healthcheckurl": "health_url",
    "healthendpoint": "health_url", "healthcheckendpoint": "health_url",
    "mcp": "mcp_url", "mcpurl": "mcp_url", "mcpendpoint": "mcp_url",
}  # fmt: skip
#: Inside ``webhook_configuration`` / ``message_handler_configuration`` / ``deployment``: keys that hold the URL.
_NESTED_URL_KEYS = {
    "webhook_url": ("url", "webhookurl", "endpoint", "webhookendpoint"),
    "message_handler_url": ("url", "handlerurl", "endpoint", "messagehandlerurl", "handlerendpoint"),
    "app_url": ("url", "baseurl", "appurl", "productionurl", "publicurl", "domain"),
}
_ENV_NAME_KEYS = ("secretenvvar", "secretenv", "envvar", "webhooksecretenv", "tokenenv", "tokenenvvar")
#: Keys that are bookkeeping of the old registration, not facts about the app.
#: The note for a file that names a command: data never becomes a command on the host.
COMMAND_IGNORED = "mcp_command ignored: only the owner sets commands, on the local CLI (`nexus registry register FILE`)"
_QUIET = {"registrationdate", "registeredat", "registeredby", "registrationid", "appslug", "slug", "private"}
#: Files whose name says they are registrations: anything they say counts. Any other JSON file
#: counts only when it says more than a name (a web manifest or tsconfig is not a registration).
_REGISTRATION_FILES = {"registration-metadata.json", "app-registration.json", "metadata.json", "business-logic.json"}


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
    messages: list[MessageDraft] = field(default_factory=list)  # documented message types (params, descriptions)
    signature_header: str | None = None
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


_DOTTED = re.compile(r"^`?[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+`?$")


def _listed(text: str) -> list[str]:
    """'query.a, action.b' (as a Markdown field says it) -> both; any other text stays whole."""
    parts = [p.strip() for p in text.split(",")]
    return parts if len(parts) > 1 and all(_DOTTED.match(p) for p in parts) else [text]


def _events(value: Any) -> list[str]:
    """Event names from a list of strings or of ``{event: ...}`` objects (incoming webhooks), or 'a, b'."""
    if isinstance(value, str):
        value = _listed(value)
    if not isinstance(value, list):
        return []
    out = []
    for item in value:
        if isinstance(item, Mapping):
            item = {norm_key(k): x for k, x in item.items()}.get("event")
        if isinstance(item, str) and item.strip():
            out.append(item.strip())
    return out


class _Keys:
    """The normalised view of one JSON object, remembering which keys were mapped."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.view = _view(data)
        self.used: set[str] = set(_CONTAINERS) | _QUIET

    def take(self, *keys: str) -> Any:
        for key in keys:
            if key in self.view:
                self.used.add(key)
                return self.view[key][1]
        return None

    def unmapped(self) -> list[str]:
        return [self.view[k][0] for k in self.view if k not in self.used]


def _norm_map(value: Any) -> dict[str, Any]:
    return {norm_key(k): x for k, x in value.items()} if isinstance(value, Mapping) else {}


def _message_types(draft: Draft, value: Any) -> None:
    """A message-type list (or a dict of lists): the types, and the parameters and prose mixed in beside them."""
    items = [part for text in _strings(value) for part in _listed(text)]
    if items:
        messages, notes = split_message_list(items)
        draft.add("message_types", [m.name for m in messages])
        draft.messages += messages
        draft.notes += notes


def _nested_url(draft: Draft, conf: dict[str, Any], slot: str) -> None:
    for key in _NESTED_URL_KEYS[slot]:
        if isinstance(conf.get(key), str) and conf[key].strip():
            draft.endpoints.setdefault(slot, conf[key].strip())
            return


def _signature(draft: Draft, conf: dict[str, Any]) -> None:
    header = _text(conf.get("signatureheader") or conf.get("header"))
    if header:
        draft.signature_header = draft.signature_header or header
    algorithm = _text(conf.get("signaturealgorithm") or conf.get("algorithm"))
    if algorithm and norm_key(algorithm) not in {"hmacsha256", "sha256", "hmacsha256hex"}:
        draft.notes.append(f"it signs with {algorithm}; Nexus signs with HMAC-SHA256 (hex) only")


def _webhook_conf(draft: Draft, value: Any) -> None:
    wc = _norm_map(value)
    draft.add("subscribes_to", _events(wc.get("supportedevents") or wc.get("events")))
    _nested_url(draft, wc, "webhook_url")
    _signature(draft, wc)
    for env_key in _ENV_NAME_KEYS:
        if isinstance(wc.get(env_key), str) and wc[env_key].strip():
            draft.env_refs.setdefault("webhook", wc[env_key].strip())


def _handler_conf(draft: Draft, value: Any) -> None:
    hc = _norm_map(value)
    _message_types(draft, hc.get("supportedmessagetypes") or hc.get("messagetypes") or hc.get("supportedmessages"))
    _nested_url(draft, hc, "message_handler_url")
    _signature(draft, hc)


def _deployment(draft: Draft, value: Any) -> None:
    """``deployment``: the app's URL, a health or MCP URL, and the environment it runs in."""
    if isinstance(value, str):
        draft.endpoints.setdefault("app_url", value.strip())
    dep = _norm_map(value)
    _nested_url(draft, dep, "app_url")
    _endpoints(draft, {k: v for k, v in dep.items() if k in _ENDPOINT_KEYS and k not in {"url"}})
    if isinstance(dep.get("environment"), str) and dep["environment"].strip():
        draft.statuses.append(dep["environment"].strip())


def _event_lists(draft: Draft, value: Any) -> None:
    """``events: {publishes: [...], subscribes: [...]}``."""
    ev = _norm_map(value)
    draft.published += _events(ev.get("publishes") or ev.get("publish") or ev.get("emits") or ev.get("outgoing"))
    draft.add("subscribes_to", _events(ev.get("subscribes") or ev.get("subscribesto") or ev.get("consumes")))


def _contact(value: Any) -> str | None:
    """``support: {email, team}`` -> the e-mail (else the team or name); ``support: "a@b"`` -> itself."""
    if isinstance(value, str):
        return _text(value.removeprefix("mailto:"))
    contact = _norm_map(value)
    return _text(contact.get("email") or contact.get("mail") or contact.get("team") or contact.get("name"))


def _identity(draft: Draft, keys: _Keys, is_package: bool) -> None:
    for key in ("fullname", "displayname", "appname", "name", "title"):
        name = _text(keys.view.get(key, (None, None))[1])
        if name:
            keys.used.add(key)
            name = name.rsplit("/", 1)[-1] if is_package else name  # '@org/portal' -> 'portal'
            draft.names.append((_name_quality(key, name), name))
    draft.slug_hints += [s for s in (_text(keys.take("appslug")), _text(keys.take("slug"))) if s]
    for slot, names in {
        "category": ("category",),
        "description": ("description", "summary", "purpose"),
        "version": ("version",),
        "owner": ("owner", "contactemail", "supportemail", "owneremail", "maintainer"),
    }.items():
        if (text := _text(keys.take(*names))) is not None:
            draft.scalars[slot] = text
    if "owner" not in draft.scalars and (contact := _contact(keys.take("support", "contact"))):
        draft.scalars["owner"] = contact
    for status in (keys.take("status"), keys.take("lifecycle", "stage")):
        if isinstance(status, str) and status.strip():
            draft.statuses.append(status.strip())


def _communication(draft: Draft, keys: _Keys) -> list[str]:
    """Endpoints, events and message types in any of their shapes; returns notification triggers."""
    _endpoints(draft, keys.take("endpoints"))
    top = [k for k in keys.view if k in _ENDPOINT_KEYS and k.endswith(("url", "endpoint"))]
    _endpoints(draft, {k: keys.view[k][1] for k in top})
    keys.used |= set(top)
    _deployment(draft, keys.take("deployment"))
    # a bare 'url' is the app's own only in a registration file (in config/ it may be a vendor's API);
    # a package.json's homepage is usually its repository
    own = draft.file.rsplit("/", 1)[-1] in _REGISTRATION_FILES or draft.file.startswith("issue body")
    names = ("appurl", "baseurl", "productionurl") + (("homepage", "url") if own else ())
    if not draft.file.endswith("/package.json"):
        for key in names:
            if isinstance(value := keys.take(key), str) and value.strip():
                draft.endpoints.setdefault("app_url", value.strip())
                break
    realtime = keys.take("realtimecommunication", "communication")
    if isinstance(realtime, Mapping):
        _endpoints(draft, realtime)
        rt = _norm_map(realtime)
        draft.add("subscribes_to", _events(rt.get("webhookevents") or rt.get("events")))
        _message_types(draft, rt.get("supportedmessages") or rt.get("messagetypes"))
    _webhook_conf(draft, keys.take("webhookconfiguration", "webhookconfig"))
    _handler_conf(draft, keys.take("messagehandlerconfiguration", "messagehandlerconfig"))
    _message_types(draft, keys.take("supportedmessages", "supportedmessagetypes", "messagetypes"))
    draft.add("subscribes_to", _events(keys.take("incomingwebhooks")) + _strings(keys.take("subscribesto")))
    draft.published += _events(keys.take("outgoingwebhooks")) + _strings(keys.take("publishes"))
    _event_lists(draft, keys.take("events"))
    templates = keys.take("emailtemplates", "notifications", "templates")
    return [t for item in _as_list(templates) if isinstance(item, Mapping) for t in _strings(item.get("trigger"))]


def _has_command(data: Any, depth: int = 0) -> bool:
    """Whether an ``mcp_command`` sits anywhere in the first levels of ``data`` (it is never imported)."""
    if not isinstance(data, Mapping) or depth > 3:
        return False
    return any(norm_key(k) == "mcpcommand" or _has_command(v, depth + 1) for k, v in data.items())


def draft_from_json(data: Mapping[str, Any], file: str, rank: int) -> Draft:
    """Everything one JSON file says about its app, whatever its shape."""
    draft = Draft(file=file, rank=rank)
    keys = _Keys(data)
    is_package = file.endswith("/package.json")
    _identity(draft, keys, is_package)
    draft.add("capabilities", [_capability(c) for c in (_as_list(keys.take("capabilities", "features")))])
    draft.add("workflows", [_workflow(w) for w in (_as_list(keys.take("workflows")))])
    draft.add("business_rules", [_rule(r) for r in (_as_list(keys.take("businessrules", "rules")))])
    draft.add("integrations", [_integration(i) for i in (_as_list(keys.take("integrations")))])
    draft.add("tags", [t.strip().lower() for t in _strings(keys.take("tags"))])
    triggers = _communication(draft, keys)
    if keys.take("mcpcommand") is not None or _has_command(data):
        draft.notes.append(COMMAND_IGNORED)
    if triggers:
        draft.notes.append(f"notification templates (triggers: {', '.join(dict.fromkeys(triggers))}) not recorded")
    draft.unmapped = keys.unmapped()
    facts = draft.lists or draft.endpoints or draft.published or triggers or "category" in draft.scalars
    named = draft.names or draft.slug_hints
    known = file.rsplit("/", 1)[-1] in _REGISTRATION_FILES or "/config/" in file
    draft.registration = not is_package and bool(facts or (named and known))
    return draft


def draft_from_markdown(text: str, file: str, rank: int) -> Draft:
    """Message types documented as headings (``#### `query.stock_level` ``) in a message-handlers page,
    with their descriptions and parameters (bullets or a payload example).

    Types under a heading that says outgoing, sent or emitted are what the app sends, so they are skipped.
    """
    draft = Draft(file=file, rank=rank)
    if not re.search(r"message|handler", file.rsplit("/", 1)[-1], re.IGNORECASE):
        return draft
    draft.messages = messages_from_markdown(text)
    draft.add("message_types", [m.name for m in draft.messages])
    draft.registration = bool(draft.messages)
    return draft
