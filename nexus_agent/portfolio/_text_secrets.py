"""Secrets written as prose in Markdown and text files (pure: no I/O).

The secret guard finds secrets by their shape (a key pattern, a PEM block, a URL with a
password, a ``name=value`` assignment). People writing READMEs and issue bodies label
them instead: ``Admin login for staging: rota-admin / Staging-Pa55word-7731`` or
``- Secret: `yard-tracker-plaintext-secret-4f9a```. A line whose label names a
credential (password, login, secret, token, API key, ...) and whose value holds a
credential-like word (8+ characters mixing letters with digits or symbols, not an
environment variable's name, not a placeholder, not a URL) is a finding. The value is
never kept: only its length is.
"""

from __future__ import annotations

import re

from nexus_agent.wire.secret_guard import SecretFinding, is_env_reference, is_placeholder

__all__ = ["hidden_preview", "scan_labelled"]

_LABELLED = re.compile(
    r"^[\s>*+-]*(?:\*\*|__)?(?P<label>[A-Za-z][A-Za-z0-9 ()/_-]{0,60}?)\s*(?:\*\*|__)?\s*[:=]\s*(?:\*\*|__)?\s*"
    r"(?P<value>\S.*)$"
)
_LABEL_KINDS = (
    ("private key", "private_key"),
    ("password", "password"),
    ("passwd", "password"),
    ("passphrase", "password"),
    ("pwd", "password"),
    ("login", "password"),
    ("credential", "password"),
    ("api key", "api_key"),
    ("apikey", "api_key"),
    ("api_key", "api_key"),
    ("token", "token"),
    ("secret", "secret"),
)
_NOT_SECRET_LABELS = re.compile(r"\b(header|algorithm|env|environment variable|variable|name|url|rotation)\b", re.I)
_WORD = re.compile(r"[^\s`'\"<>()\[\],;]+")
_ENV_NAME = re.compile(r"^\$?\{?[A-Z][A-Z0-9_]{2,}\}?$")


def _kind(label: str) -> str | None:
    lower = label.lower()
    if _NOT_SECRET_LABELS.search(lower):
        return None
    return next((kind for word, kind in _LABEL_KINDS if word in lower), None)


def _credential_word(value: str) -> str | None:
    for word in _WORD.findall(value):
        word = word.strip(".*_")
        if len(word) < 8 or "://" in word or _ENV_NAME.match(word) or is_env_reference(word) or is_placeholder(word):
            continue
        letters, digits = re.search(r"[A-Za-z]", word), len(re.findall(r"\d", word))
        symbols = re.search(r"[^A-Za-z0-9]", word)
        # two digits or more ('1Password' is a product, 'hunter22' is not); or symbols in mixed case
        if letters and (digits >= 2 or (symbols and re.search(r"[A-Z]", word) and re.search(r"[a-z]", word))):
            return word
    return None


def hidden_preview(length: int) -> str:
    return f"[{length} chars]"


def scan_labelled(text: str, location: str) -> list[SecretFinding]:
    """Labelled credentials in ``text``, one finding per line (``location:line``), values left out."""
    found: list[SecretFinding] = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = _LABELLED.match(line)
        if not match or not (kind := _kind(match["label"])):
            continue
        if word := _credential_word(match["value"]):
            found.append(SecretFinding(kind=kind, location=f"{location}:{number}", preview=hidden_preview(len(word))))
    return found
