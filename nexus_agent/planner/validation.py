"""Check a proposed call before anything runs.

A call is valid when it names a tool in the catalogue, that tool's satellite is
callable now (not circuit-broken, not suspended or retired in the registry) and
its arguments are valid against the tool's input schema. Otherwise the error
text goes back to the model as a tool error, so it can correct the call; an
invalid call never reaches a satellite. Schema validators are compiled once per
tool schema and cached.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nexus_agent.planner.catalogue import Catalogue, ToolDescriptor

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

__all__ = ["UNCALLABLE_STATUSES", "CallValidator", "Verdict"]

#: Registry statuses whose tools are never called.
UNCALLABLE_STATUSES = frozenset({"suspended", "retired", "placeholder", "pending"})
MAX_PROBLEMS = 5


@dataclass(frozen=True)
class Verdict:
    descriptor: ToolDescriptor | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def _where(error: ValidationError) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
    return path or "(arguments)"


class CallValidator:
    """Validates calls against one catalogue; keeps compiled schema validators across catalogues."""

    def __init__(self) -> None:
        self._validators: dict[tuple[str, int], tuple[Mapping[str, Any], Any]] = {}

    def _validator(self, d: ToolDescriptor) -> Any:
        key = (d.name, id(d.input_schema))
        cached = self._validators.get(key)
        if cached is not None and cached[0] is d.input_schema:
            return cached[1]
        from jsonschema import FormatChecker  # loads on the first check, not on every `nexus serve` start
        from jsonschema.exceptions import SchemaError
        from jsonschema.validators import validator_for

        schema = dict(d.input_schema) or {"type": "object"}
        cls = validator_for(schema)
        try:
            cls.check_schema(schema)
            validator = cls(schema, format_checker=FormatChecker())
        except SchemaError:
            validator = None  # a broken schema cannot be checked here; the satellite will check
        if len(self._validators) > 20_000:
            self._validators.clear()
        self._validators[key] = (d.input_schema, validator)
        return validator

    def check(
        self,
        catalogue: Catalogue,
        name: str,
        arguments: Any,
        *,
        availability: bool | str = True,
    ) -> Verdict:
        d = catalogue.get(name)
        if d is None:
            close = difflib.get_close_matches(name, list(catalogue.tools), n=3, cutoff=0.6)
            hint = f" Did you mean {', '.join(close)}?" if close else " Use only the tools you were given."
            return Verdict(None, f"There is no tool named {name!r}.{hint}")
        if availability is not True:
            reason = availability if isinstance(availability, str) else "it is unavailable"
            return Verdict(d, f"{name} cannot be called now: {reason}. Do not retry it in this plan.")
        if d.app_status in UNCALLABLE_STATUSES:
            return Verdict(d, f"{name} cannot be called: its app {d.source} is {d.app_status} in the registry.")
        if not isinstance(arguments, dict):
            return Verdict(d, f"The arguments to {name} must be a JSON object.")
        validator = self._validator(d)
        if validator is None:
            return Verdict(d)
        errors = sorted(validator.iter_errors(arguments), key=lambda e: (list(e.absolute_path), e.message))
        if not errors:
            return Verdict(d)
        lines = [f"  - {_where(e)}: {e.message}" for e in errors[:MAX_PROBLEMS]]
        if len(errors) > MAX_PROBLEMS:
            lines.append(f"  - ... and {len(errors) - MAX_PROBLEMS} more")
        return Verdict(
            d,
            f"The arguments to {name} are invalid ({len(errors)} problem{'s' if len(errors) != 1 else ''}):\n"
            + "\n".join(lines)
            + "\nCorrect them against the tool's input schema and call it again.",
        )
