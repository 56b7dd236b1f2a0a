"""The exact values of the secrets one Nexus process is configured with (pure, no I/O).

Pattern detectors find secrets by their shape; a webhook secret such as
``correct-horse-battery-staple`` has none. :class:`KnownSecrets` holds the
values themselves (bearer tokens, the JWT signing key, the GitHub token or App
key, the GitHub webhook secret, the Anthropic key, every satellite token and
webhook secret) so the secret guard can find them anywhere, whatever they look
like. The edge builds one at start-up from the settings it already has
(``nexus_agent.config.known_secrets(settings, env)``) and hands it down:
``scan(..., known=known)``, ``install_log_redaction(known)``; nothing here is
global.

Values shorter than :data:`MIN_KNOWN_SECRET_LENGTH` characters are ignored: a
"secret" like ``owner`` or ``true`` would redact ordinary words.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr

from nexus_agent.wire._secret_text import is_secret_name

__all__ = ["MIN_KNOWN_SECRET_LENGTH", "KnownSecrets", "is_secret_variable"]

#: Shorter configured values are not treated as secrets (they would match ordinary words).
MIN_KNOWN_SECRET_LENGTH = 8


_SECRET_WORDS = frozenset({"KEY", "AUTH", "PASS", "PWD"})


def is_secret_variable(name: str) -> bool:
    """Whether an environment variable's name says it holds a secret.

    ``QUOTE_ENGINE_TOKEN``, ``SATELLITE_X_WEBHOOK_SECRET``, ``ANTHROPIC_API_KEY``, ``SATELLITE_X_KEY``: yes.
    ``SATELLITE_X_URL``, ``NEXUS_TOKEN_FILE``, ``MONKEY``: no (a URL or a path is configuration, not a secret).
    """
    return is_secret_name(name) or ("_" in name and name.upper().rsplit("_", 1)[-1] in _SECRET_WORDS)


def _plain(value: object) -> str | None:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, SecretBytes):
        return value.get_secret_value().decode("utf-8", errors="replace")
    return value if isinstance(value, str) else None


def _secret_fields(value: Any, depth: int = 0) -> Iterator[str]:
    """Every ``SecretStr``/``SecretBytes`` inside a settings model (nested models, tuples, dicts)."""
    if depth > 8:
        return
    if isinstance(value, SecretStr | SecretBytes):
        plain = _plain(value)
        if plain:
            yield plain
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secret_fields(getattr(value, name, None), depth + 1)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _secret_fields(item, depth + 1)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _secret_fields(item, depth + 1)


_JSON_ESCAPED = re.compile(r'["\\\x00-\x1f]')


class KnownSecrets:
    """An immutable set of configured secret values that the guard finds and redacts wherever they appear.

    ``KnownSecrets.of(["tok-...", settings.github_webhook_secret])`` or
    :meth:`from_config`. ``spans(text)`` gives where they are; ``redact(text)``
    replaces them; ``in_data(base64_text)`` looks inside a base64 payload.
    """

    __slots__ = ("_bytes", "_escaped", "_pattern", "_values", "present")

    def __init__(self, values: Iterable[str] = ()) -> None:
        kept = {v for v in values if len(v) >= MIN_KNOWN_SECRET_LENGTH and v.strip()}
        self._values: tuple[str, ...] = tuple(sorted(kept, key=lambda v: (-len(v), v)))
        self._bytes = tuple(v.encode() for v in self._values)
        self._pattern = re.compile("|".join(map(re.escape, self._values))) if self._values else None
        #: A value JSON would escape (a quote, a backslash, a control character): not findable in a rendering.
        self._escaped = any(_JSON_ESCAPED.search(v) for v in self._values)
        #: Whether any value is configured (``bool(known)``, read as an attribute where answers are walked).
        self.present = bool(self._values)

    @classmethod
    def of(cls, values: Iterable[str | SecretStr | SecretBytes | None]) -> KnownSecrets:
        return cls(p for p in map(_plain, values) if p)

    @classmethod
    def from_config(
        cls, *configs: BaseModel, env: Mapping[str, str] | None = None, names: Iterable[str] = ()
    ) -> KnownSecrets:
        """The secret values of settings models plus the secret variables of ``env``.

        From ``env`` (the mapping satellite tokens and webhook secrets are resolved
        from) it takes every variable whose name says it holds a secret
        (:func:`is_secret_variable`: ``SATELLITE_X_TOKEN``, ``SATELLITE_X_WEBHOOK_SECRET``,
        ``ANTHROPIC_API_KEY``) and the variables listed in ``names`` (an owner's allow-list).
        Other variables, ``SATELLITE_X_URL`` say, are configuration and would only cause false alarms.
        """
        values = [v for config in configs for v in _secret_fields(config)]
        wanted = set(names)
        for name, value in (env or {}).items():
            if name in wanted or is_secret_variable(name):
                values.append(value.strip())
        return cls(values)

    def merged(self, values: Iterable[str]) -> KnownSecrets:
        return KnownSecrets([*self._values, *values])

    def found_in_json(self, text: str) -> bool | None:
        """Whether a value occurs in ``text``, a ``json.dumps(..., ensure_ascii=False)`` rendering; None when
        that cannot be told from the rendering (a value holding a quote, a backslash or a control character,
        which JSON escapes)."""
        if self._escaped:
            return None
        return bool(self._pattern is not None and self._pattern.search(text))

    def __len__(self) -> int:
        return len(self._values)

    def __bool__(self) -> bool:
        return bool(self._values)

    def __repr__(self) -> str:  # never the values
        return f"KnownSecrets({len(self._values)} values)"

    def __contains__(self, text: object) -> bool:
        return isinstance(text, str) and bool(self.spans(text))

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where known values occur in ``text`` (longest value first at each place)."""
        if self._pattern is None:
            return []
        return [m.span() for m in self._pattern.finditer(text)]

    def redact(self, text: str, mark: str = "[REDACTED:configured_secret]") -> str:
        return text if self._pattern is None else self._pattern.sub(mark, text)

    def in_bytes(self, data: bytes) -> bool:
        return any(value in data for value in self._bytes)

    def in_data(self, payload: str) -> bool:
        """Whether a base64 payload (an image, audio or blob), or its text, holds a known value."""
        if self._pattern is None:
            return False
        if self._pattern.search(payload):
            return True
        try:
            decoded = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            return False
        return self.in_bytes(decoded)
