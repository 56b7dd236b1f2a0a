"""How the secret guard reads text: secret-like names, references, and the detectors (pure, no I/O).

Private to :mod:`nexus_agent.wire.secret_guard`, which documents what counts as a
secret and re-exports the public helpers (``is_secret_name``, ``is_env_reference``,
``is_placeholder``). :func:`text_hits` finds every secret-looking span in one string.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from nexus_agent.wire.known_secrets import KnownSecrets

Severity = Literal["low", "medium", "high"]
RANK: dict[str, int] = {"low": 0, "medium": 1, "high": 2}


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
HASH_NAMES = ("sha", "commit", "hash", "digest", "checksum", "etag", "signature", "fingerprint", "integrity")


_NOT_NAME_CHAR = re.compile(r"[^a-z0-9]")


def norm_name(name: str) -> str:
    return _NOT_NAME_CHAR.sub("", name.lower())


@functools.lru_cache(maxsize=8192)  # field names recur in every record and answer: each is judged once
def is_secret_name(name: str) -> bool:
    """True for field names like ``webhook_secret``, ``apiKey``, ``X-Api-Key``, ``tokens``."""
    norm = norm_name(name.rsplit(".", 1)[-1])
    if not norm or norm.endswith(_NOT_SECRET_SUFFIXES) or norm.startswith(_COUNT_PREFIXES):
        return False
    return norm.endswith(_SECRET_SUFFIXES) or norm.removesuffix("s").endswith(_SECRET_SUFFIXES)


@functools.lru_cache(maxsize=8192)
def is_ambiguous_name(name: str) -> bool:
    return norm_name(name.rsplit(".", 1)[-1]) in _AMBIGUOUS_NAMES


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
class Hit:
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

#: What each detector's match must contain, looked for with ``in`` before its regex runs over the text (a regex
#: with no literal prefix tries every position: ~3 us for a short JSON answer, times thirteen). A kind not
#: listed always runs. ``bearer_token`` is case-insensitive: its literal is looked for in the lower-cased text
#: (none of "bearer"'s letters has another case-insensitive match in Python's ``re``).
_NEEDS: dict[str, tuple[str, ...]] = {
    "private_key": ("-----BEGIN ",),
    "github_token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    "aws_access_key_id": ("AKIA", "ASIA", "ABIA", "ACCA"),
    "slack_token": ("xox",),
    "slack_webhook_url": ("https://hooks.slack.com/",),
    "stripe_key": ("k_live_", "k_test_"),
    "google_api_key": ("AIza",),
    "anthropic_key": ("sk-ant-",),
    "openai_key": ("sk-",),
    "jwt": ("eyJ",),
    "url_credentials": ("://",),
}
_NEEDS_LOWER: dict[str, tuple[str, ...]] = {"bearer_token": ("bearer",)}


def _scanner(needs: dict[str, tuple[str, ...]]) -> tuple[re.Pattern[str], dict[str, frozenset[int]]]:
    """A regex finding every place one of ``needs``'s literals starts (the longest first at each place), and for
    each literal the detectors (by index in ``_PATTERNS``) of every literal inside it, its own included: where a
    literal occurs, so does each literal it contains, though the regex names only the longest."""
    kinds = {literal: kind for kind, literals in needs.items() for literal in literals}
    order = {kind: index for index, (kind, _, _, _) in enumerate(_PATTERNS)}
    ordered = sorted(kinds, key=lambda literal: (-len(literal), literal))
    scan = re.compile("(?=(" + "|".join(map(re.escape, ordered)) + "))")
    return scan, {big: frozenset(order[kinds[small]] for small in kinds if small in big) for big in kinds}


_LITERALS, _IMPLIED = _scanner(_NEEDS)
_LOWER_LITERALS, _IMPLIED_LOWER = _scanner(_NEEDS_LOWER)  # looked for in the lower-cased text
#: Detectors with no literal: they always run.
_ALWAYS = frozenset(i for i, (kind, _, _, _) in enumerate(_PATTERNS) if kind not in _NEEDS and kind not in _NEEDS_LOWER)


def _may_run(text: str, lower: str) -> list[int]:
    """The detectors (indexes in ``_PATTERNS``, in order) with one of their literals in ``text`` (``_NEEDS``) or in
    ``lower`` (``_NEEDS_LOWER``), and those with none: one regex pass each instead of an ``in`` test per literal."""
    found = set(_ALWAYS)
    for literal in _LITERALS.findall(text):
        found |= _IMPLIED[literal]
    for literal in _LOWER_LITERALS.findall(lower):
        found |= _IMPLIED_LOWER[literal]
    return sorted(found)


_ASSIGNMENT = re.compile(
    r"""(?P<q>["']?)(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)(?P=q)\s*(?P<op>[:=])(?!//)\s*
    (?:"(?P<dq>[^"\\\n]*)"|'(?P<sq>[^'\\\n]*)'|(?P<bare>[^\s"',;&}\])]+))""",
    re.VERBOSE,
)
_CONSTANT_LIKE = re.compile(r"[_-]|^[A-Z0-9_]+$")
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


