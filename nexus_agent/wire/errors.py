"""The one error tree of Nexus.

Every failure a user, a client or a model can act on is a :class:`NexusError`
with a stable ``code``, a user-facing ``message`` saying what was wrong and a
``hint`` saying how to fix it. The edges translate it in exactly one place each:
``nexus_agent.server`` (MCP tool errors), ``nexus_agent.http`` (JSON bodies) and
``nexus_agent.cli`` (a message on stderr and a non-zero exit code).

    NexusError                      code
    ├── InvalidInput                invalid_input        (bad arguments, bad JSON)
    ├── NotFound                    not_found            (unknown slug, id)
    ├── Conflict                    conflict             (state does not allow it)
    ├── Unauthorized                unauthorized         (missing / wrong token)
    ├── Forbidden                   forbidden            (the caller's role may not do this)
    ├── ConfigError                 config_error         (bad settings or environment)
    ├── UpstreamError               upstream_error       (a satellite or service failed)
    ├── SecretLeakRefused           secret_detected      (a write would store or show a secret)
    └── StorageError                storage_error
        ├── DatabaseLocked          database_locked
        ├── DatabaseReadOnly        database_read_only
        └── NotANexusDatabase       not_a_nexus_database
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

__all__ = [
    "ConfigError",
    "Conflict",
    "DatabaseLocked",
    "DatabaseReadOnly",
    "Forbidden",
    "InvalidInput",
    "NexusError",
    "NotANexusDatabase",
    "NotFound",
    "SecretLeakRefused",
    "StorageError",
    "Unauthorized",
    "UpstreamError",
    "describe_validation_error",
]


class NexusError(Exception):
    """Base of every error Nexus reports to a person, a client or a model."""

    code: str = "nexus_error"
    http_status: int = 500

    def __init__(self, message: str, *, hint: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.hint:
            body["hint"] = self.hint
        if self.details is not None:
            body["details"] = self.details
        return body

    def user_message(self) -> str:
        """One readable text: what went wrong, then how to fix it."""
        text = f"[{self.code}] {self.message}"
        if self.hint:
            text += f"\nHow to fix: {self.hint}"
        return text

    def __str__(self) -> str:
        return self.user_message()


class InvalidInput(NexusError):
    code = "invalid_input"
    http_status = 400

    @classmethod
    def from_validation(cls, exc: ValidationError, what: str) -> InvalidInput:
        problems = describe_validation_error(exc)
        lines = "\n".join(f"  - {p['field']}: {p['problem']}" for p in problems)
        return cls(
            f"{what} is invalid ({len(problems)} problem{'s' if len(problems) != 1 else ''}):\n{lines}",
            hint="Correct the fields listed above and try again.",
            details=problems,
        )


class NotFound(NexusError):
    code = "not_found"
    http_status = 404


class Conflict(NexusError):
    code = "conflict"
    http_status = 409


class Unauthorized(NexusError):
    code = "unauthorized"
    http_status = 401


class Forbidden(NexusError):
    """The caller is known, but its role (or its app scope) does not allow this."""

    code = "forbidden"
    http_status = 403


class ConfigError(NexusError):
    code = "config_error"
    http_status = 500


class UpstreamError(NexusError):
    code = "upstream_error"
    http_status = 502


class SecretLeakRefused(NexusError):
    """A write, log line or tool result would carry a secret; ``details`` lists each location and kind."""

    code = "secret_detected"
    http_status = 422


class StorageError(NexusError):
    code = "storage_error"
    http_status = 503


class DatabaseLocked(StorageError):
    code = "database_locked"


class DatabaseReadOnly(StorageError):
    code = "database_read_only"


class NotANexusDatabase(StorageError):
    code = "not_a_nexus_database"


def _expected(err: Any) -> str:
    ctx = err.get("ctx") or {}
    kind = err.get("type", "")
    msg = str(err.get("msg", "invalid value"))
    if kind == "missing":
        return "is required but was not given"
    if kind == "extra_forbidden":
        return "is not a known field (remove it or check its spelling)"
    if kind == "literal_error" and "expected" in ctx:
        return f"must be one of {ctx['expected']}"
    if not msg:
        return "invalid value"
    # "Input should be..." -> "input should be..."; an acronym keeps its case ("URL scheme should be...").
    return msg if msg[1:2].isupper() else msg[0].lower() + msg[1:]


def describe_validation_error(exc: ValidationError) -> list[dict[str, str]]:
    """Turn a pydantic error into ``[{field, problem, got}]`` without doc URLs."""
    out: list[dict[str, str]] = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err.get("loc", ())) or "(input)"
        entry = {"field": loc, "problem": _expected(err)}
        if err.get("type") not in {"missing", "extra_forbidden"} and "input" in err:
            got = repr(err["input"])
            entry["got"] = got if len(got) <= 80 else got[:77] + "..."
            entry["problem"] += f" (got {entry['got']})"
        out.append(entry)
    return out
