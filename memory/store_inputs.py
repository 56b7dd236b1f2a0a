"""Checks on what the memory store is given: ids, ranges, and writes that must not store a secret."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

from memory.models import parse_input
from nexus_agent.wire.errors import InvalidInput
from nexus_agent.wire.secret_guard import KnownSecrets, ensure_no_secrets

__all__ = ["check_id", "check_range", "guarded"]


def check_id(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**62:
        raise InvalidInput(f"{what} must be a positive whole number, got {value!r}", hint=f"Pass the {what} as an int.")
    return value


def check_range(value: object, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(
            f"{what} must be a whole number from {low} to {high}, got {value!r}", hint=f"Pass a {what} in that range."
        )
    return value


M = TypeVar("M", bound=BaseModel)


def guarded(model: type[M], data: Any, what: str, known: KnownSecrets | None = None) -> M:
    """Validate a write and refuse it if it would store a secret, or a ``known`` configured value (nothing is
    written then)."""
    parsed = parse_input(model, data, what)
    ensure_no_secrets(parsed.model_dump(mode="json"), f"memory: {what}", "remember", known=known)
    return parsed
