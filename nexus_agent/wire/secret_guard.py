"""Secret guard: find secrets before Nexus writes them anywhere (bottom layer: pure, no I/O).

Everything Nexus writes to the registry, memory, the truth source, logs and tool
results can pass through here. :func:`scan` walks a string, bytes or a JSON-like
structure and returns one :class:`SecretFinding` per secret, named by where it
is (``record.endpoints.webhook_secret``,
``apps/quote-engine/config/webhooks.json:$.incoming_webhooks[0].secret``) and
never by its value. :func:`ensure_no_secrets` turns findings into a
:class:`~nexus_agent.wire.errors.SecretLeakRefused`; :func:`redact` and
:class:`RedactingFilter` keep secrets out of log text.

What counts as a secret, and how sure we are (``severity``):

    kind                 severity  found by
    private_key          high      a PEM ``-----BEGIN ... PRIVATE KEY-----`` block
    github_token         high      ghp_ gho_ ghu_ ghs_ ghr_ github_pat_
    aws_access_key_id    high      AKIA / ASIA ... (20 characters)
    aws_secret_key       high      40 characters after an ``aws_secret_access_key`` name
    slack_token          high      xoxb- xoxp- xoxa- ... ; slack_webhook_url: hooks.slack.com/services/...
    stripe_key           high      sk_live_ rk_live_ sk_test_ rk_test_
    google_api_key       high      AIza + 35 characters
    anthropic_key        high      sk-ant-...
    openai_key           high      sk-... / sk-proj-... (mixed case and digits)
    jwt                  high      eyJ... . eyJ... . signature
    bearer_token         high      ``Bearer <20+ characters>``
    url_credentials      high      the password in ``scheme://user:password@host``
    secret_field         high      a secret-named field (see below) holding a literal string
    secret_assignment    medium    ``webhook_secret=...`` / ``"token": "..."`` inside text
    high_entropy         medium    a random-looking run of 32+ base64 characters
    placeholder_secret   low       a secret-named field holding a placeholder ("changeme", "<secret>", "xxx")
    configured_secret    high      the exact value of a secret Nexus is configured with (:class:`KnownSecrets`)

Secret-named fields are those whose name, lower-cased without separators, ends
in secret, token, password, passwd, passphrase, apikey, privatekey, signingkey,
secretkey, accesskey, credential(s), bearer or sessionkey (a trailing plural
``s`` is ignored; ``max_tokens``-style counts are not). ``auth`` and ``authorization``
also hold scheme names ("HMAC-SHA256"), so they count only for one word of 16+
characters mixing upper case, lower case and digits. A name ending in env,
envvar, file, path, url, header, type, id, hash (and similar) names *where* a
secret lives or *what kind* it is, so ``token_env`` and ``secret_env_var`` are
not secret-named.

Values that are references, not secrets, are never findings: empty strings,
``${NAME}``, ``$NAME``, ``env:NAME``, ``${{ secrets.NAME }}``, ``{{ name }}``,
``process.env.NAME``, ``op://...`` / ``vault://...`` style secret-manager
references and bare ``UPPER_CASE_NAMES`` (an environment variable's name).
Placeholders are reported as ``low`` findings: harmless to store, but worth
telling the owner that an app ships a default secret. Numbers and booleans are
never secrets. Hex strings (hashes, commit ids) and UUIDs are not high-entropy
findings; a hex secret is found only through a secret-named field or an
assignment in text.

Hex strings, UUIDs and digests named by their algorithm or by a digest-like word
(``integrity sha512-...``, go.sum ``h1:...``, ``etag: ...``, ``data:image/png;base64,...``)
are not high-entropy findings either.

MCP content is data where it says so: the ``data`` of ``image`` and ``audio``
content and the ``blob`` of a resource are base64 payloads, never read as text
(a chart is not a secret); only a configured secret's exact value is looked for
inside them, decoded. Text content, resource text and structured content are
scanned like any other value.

:func:`ensure_no_secrets` refuses ``medium`` and ``high`` findings by default.
Every function takes ``known=`` (a :class:`KnownSecrets`) to also find the exact
values Nexus is configured with; the edge builds it once and passes it down.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pydantic_core

from nexus_agent.wire._secret_text import (
    HASH_NAMES,
    RANK,
    Hit,
    Severity,
    field_verdict,
    is_ambiguous_name,
    is_env_reference,
    is_placeholder,
    is_secret_name,
    norm_name,
    text_hits,
)
from nexus_agent.wire.errors import SecretLeakRefused
from nexus_agent.wire.known_secrets import KnownSecrets

__all__ = [
    "KnownSecrets",
    "RedactingFilter",
    "SecretFinding",
    "Severity",
    "ensure_no_secrets",
    "install_log_redaction",
    "is_env_reference",
    "is_payload",
    "is_placeholder",
    "is_secret_name",
    "redact",
    "redact_data",
    "scan",
]

_NO_SECRETS = KnownSecrets()


@dataclass(frozen=True, slots=True)
class SecretFinding:
    """One secret: what kind, where, and a redacted preview (never the value)."""

    kind: str
    location: str
    preview: str
    severity: Severity = "high"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    def describe(self) -> str:
        return f"{self.kind} at {self.location or '(value)'}"


def _preview(value: str, kind: str = "") -> str:
    if kind == "configured_secret":  # its owner knows which; show nothing of it
        return f"[{len(value)} chars]"
    shown = value[: min(4, len(value) // 4)]
    return f"{shown}…[{len(value)} chars]"


# -- MCP content kinds --------------------------------------------------------------
_PAYLOAD_TYPES = frozenset({"image", "audio"})
_PAYLOAD_KEYS = frozenset({"data", "blob"})  # the only keys is_payload can say yes to
_BASE64 = re.compile(r"[A-Za-z0-9+/\r\n]*={0,2}")


def is_payload(container: Mapping[str, Any], key: str) -> bool:
    """Whether ``container[key]`` is a base64 payload of MCP content: image/audio ``data``, a resource's ``blob``.

    Works on SDK models dumped to JSON (``content[i]``, ``content[i].resource``) and on
    any structure that embeds them (a fan-out result, a plan step).
    """
    if key not in _PAYLOAD_KEYS:
        return False
    value = container.get(key)
    if not isinstance(value, str) or not _BASE64.fullmatch(value):  # "ghp_..." in a data field is text
        return False
    if key == "data":
        kind = container.get("type")
        return isinstance(kind, str) and kind in _PAYLOAD_TYPES  # any JSON value may stand there, a list too
    return "uri" in container


# -- walking ----------------------------------------------------------------------
def _child(path: str, key: object) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    text = str(key)
    if _plain_key(text):
        return f"{path}.{text}" if path else text
    return f'{path}["{text}"]'


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@functools.lru_cache(maxsize=4096)
def _plain_key(text: str) -> bool:
    return bool(_PLAIN_KEY.match(text))


def _text_hits(text: str, entropy: bool, known: KnownSecrets) -> list[Hit]:
    if len(text) > 512 or (known.present and known.spans(text)):  # the memo holds at most ~16k short texts (~8 MB)
        return text_hits(text, entropy=entropy, known=known)
    return list(_own_hits(text, entropy))


@functools.lru_cache(maxsize=16384)
def _own_hits(text: str, entropy: bool) -> tuple[Hit, ...]:
    """Findings in a short text without configured values: results repeat the same texts (timestamps,
    names, descriptions) call after call, so each is judged once while it stays in this cache."""
    return tuple(text_hits(text, entropy=entropy))


@functools.lru_cache(maxsize=4096)
def _key_facts(name: str) -> tuple[tuple[Hit, ...], str | None, bool]:
    """What a field name says on its own (findings in it, secret-named, hash-named): the same names recur in
    every record of a page, so each is judged once (a 500-app registry page has ~75,000 fields)."""
    named = name if is_secret_name(name) or is_ambiguous_name(name) else None
    return tuple(text_hits(name)), named, norm_name(name).endswith(HASH_NAMES)


_VERDICT_FINDING: dict[str, tuple[str, Severity]] = {
    "secret": ("secret_field", "high"),
    "placeholder": ("placeholder_secret", "low"),
}


#: Where a value is: the location given to :func:`scan`, or (its container's place, its key or index). Written out
#: (``answer.content[0].text``) only for a finding: most walks find nothing.
_Place = str | tuple[Any, object]


def _render(place: _Place) -> str:
    if isinstance(place, str):
        return place
    parent, key = place
    return _child(_render(parent), key)


def _walk(
    value: Any, path: _Place, secret_key: str | None, hash_key: bool, known: KnownSecrets
) -> Iterator[SecretFinding]:
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, str):
        verdict = "text" if secret_key is None else field_verdict(secret_key, value)
        if verdict == "reference" and not known.present:
            return
        if verdict in _VERDICT_FINDING:
            kind, severity = _VERDICT_FINDING[verdict]
            yield SecretFinding(kind, _render(path), _preview(value), severity)
            return
        hits = _text_hits(value, not hash_key, known)
        if verdict != "text":
            hits = [h for h in hits if h.kind == "configured_secret"]
        yield from _hit_findings(value, path, hits)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            name = str(key)
            own_hits, named, hashy = _key_facts(name)
            name_hits = text_hits(name, known=known) if known.present and known.spans(name) else own_hits
            child = (path, _redact_hits(name, list(name_hits)) if name_hits else key)  # a path never shows one
            for hit in name_hits:
                yield SecretFinding(hit.kind, f"{_render(child)} (field name)", _preview(name, hit.kind), hit.severity)
            if name in _PAYLOAD_KEYS and is_payload(value, name):  # base64 data: only a configured secret counts
                if known.in_data(item):
                    yield SecretFinding("configured_secret", _render(child), "[inside base64 data]", "high")
                continue
            if item is None or isinstance(item, int | float):  # numbers, booleans and null hold no text
                continue
            if named is None and isinstance(item, str):  # plain text under a plain name (what _walk does with it)
                if hits := _text_hits(item, not hashy, known):
                    yield from _hit_findings(item, child, hits)
                continue
            yield from _walk(item, child, named, hashy, known)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            if isinstance(item, Mapping):
                yield from _walk_remembered(item, (path, i), secret_key, hash_key, known)
            else:
                yield from _walk(item, (path, i), secret_key, hash_key, known)


def _hit_findings(text: str, place: _Place, hits: Sequence[Hit]) -> Iterator[SecretFinding]:
    for hit in hits:
        yield SecretFinding(hit.kind, _render(place), _preview(text[hit.start : hit.end], hit.kind), hit.severity)


def _walk_remembered(
    item: Mapping[str, Any], path: _Place, secret_key: str | None, hash_key: bool, known: KnownSecrets
) -> list[SecretFinding]:
    """:func:`_walk` of a mapping, skipped when the same JSON was walked clean before in the same context."""
    seen = _fingerprint(item, secret_key, hash_key, known)
    if seen is not None and seen in _CLEAN:
        return []
    found = list(_walk(item, path, secret_key, hash_key, known))
    if seen is not None and not found:
        if len(_CLEAN) >= _CLEAN_MAX:
            _CLEAN.clear()
        _CLEAN.add(seen)
    return found


#: Fingerprints of list items (records of a page, hits of a search) already walked without a finding.
#: Pages repeat the same records call after call; one JSON rendering and a hash replace a walk of each.
_CLEAN: set[bytes] = set()
_CLEAN_MAX = 100_000


def _fingerprint(item: Mapping[str, Any], secret_key: str | None, hash_key: bool, known: KnownSecrets) -> bytes | None:
    """A digest of ``item``'s JSON and the context it is judged in; None when it must be walked anyway
    (not JSON, too large, or a configured secret is in it or cannot be looked for in its JSON)."""
    try:
        raw = pydantic_core.to_json(item)  # UTF-8, nothing but JSON's own escapes (like ensure_ascii=False)
    except (TypeError, ValueError, pydantic_core.PydanticSerializationError):
        return None
    if len(raw) > 65_536 or (known.present and known.found_in_json(raw.decode()) is not False):
        return None
    return hashlib.blake2b(f"{secret_key}\x00{hash_key}\x00".encode() + raw, digest_size=16).digest()


def scan(
    value: str | bytes | Mapping[str, Any] | list[Any], *, location: str = "", known: KnownSecrets | None = None
) -> list[SecretFinding]:
    """Every secret in ``value``, each named by its path under ``location`` (e.g. ``record.endpoints.token``).

    ``known``: also find the exact values of these configured secrets (kind ``configured_secret``).
    """
    known = known or _NO_SECRETS
    if isinstance(value, Mapping):  # a tool's result: the same answer recurs call after call
        return _walk_remembered(value, location, None, False, known)
    return list(_walk(value, location, None, False, known))


def ensure_no_secrets(
    value: str | bytes | Mapping[str, Any] | list[Any],
    location: str,
    what: str = "write",
    *,
    min_severity: Severity = "medium",
    known: KnownSecrets | None = None,
) -> None:
    """Raise :class:`SecretLeakRefused` when ``value`` holds a secret of ``min_severity`` or worse."""
    findings = [f for f in scan(value, location=location, known=known) if RANK[f.severity] >= RANK[min_severity]]
    if not findings:
        return
    places = "; ".join(f.describe() for f in findings[:20]) + ("; ..." if len(findings) > 20 else "")
    raise SecretLeakRefused(
        f"refused to {what} {location or 'this value'}: it contains {len(findings)} "
        f"secret{'s' if len(findings) != 1 else ''} ({places})",
        hint="Keep secrets in the environment or a secret file and store only the variable's name "
        "(e.g. endpoints.token_env or endpoints.webhook_secret_env).",
        details=[{"location": f.location, "kind": f.kind, "severity": f.severity} for f in findings],
    )


# -- redaction --------------------------------------------------------------------
def redact(text: str, known: KnownSecrets | None = None) -> str:
    """``text`` with every detected secret (and every ``known`` value) replaced by ``[REDACTED:<kind>]``."""
    return _redact_hits(text, text_hits(text, known=known))


def _redact_hits(text: str, hits: list[Hit]) -> str:
    for hit in reversed(hits):
        text = f"{text[: hit.start]}[REDACTED:{hit.kind}]{text[hit.end :]}"
    return text


def redact_data(value: Any, *, drop_fields: bool = False, known: KnownSecrets | None = None) -> Any:
    """A copy of a JSON-like ``value`` with secrets redacted.

    A secret-named field holding a literal becomes ``"[REDACTED:secret_field]"``
    (or ``None`` with ``drop_fields=True``); secrets inside other strings are
    replaced as :func:`redact` does. References and placeholders are kept.
    MCP payloads (image/audio ``data``, resource ``blob``) are kept as they are,
    unless they hold a ``known`` value.
    """
    secrets = known or _NO_SECRETS

    def walk(item: Any, secret_key: str | None) -> Any:
        if isinstance(item, str):
            verdict = "text" if secret_key is None else field_verdict(secret_key, item)
            if verdict == "secret":
                return None if drop_fields else "[REDACTED:secret_field]"
            return redact(item, secrets) if verdict == "text" else secrets.redact(item)
        if isinstance(item, Mapping):
            out: dict[str, Any] = {}
            for k, v in item.items():
                name = str(k)
                if is_payload(item, name):
                    out[redact(name, secrets)] = "[REDACTED:configured_secret]" if secrets.in_data(v) else v
                    continue
                named = name if is_secret_name(name) or is_ambiguous_name(name) else None
                out[redact(name, secrets)] = walk(v, named)
            return out
        if isinstance(item, list | tuple):
            return [walk(v, secret_key) for v in item]
        return item

    return walk(value, None)


def _redact_arg(value: Any, known: KnownSecrets) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else str(value)
    cleaned = redact(text, known)
    return value if cleaned == text else cleaned


class RedactingFilter(logging.Filter):
    """A logging filter that redacts secrets (and ``known`` values) from a record's message, arguments, traceback.

    Attach it to handlers (not loggers: a logger's filters skip records from its
    children): ``for h in logging.getLogger().handlers: h.addFilter(RedactingFilter(known))``.
    """

    def __init__(self, known: KnownSecrets | None = None) -> None:
        super().__init__()
        self.known = known or _NO_SECRETS

    def filter(self, record: logging.LogRecord) -> bool:
        args, known = record.args, self.known
        if isinstance(args, tuple) and isinstance(record.msg, str):
            # Keep the shape: formatters such as uvicorn's access log unpack ``record.args``.
            record.msg = redact(record.msg, known)
            record.args = tuple(_redact_arg(a, known) for a in args)
        else:
            try:
                message = record.getMessage()
            except Exception:  # a bad format string: keep what we have, redacted
                message = f"{record.msg} {record.args!r}"
            record.msg, record.args = redact(message, known), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, known)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, known)
        return True


_REDACTED_WITH = "_nexus_redacted_with"  # set on a record once redacted: which values (their set's id) it was


class _OncePerRecord(RedactingFilter):
    """The filter :func:`install_log_redaction` puts on loggers and on their handlers: a record that passes both
    (a logger's own record, then its handler) is redacted once, not once per filter."""

    def filter(self, record: logging.LogRecord) -> bool:
        done = id(self.known)
        if getattr(record, _REDACTED_WITH, None) != done:
            super().filter(record)
            setattr(record, _REDACTED_WITH, done)
        return True


def install_log_redaction(known: KnownSecrets | None = None) -> None:
    """Make every log handler (ours and uvicorn's) redact secrets, and ``known`` values, before writing a record.

    Idempotent; call it again after a library reconfigures logging (uvicorn does at start-up). Logging is
    process-wide by nature, so the filters live on the handlers: a later call with ``known`` hands the new
    values to every filter already installed (the CLI installs it before the server starts, the server's
    lifespan again once uvicorn has set up its handlers). Without ``known``, installed filters keep theirs.
    """
    redacting = _OncePerRecord(known)  # on loggers (a handler added later) and handlers (children's records)
    for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access", "mcp", "httpx"):
        logger = logging.getLogger(name)
        for owner in (logger, *logger.handlers):
            present = [f for f in owner.filters if isinstance(f, RedactingFilter)]
            for existing in present:
                if known is not None:
                    existing.known = known
            if not present:
                owner.addFilter(redacting)
