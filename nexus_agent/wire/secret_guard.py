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

:func:`ensure_no_secrets` refuses ``medium`` and ``high`` findings by default.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from nexus_agent.wire.errors import SecretLeakRefused

__all__ = [
    "RedactingFilter",
    "SecretFinding",
    "Severity",
    "ensure_no_secrets",
    "install_log_redaction",
    "is_env_reference",
    "is_placeholder",
    "is_secret_name",
    "redact",
    "redact_data",
    "scan",
]

Severity = Literal["low", "medium", "high"]
_RANK: dict[str, int] = {"low": 0, "medium": 1, "high": 2}


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


def _preview(value: str) -> str:
    shown = value[: min(4, len(value) // 4)]
    return f"{shown}…[{len(value)} chars]"


# -- names and values ------------------------------------------------------------
_SECRET_SUFFIXES = (
    "secret", "token", "password", "passwd", "passphrase", "apikey", "privatekey", "signingkey", "secretkey",
    "accesskey", "credential", "credentials", "bearer", "sessionkey", "encryptionkey", "masterkey",
)  # fmt: skip
_AMBIGUOUS_NAMES = ("auth", "authorization")
_NOT_SECRET_SUFFIXES = (
    "env", "envvar", "envname", "variable", "var", "file", "path", "ref", "url", "uri", "header", "headername",
    "type", "id", "name", "hash", "algorithm", "alg", "required", "enabled", "expiry", "expires", "ttl", "length",
    "count", "limit", "prefix", "format", "location", "source", "provider", "scheme", "method", "policy",
)  # fmt: skip
_COUNT_PREFIXES = ("max", "min", "num", "total", "count")  # max_tokens: a number of tokens
_HASH_NAMES = ("sha", "commit", "hash", "digest", "checksum", "etag", "signature", "fingerprint", "integrity")


def _norm_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def is_secret_name(name: str) -> bool:
    """True for field names like ``webhook_secret``, ``apiKey``, ``X-Api-Key``, ``tokens``."""
    norm = _norm_name(name.rsplit(".", 1)[-1])
    if not norm or norm.endswith(_NOT_SECRET_SUFFIXES) or norm.startswith(_COUNT_PREFIXES):
        return False
    return norm.endswith(_SECRET_SUFFIXES) or norm.removesuffix("s").endswith(_SECRET_SUFFIXES)


def _is_ambiguous_name(name: str) -> bool:
    return _norm_name(name.rsplit(".", 1)[-1]) in _AMBIGUOUS_NAMES


_ENV_REF = re.compile(
    r"""^(?:\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-[^}]*)?\}|\$[A-Za-z_][A-Za-z0-9_]*|[Ee][Nn][Vv]:[A-Za-z_][A-Za-z0-9_]*
    |\$\{\{\s*[\w.]+\s*\}\}|\{\{\s*[\w.]+\s*\}\}|process\.env\.[A-Za-z_]\w*|os\.environ\[["']\w+["']\]
    |(?:op|vault|aws-sm|gcp-sm|azure-kv|secret|file)://\S+|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)$""",
    re.VERBOSE,
)
_PLACEHOLDER = re.compile(
    r"""^(?:x+|\*+|\.+|-+|\#+|<[^<>]*>|\[[^\[\]]*\]|\(?(?:none|null|nil|n/?a|tbd|todo|redacted|hidden|secret
    |password|token|example|sample|dummy|test|placeholder|changeme|change[-_\ ]me|changeit|replace[-_\ ]?me
    |default|empty|required|optional|enabled|disabled|true|false|yes|no)\)?|your[-_\ ].*|.*[-_\ ]here
    |(?:secret|token|password|key)[-_]?value)$""",
    re.VERBOSE | re.IGNORECASE,
)


def is_env_reference(value: str) -> bool:
    """True for references to a secret kept elsewhere: ``${NAME}``, ``env:NAME``, ``UPPER_NAME``, ``op://...``."""
    return bool(_ENV_REF.match(value.strip()))


def is_placeholder(value: str) -> bool:
    """True for values that stand in for a secret: ``changeme``, ``<secret>``, ``xxxx``, ``your-token-here``."""
    return bool(_PLACEHOLDER.match(value.strip()))


def _secretish(value: str, *, min_len: int = 6) -> bool:
    """Whether a value next to a secret name in free text looks like a real secret, not a word."""
    if len(value) < min_len or value.isdigit() or is_env_reference(value) or is_placeholder(value) or "://" in value:
        return False  # input_tokens=150000 is a count
    mixed = any(c.islower() for c in value) and any(c.isupper() for c in value)
    return len(value) >= 12 or mixed or any(c.isdigit() or c in "-_+/=" for c in value)


# -- patterns ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Hit:
    kind: str
    start: int
    end: int
    severity: Severity


def _mixed(value: str) -> bool:
    return any(c.isdigit() for c in value) and any(c.isupper() for c in value) and any(c.islower() for c in value)


def _random_enough(value: str) -> bool:
    classes = {_char_class(c) for c in value} - {"o"}
    return len(classes) >= 2 and not is_env_reference(value) and not is_placeholder(value)


def _credential_like(value: str) -> bool:
    """For ``auth``-like names, which also hold scheme names ("HMAC-SHA256"): one long mixed-case word."""
    return " " not in value.strip() and len(value) >= 16 and _mixed(value)


_Check = Callable[[str], bool] | None
_PEM = r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
_PATTERNS: list[tuple[str, re.Pattern[str], int, _Check]] = [
    (kind, re.compile(regex, flags), group, check)
    for kind, regex, flags, group, check in [
        ("private_key", _PEM + r"(?:.*?" + _PEM.replace("BEGIN", "END") + r"|.*)", re.DOTALL, 0, None),
        ("github_token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})", 0, 0, None),
        ("aws_access_key_id", r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b", 0, 0, None),
        ("aws_secret_key", r"aws_?secret_?(?:access_?)?key[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
         re.IGNORECASE, 1, None),
        ("slack_token", r"\bxox[abposre]-[A-Za-z0-9-]{10,}", 0, 0, None),
        ("slack_webhook_url", r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[\w/+-]{20,}", 0, 0, None),
        ("stripe_key", r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}", 0, 0, None),
        ("google_api_key", r"\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])", 0, 0, None),
        ("anthropic_key", r"\bsk-ant-[A-Za-z0-9_-]{20,}", 0, 0, None),
        ("openai_key", r"\bsk-(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}", 0, 0, _mixed),
        ("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{10,}", 0, 0, None),
        ("bearer_token", r"\bbearer\s+([A-Za-z0-9._~+/=-]{20,})", re.IGNORECASE, 1, _random_enough),
        ("url_credentials", r"\b[a-z][a-z0-9+.-]*://[^\s/:@]+:([^\s/@]+)@", re.IGNORECASE, 1, _random_enough),
    ]
]  # fmt: skip

_ASSIGNMENT = re.compile(
    r"""(?P<q>["']?)(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)(?P=q)\s*(?P<op>[:=])(?!//)\s*
    (?:"(?P<dq>[^"\\\n]*)"|'(?P<sq>[^'\\\n]*)'|(?P<bare>[^\s"',;&}\])]+))""",
    re.VERBOSE,
)
_CANDIDATE = re.compile(r"[A-Za-z0-9+/_-]{32,}={0,2}")
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+|[^A-Za-z0-9]+")
_HEX = re.compile(r"^[0-9a-fA-F-]+$")


def _char_class(c: str) -> str:
    return "l" if c.islower() else "u" if c.isupper() else "d" if c.isdigit() else "o"


def _entropy(value: str) -> float:
    n = len(value)
    return -sum(k / n * math.log2(k / n) for k in Counter(value).values())


def _high_entropy(token: str) -> bool:
    """Random-looking base64: mixed case and digits, >= 4 bits/char, and not an identifier made of words."""
    core = token.strip("=/-_")
    if len(core) < 32 or _HEX.match(core) or not _mixed(core):
        return False
    return _entropy(core) >= 4.0 and len(core) / len(_WORDS.findall(core)) < 3.0


# Every detector needs one of these: a run of 16+ token characters, an assignment, or a PEM block.
# Most text Nexus writes (names, tags, sentences) has none, and skips the detectors entirely.
_MAYBE_SECRET = re.compile(r"[A-Za-z0-9_\-+/.~]{16,}|[=:]|-----BEGIN")


def _text_hits(text: str, *, entropy: bool = True) -> list[_Hit]:
    if not _MAYBE_SECRET.search(text):
        return []
    hits: list[_Hit] = []
    for kind, pattern, group, check in _PATTERNS:
        for m in pattern.finditer(text):
            if check is None or check(m.group(group)):
                hits.append(_Hit(kind, m.start(group), m.end(group), "high"))
    for m in _ASSIGNMENT.finditer(text):
        key, value_group = m.group("key"), next(g for g in ("dq", "sq", "bare") if m.group(g) is not None)
        bare_colon = m.group("op") == ":" and not m.group("q") and not re.search(r"[_-]|^[A-Z0-9_]+$", key)
        if bare_colon or not (is_secret_name(key) or _is_ambiguous_name(key)):
            continue
        value = m.group(value_group)
        if _is_ambiguous_name(key) and not _credential_like(value):
            continue
        if _secretish(value):
            hits.append(_Hit("secret_assignment", m.start(value_group), m.end(value_group), "medium"))
    hits = _merge(hits)
    if entropy:  # only where no named kind matched: a GitHub token is reported as one, not as entropy
        taken = [(h.start, h.end) for h in hits]
        for m in _CANDIDATE.finditer(text):
            if _high_entropy(m.group()) and not any(a < m.end() and m.start() < b for a, b in taken):
                hits.append(_Hit("high_entropy", m.start(), m.end(), "medium"))
    return sorted(hits, key=lambda h: h.start)


def _merge(hits: list[_Hit]) -> list[_Hit]:
    """Drop hits inside an earlier, stronger or longer one (one secret, one finding)."""
    ordered = sorted(hits, key=lambda h: (h.start, -_RANK[h.severity], -(h.end - h.start)))
    out: list[_Hit] = []
    for hit in ordered:
        if out and hit.start < out[-1].end:
            last = out[-1]
            out[-1] = _Hit(last.kind, last.start, max(last.end, hit.end), last.severity)
            continue
        out.append(hit)
    return out


# -- walking ----------------------------------------------------------------------
def _child(path: str, key: object) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    text = str(key)
    if re.match(r"^[A-Za-z_][A-Za-z0-9_-]*$", text):
        return f"{path}.{text}" if path else text
    return f'{path}["{text}"]'


def _field_verdict(name: str, value: str) -> Literal["reference", "placeholder", "secret", "text"]:
    """How to treat a string under a secret-named (or ``auth``-like) field; ``text``: look at the text itself."""
    if not value.strip():
        return "reference"
    if not is_secret_name(name):  # auth, authorization
        return "reference" if is_env_reference(value) else "secret" if _credential_like(value) else "text"
    if is_placeholder(value):
        return "placeholder"
    return "reference" if is_env_reference(value) and not _text_hits(value) else "secret"  # ${T:-ghp_...}: secret


_VERDICT_FINDING: dict[str, tuple[str, Severity]] = {
    "secret": ("secret_field", "high"),
    "placeholder": ("placeholder_secret", "low"),
}


def _walk(value: Any, path: str, secret_key: str | None, hash_key: bool) -> Iterator[SecretFinding]:
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, str):
        verdict = "text" if secret_key is None else _field_verdict(secret_key, value)
        if verdict == "reference":
            return
        if verdict in _VERDICT_FINDING:
            kind, severity = _VERDICT_FINDING[verdict]
            yield SecretFinding(kind, path, _preview(value), severity)
            return
        for hit in _text_hits(value, entropy=not hash_key):
            yield SecretFinding(hit.kind, path, _preview(value[hit.start : hit.end]), hit.severity)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            child = _child(path, key)
            for hit in _text_hits(str(key)):
                yield SecretFinding(hit.kind, f"{child} (field name)", _preview(str(key)), hit.severity)
            name = str(key)
            named = name if is_secret_name(name) or _is_ambiguous_name(name) else None
            hashy = _norm_name(name).endswith(_HASH_NAMES)
            yield from _walk(item, child, named, hashy)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _walk(item, _child(path, i), secret_key, hash_key)


def scan(value: str | bytes | Mapping[str, Any] | list[Any], *, location: str = "") -> list[SecretFinding]:
    """Every secret in ``value``, each named by its path under ``location`` (e.g. ``record.endpoints.token``)."""
    return list(_walk(value, location, None, False))


def ensure_no_secrets(
    value: str | bytes | Mapping[str, Any] | list[Any],
    location: str,
    what: str = "write",
    *,
    min_severity: Severity = "medium",
) -> None:
    """Raise :class:`SecretLeakRefused` when ``value`` holds a secret of ``min_severity`` or worse."""
    findings = [f for f in scan(value, location=location) if _RANK[f.severity] >= _RANK[min_severity]]
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
def redact(text: str) -> str:
    """``text`` with every detected secret replaced by ``[REDACTED:<kind>]``."""
    hits = _text_hits(text)
    for hit in reversed(hits):
        text = f"{text[: hit.start]}[REDACTED:{hit.kind}]{text[hit.end :]}"
    return text


def redact_data(value: Any, *, drop_fields: bool = False) -> Any:
    """A copy of a JSON-like ``value`` with secrets redacted.

    A secret-named field holding a literal becomes ``"[REDACTED:secret_field]"``
    (or ``None`` with ``drop_fields=True``); secrets inside other strings are
    replaced as :func:`redact` does. References and placeholders are kept.
    """

    def walk(item: Any, secret_key: str | None) -> Any:
        if isinstance(item, str):
            verdict = "text" if secret_key is None else _field_verdict(secret_key, item)
            if verdict == "secret":
                return None if drop_fields else "[REDACTED:secret_field]"
            return redact(item) if verdict == "text" else item
        if isinstance(item, Mapping):
            return {
                redact(str(k)): walk(v, str(k) if is_secret_name(str(k)) or _is_ambiguous_name(str(k)) else None)
                for k, v in item.items()
            }
        if isinstance(item, list | tuple):
            return [walk(v, secret_key) for v in item]
        return item

    return walk(value, None)


def _redact_arg(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else str(value)
    cleaned = redact(text)
    return value if cleaned == text else cleaned


class RedactingFilter(logging.Filter):
    """A logging filter that redacts secrets from a record's message, arguments and traceback.

    Attach it to handlers (not loggers: a logger's filters skip records from its
    children): ``for h in logging.getLogger().handlers: h.addFilter(RedactingFilter())``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and isinstance(record.msg, str):
            # Keep the shape: formatters such as uvicorn's access log unpack ``record.args``.
            record.msg = redact(record.msg)
            record.args = tuple(_redact_arg(a) for a in args)
        else:
            try:
                message = record.getMessage()
            except Exception:  # a bad format string: keep what we have, redacted
                message = f"{record.msg} {record.args!r}"
            record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_log_redaction() -> None:
    """Make every log handler (ours and uvicorn's) redact secrets before a record is written.

    Idempotent; call it again after a library reconfigures logging (uvicorn does at start-up).
    """
    redacting = RedactingFilter()
    for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access", "mcp", "httpx"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(redacting)
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(redacting)
