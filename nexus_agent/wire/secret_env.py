"""Which environment variables an app's ``token_env`` / ``webhook_secret_env`` may name.

An app may name only its own variables, ``SATELLITE_<SLUG>_*`` (the slug upper-cased,
``-`` -> ``_``), or a variable the owner put on the allow-list (``NEXUS_SECRET_ENV_ALLOW``).
A name under another registered app's longer prefix, or one another app already uses,
belongs to that app: ``quote`` may not name ``SATELLITE_QUOTE_ENGINE_TOKEN`` once
``quote-engine`` is registered. Only two kinds of app can own a name: those whose prefix
starts it (:func:`rival_slugs` lists their slugs from the name alone) and those whose record
names it, so the registry reads just those rows, not every record.

:class:`SatelliteSecrets` is what the CLI passes down instead of the whole environment: a
read-only mapping holding only ``SATELLITE_*`` variables and allow-listed names (and their
``_FILE`` variants), so Nexus cannot send any other variable's value anywhere, whatever a
record names. Pure functions; no I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any

from nexus_agent.wire.errors import Forbidden
from nexus_agent.wire.models import AppRecord, is_slug

__all__ = [
    "SECRET_FIELDS",
    "EnvOwners",
    "SatelliteSecrets",
    "app_env_prefix",
    "check_secret_env",
    "rival_slugs",
    "secret_env_problem",
]

SECRET_FIELDS = ("token_env", "webhook_secret_env")
_PREFIX = "SATELLITE_"


def app_env_prefix(slug: str) -> str:
    """``quote-engine`` -> ``SATELLITE_QUOTE_ENGINE_``."""
    return f"{_PREFIX}{slug.upper().replace('-', '_')}_"


def _defaults(slug: str) -> set[str]:
    prefix = app_env_prefix(slug)
    return {f"{prefix}TOKEN", f"{prefix}WEBHOOK_SECRET"}


def rival_slugs(name: str) -> list[str]:
    """The slugs whose own prefix starts ``name``, shortest first: ``SATELLITE_QUOTE_ENGINE_TOKEN`` ->
    ``['quote', 'quote-engine']``. Besides apps whose record names ``name`` outright, only these can own it."""
    if not name.startswith(_PREFIX):
        return []
    slugs = []
    for end in range(len(_PREFIX) + 1, len(name)):
        if name[end] == "_":
            slug = name[len(_PREFIX) : end].lower().replace("_", "-")
            if is_slug(slug) and app_env_prefix(slug) == name[: end + 1]:
                slugs.append(slug)
    return slugs


def secret_env_problem(
    slug: str, name: str, allow: Collection[str] = (), others: Iterable[AppRecord] = ()
) -> str | None:
    """Why ``slug`` may not name the variable ``name`` (None: it may)."""
    if name in allow:
        return None
    prefix = app_env_prefix(slug)
    if not name.startswith(prefix) or name == prefix:
        return f"it is not one of the app's own variables ({prefix}*) nor on NEXUS_SECRET_ENV_ALLOW"
    for other in others:
        if other.slug == slug:
            continue
        theirs = app_env_prefix(other.slug)
        used = {other.endpoints.token_env, other.endpoints.webhook_secret_env} | _defaults(other.slug)
        if (len(theirs) > len(prefix) and name.startswith(theirs)) or name in used:
            return f"it belongs to the app '{other.slug}'"
    return None


class EnvOwners:
    """The records that can own each variable name, among many apps: what :func:`secret_env_problem` needs.

    Only apps whose prefix starts a name (:func:`rival_slugs`) and apps whose record names it can own it, so
    :meth:`relevant` hands a record's checks just those records, and checking every app of a registry costs
    n small lookups rather than n x n record comparisons (a pool sync of 5,000 apps did 25 million).
    """

    def __init__(self, records: Iterable[AppRecord]) -> None:
        self._by_slug: dict[str, AppRecord] = {}
        self._naming: dict[str, list[AppRecord]] = {}
        for record in records:
            self._by_slug[record.slug] = record
            for field in SECRET_FIELDS:
                name = getattr(record.endpoints, field)
                if name:
                    self._naming.setdefault(name, []).append(record)

    def relevant(self, record: AppRecord) -> list[AppRecord]:
        """The other records that may own a variable ``record`` names (token_env, webhook_secret_env, mcp_env)."""
        names = [getattr(record.endpoints, field) for field in SECRET_FIELDS]
        names += list(record.endpoints.mcp_env.values())
        found: dict[str, AppRecord] = {}
        for name in filter(None, names):
            for slug in rival_slugs(name):
                if (rival := self._by_slug.get(slug)) is not None:
                    found.setdefault(slug, rival)
            for named in self._naming.get(name, ()):
                found.setdefault(named.slug, named)
        found.pop(record.slug, None)
        return list(found.values())


def check_secret_env(record: AppRecord, allow: Collection[str] = (), others: Iterable[AppRecord] = ()) -> None:
    """Raise ``Forbidden`` when the record's token_env, webhook_secret_env or an mcp_env source names a variable
    not its own."""
    others = list(others)
    for field in SECRET_FIELDS:
        name = getattr(record.endpoints, field)
        if not name:
            continue
        problem = secret_env_problem(record.slug, name, allow, others)
        if problem is not None:
            prefix = app_env_prefix(record.slug)
            raise Forbidden(
                f"endpoints.{field} of '{record.slug}' names {name}, which Nexus will not read for it: {problem}",
                hint=f"Name a variable of its own, e.g. {prefix}{'TOKEN' if field == 'token_env' else 'WEBHOOK_SECRET'}"
                ", or ask the owner to add the name to NEXUS_SECRET_ENV_ALLOW.",
                details={"field": f"endpoints.{field}", "rule": "secret-env"},
            )
    for child, name in record.endpoints.mcp_env.items():
        problem = secret_env_problem(record.slug, name, allow, others)
        if problem is not None:
            raise Forbidden(
                f"endpoints.mcp_env of '{record.slug}' maps {child} to {name}, which Nexus will not read for it: "
                f"{problem}",
                hint=f"Map it from a variable of its own, e.g. {app_env_prefix(record.slug)}{child}, "
                "or ask the owner to add the name to NEXUS_SECRET_ENV_ALLOW.",
                details={"field": "endpoints.mcp_env", "rule": "secret-env"},
            )


class SatelliteSecrets(Mapping[str, str]):
    """The only variables satellites' tokens and webhook secrets are read from.

    ``SatelliteSecrets.from_env(env, allow=settings.secret_env_allow)`` (the CLI passes its environment) keeps
    ``SATELLITE_*`` and the allow-listed names (with their ``_FILE`` variants) and nothing else.
    Its ``repr`` shows names, never values.
    """

    def __init__(self, values: Mapping[str, str] | None = None, *, allow: Collection[str] = ()) -> None:
        self.allow = frozenset(allow)
        wanted = self.allow | {f"{n}_FILE" for n in self.allow}
        self._values = {k: v for k, v in (values or {}).items() if k.startswith(_PREFIX) or k in wanted}

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, allow: Collection[str] = ()) -> SatelliteSecrets:
        return cls(env, allow=allow)

    def __getitem__(self, key: str) -> str:
        return self._values[key]

    def get(self, key: str, default: Any = None) -> Any:  # Mapping.get without a KeyError for a name not set
        return self._values.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"SatelliteSecrets(names={sorted(self._values)!r})"

    def refusal(self, record: AppRecord, others: Iterable[AppRecord] = ()) -> Forbidden | None:
        """The error for a record whose token_env or webhook_secret_env is not its own (None: both are)."""
        try:
            check_secret_env(record, self.allow, others)
        except Forbidden as exc:
            return exc
        return None

    def for_app(self, slug: str, name: str | None, others: Iterable[AppRecord] = ()) -> str | None:
        """The value of ``name`` for ``slug``, or None when it is unset or not the app's to read."""
        if not name or secret_env_problem(slug, name, self.allow, others) is not None:
            return None
        return self._values.get(name)