# Honest data that looks random: digests named by their algorithm (lock-file and SRI ``integrity``,
# go.sum ``h1:``, Nix ``sha256-``), values after a digest-like word, IPFS ids, and ``data:`` URL payloads.
_DIGEST_PREFIX = re.compile(r"^(?:sha(?:1|224|256|384|512)|sha3-\d{3}|md5|blake2[bs]?|blake3)-", re.IGNORECASE)
_DIGEST_BEFORE = re.compile(
    r"""(?:\b(?:sha(?:1|224|256|384|512)|md5|h1)[:-]|\b(?:integrity|checksums?|digest|etag|e-tag|hash|fingerprint)
    ["']?\s*[:=]?\s*["']?)$""",
    re.IGNORECASE | re.VERBOSE,
)
_IPFS_CID = re.compile(r"^Qm[1-9A-HJ-NP-Za-km-z]{44}$")
_DATA_URL = re.compile(r"data:(?!text/)[\w.+-]+/[\w.+-]+(?:;[\w.+-]+=[\w.+-]+)*;base64,([A-Za-z0-9+/]+={0,2})")


def _honest_digest(text: str, start: int, token: str) -> bool:
    """Whether the random-looking ``token`` at ``start`` is a digest or an id, by its shape or what precedes it."""
    return bool(
        _DIGEST_PREFIX.match(token) or _IPFS_CID.match(token) or _DIGEST_BEFORE.search(text[max(0, start - 24) : start])
    )


# Every detector needs one of these: a run of 16+ token characters, an assignment, or a PEM block.
# Most text Nexus writes (names, tags, sentences) has none, and skips the detectors entirely.
_MAYBE_SECRET = re.compile(r"[A-Za-z0-9_\-+/.~]{16,}|[=:]|-----BEGIN")


def text_hits(text: str, *, entropy: bool = True, known: KnownSecrets | None = None) -> list[Hit]:
    """Every secret-looking span of ``text``; ``known`` adds the exact values Nexus is configured with."""
    hits: list[Hit] = [Hit("configured_secret", a, b, "high") for a, b in known.spans(text)] if known else []
    if not _MAYBE_SECRET.search(text):
        return hits
    for index in _may_run(text, text.lower()):
        kind, pattern, group, check = _PATTERNS[index]
        for m in pattern.finditer(text):
            if check is None or check(m.group(group)):
                hits.append(Hit(kind, m.start(group), m.end(group), "high"))
    for m in _ASSIGNMENT.finditer(text):
        key = m.group("key")
        if not (is_secret_name(key) or is_ambiguous_name(key)):
            continue
        if m.group("op") == ":" and not m.group("q") and not _CONSTANT_LIKE.search(key):  # prose: "Note: ..."
            continue
        value_group = m.lastgroup or ""  # the value's group (dq, sq or bare), the last one in the pattern
        value = m.group(value_group)
        if is_ambiguous_name(key) and not _credential_like(value):
            continue
        if _secretish(value):
            hits.append(Hit("secret_assignment", m.start(value_group), m.end(value_group), "medium"))
    hits = _merge(hits)
    if entropy:  # only where no named kind matched: a GitHub token is reported as one, not as entropy
        taken = [(h.start, h.end) for h in hits] + [m.span(1) for m in _DATA_URL.finditer(text)]
        for m in _CANDIDATE.finditer(text):
            if any(a < m.end() and m.start() < b for a, b in taken) or not _high_entropy(m.group()):
                continue
            if not _honest_digest(text, m.start(), m.group()):
                hits.append(Hit("high_entropy", m.start(), m.end(), "medium"))
    return sorted(hits, key=lambda h: h.start)


def _merge(hits: list[Hit]) -> list[Hit]:
    """Drop hits inside an earlier, stronger or longer one (one secret, one finding)."""
    ordered = sorted(hits, key=lambda h: (h.start, -RANK[h.severity], -(h.end - h.start)))
    out: list[Hit] = []
    for hit in ordered:
        if out and hit.start < out[-1].end:
            last = out[-1]
            out[-1] = Hit(last.kind, last.start, max(last.end, hit.end), last.severity)
            continue
        out.append(hit)
    return out


def field_verdict(name: str, value: str) -> Literal["reference", "placeholder", "secret", "text"]:
    """How to treat a string under a secret-named (or ``auth``-like) field; ``text``: look at the text itself."""
    if not value.strip():
        return "reference"
    if not is_secret_name(name):  # auth, authorization
        return "reference" if is_env_reference(value) else "secret" if _credential_like(value) else "text"
    if is_placeholder(value):
        return "placeholder"
    return "reference" if is_env_reference(value) and not text_hits(value) else "secret"  # ${T:-ghp_...}: secret
