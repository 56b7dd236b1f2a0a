"""How a registry record becomes what a satellite connection is built from: its wiring (a change in it means
a new connection), its secrets and the environment of a stdio satellite."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from nexus_agent.events.webhook_secrets import WebhookSecrets
from nexus_agent.wire.errors import ConfigError, Forbidden
from nexus_agent.wire.models import AppRecord, AppStatus
from nexus_agent.wire.secret_env import SatelliteSecrets, app_env_prefix, secret_env_problem

__all__ = [
    "as_commands",
    "as_satellite_secrets",
    "connection_wiring",
    "is_legacy",
    "legacy_secret",
    "stdio_env",
    "unset_secret",
]


def connection_wiring(
    record: AppRecord,
    token: str | None,
    callable_statuses: frozenset[AppStatus],
    trusted: tuple[str, ...] | None,
    env: Mapping[str, str] | None = None,
) -> tuple[Any, ...]:
    """What a connection depends on: a change in any of it means a new connection."""
    ep = record.endpoints
    url = str(ep.mcp_url) if ep.mcp_url else None
    env_items = tuple(sorted((env or {}).items()))
    live = record.status in callable_statuses
    mcp = (url, tuple(ep.mcp_command or ()), ep.token_env, token, live, trusted, env_items)
    if not is_legacy(record):
        return mcp
    # A legacy app's tools are made from its record: new message types or docs mean a new tool list.
    specs = tuple(s.model_dump_json() for s in record.message_specs)
    legacy = (str(ep.message_handler_url), ep.signature_header, ep.webhook_secret_env, record.name, record.description)
    return (*mcp, *legacy, tuple(record.message_types), specs, tuple(record.business_rules))


def is_legacy(record: AppRecord) -> bool:
    """A legacy app: reached through its message handler (an app with an MCP endpoint is called over MCP)."""
    ep = record.endpoints
    return (
        ep.mcp_url is None
        and not ep.mcp_command
        and ep.message_handler_url is not None
        and bool(record.message_types or record.message_specs)
    )


def as_satellite_secrets(secrets: Mapping[str, str] | None) -> SatelliteSecrets:
    return secrets if isinstance(secrets, SatelliteSecrets) else SatelliteSecrets(secrets or {})


def as_commands(commands: Mapping[str, Sequence[str]] | None) -> dict[str, tuple[str, ...]]:
    return {slug: tuple(command) for slug, command in (commands or {}).items()}


def unset_secret(record: AppRecord, secret: str | None, secrets: SatelliteSecrets) -> str | None:
    """The variable ``record``'s calls read their secret from when it is not set (None: set, or not needed).
    A variable that is set but refused (not the app's own, too short) is reported by the call's own error."""
    if secret is not None:
        return None
    legacy = is_legacy(record)
    name = WebhookSecrets(secrets, [record]).variable(record.slug) if legacy else record.endpoints.token_env
    if not name or secrets.get(name) or secrets.get(f"{name}_FILE"):
        return None
    return name


def stdio_env(
    record: AppRecord, others: Iterable[AppRecord], secrets: SatelliteSecrets
) -> tuple[dict[str, str], Forbidden | None]:
    """``endpoints.mcp_env`` resolved from the app's own (or allow-listed) variables; a name that is not the
    app's to read blocks the satellite (nothing of it is read)."""
    if not record.endpoints.mcp_env:
        return {}, None
    env: dict[str, str] = {}
    others = list(others)
    for child, source in record.endpoints.mcp_env.items():
        problem = secret_env_problem(record.slug, source, secrets.allow, others)
        if problem is not None:
            return {}, Forbidden(
                f"endpoints.mcp_env of '{record.slug}' maps {child} to {source}, which Nexus will not read for "
                f"it: {problem}",
                hint=f"Name a variable of its own, e.g. {app_env_prefix(record.slug)}{child}, or ask the owner to "
                "add the name to NEXUS_SECRET_ENV_ALLOW.",
                details={"field": "endpoints.mcp_env", "rule": "secret-env"},
            )
        value = secrets.get(source)
        if value is not None:
            env[child] = value
    return env, None


def legacy_secret(record: AppRecord, secrets: SatelliteSecrets) -> str | None:
    try:
        return WebhookSecrets(secrets, [record])(record.slug)
    except ConfigError:
        return None
