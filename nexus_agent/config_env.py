"""Groups of ``NEXUS_*`` variables :meth:`nexus_agent.config.Settings.load` reads: trust (outbound policy,
commands, secret variables, TLS), scale (PostgreSQL, stateless HTTP, gateway) and backups. Each takes the
environment mapping it is given; nothing here reads the process environment."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from pydantic import SecretStr, ValidationError

from nexus_agent.wire.errors import ConfigError

__all__ = ["backup_values", "flag", "invalid_settings", "scale_values", "trust_values"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}  # set but empty: off, as before


def flag(env: Mapping[str, str], var: str) -> bool:
    """``env[var]`` as a yes/no setting; a value that is neither ('ture', 'maybe') is an error, never quietly off."""
    value = env[var].strip().lower()
    if value in _TRUE | _FALSE:
        return value in _TRUE
    raise ConfigError(
        f"{var} is {env[var]!r}, which is neither true nor false",
        hint=f"Set {var} to true or false (1/0, yes/no and on/off work too), or unset it for the default.",
    )


#: Settings whose variable is not NEXUS_<FIELD>; values of fields holding secrets are never repeated.
_VARIABLES = {
    "db_path": "NEXUS_DB",
    "auto_approve_tools": "NEXUS_AUTO_APPROVE",
    "token_names": "NEXUS_TOKENS",
    "token_grants": "NEXUS_TOKENS",
    "anthropic_api_key": "ANTHROPIC_API_KEY",
    "anthropic_base_url": "ANTHROPIC_BASE_URL",
    "http_host": "--http HOST:PORT",
    "http_port": "--http HOST:PORT",
}
_SECRET_WORDS = ("secret", "token", "key", "password", "url")


def invalid_settings(exc: ValidationError) -> ConfigError:
    """Name each bad setting by its variable, say what it must be, and show what was given (unless secret)."""
    problems = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"])
        var = _VARIABLES.get(field) or f"NEXUS_{field.upper().replace('.', '_')}"
        given = error.get("input")
        shown = (
            ""
            if any(w in field for w in _SECRET_WORDS) or not isinstance(given, str | int | float)
            else f" (got {given!r})"
        )
        problems.append(f"{var}: {error['msg']}{shown}")
    return ConfigError(
        "invalid settings: " + "; ".join(problems),
        hint="Fix or unset the variable(s) named (or the matching command-line flag); README's Configuration "
        "table lists each one and its default.",
    )


def trust_values(env: Mapping[str, str]) -> dict[str, object]:
    """The outbound-policy, command, secret-variable, body-deadline and TLS settings (docs/security.md)."""
    values: dict[str, object] = {}
    for var, key in (
        ("NEXUS_OUTBOUND_ALLOW_LOOPBACK", "outbound_allow_loopback"),
        ("NEXUS_OUTBOUND_ALLOW_PRIVATE", "outbound_allow_private"),
        ("NEXUS_ALLOW_REMOTE_COMMANDS", "allow_remote_commands"),
    ):
        if var in env:
            values[key] = flag(env, var)
    for var, key in (("NEXUS_CA_FILE", "ca_file"), ("NEXUS_TLS_CERT", "tls_cert"), ("NEXUS_TLS_KEY", "tls_key")):
        if env.get(var):
            values[key] = Path(env[var]).expanduser()
    if env.get("NEXUS_SECRET_ENV_ALLOW"):
        names = tuple(n.strip() for n in env["NEXUS_SECRET_ENV_ALLOW"].split(",") if n.strip())
        bad = [n for n in names if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", n)]
        if bad:
            raise ConfigError(
                f"NEXUS_SECRET_ENV_ALLOW names {', '.join(bad)}, which are not environment variable names",
                hint="List upper-case variable names separated by commas, e.g. SHARED_PARTNER_TOKEN.",
            )
        values["secret_env_allow"] = names
    if env.get("NEXUS_BODY_TIMEOUT_S"):
        values["body_timeout_s"] = env["NEXUS_BODY_TIMEOUT_S"]
    for var, key in (
        ("NEXUS_SATELLITE_LIST_TIMEOUT_S", "satellite_list_timeout_s"),
        ("NEXUS_SATELLITE_CALL_TIMEOUT_S", "satellite_call_timeout_s"),
        ("NEXUS_FANOUT_CONCURRENCY", "fanout_concurrency"),
    ):
        if env.get(var):
            values[key] = env[var]
    return values


def scale_values(env: Mapping[str, str]) -> dict[str, object]:
    """NEXUS_DATABASE_URL (PostgreSQL shared by replicas) and NEXUS_HTTP_STATELESS."""
    values: dict[str, object] = {}
    url = env.get("NEXUS_DATABASE_URL", "").strip()
    if url:
        if not url.startswith(("postgresql://", "postgres://")):
            raise ConfigError(
                "NEXUS_DATABASE_URL must start with postgresql:// (the value is not shown: it may hold a password)",
                hint="Write it as postgresql://USER:PASSWORD@HOST:PORT/DATABASE, or unset it to keep SQLite.",
            )
        values["database_url"] = SecretStr(url)
    if "NEXUS_HTTP_STATELESS" in env:
        values["http_stateless"] = flag(env, "NEXUS_HTTP_STATELESS")
    if "NEXUS_GATEWAY_FASTPATH" in env:
        values["gateway_fastpath"] = flag(env, "NEXUS_GATEWAY_FASTPATH")
    if "NEXUS_HTTP_UVLOOP" in env:
        values["http_uvloop"] = flag(env, "NEXUS_HTTP_UVLOOP")
    if "NEXUS_SATELLITE_WATCH_TOOLS" in env:
        values["satellite_watch_tools"] = flag(env, "NEXUS_SATELLITE_WATCH_TOOLS")
    if "NEXUS_FANOUT_RAW" in env:
        values["fanout_raw"] = flag(env, "NEXUS_FANOUT_RAW")
    if "NEXUS_OUTBOX_LEASE_S" in env:
        values["outbox_lease_s"] = env["NEXUS_OUTBOX_LEASE_S"]
    return values


def backup_values(env: Mapping[str, str], home: Path) -> dict[str, object]:
    """NEXUS_BACKUP_DIR (``off`` turns the daily backup off) and NEXUS_BACKUP_KEEP."""
    where = env.get("NEXUS_BACKUP_DIR", "").strip()
    values: dict[str, object] = {}
    if where.lower() not in {"off", "none", "false", "0"}:
        values["backup_dir"] = Path(where).expanduser() if where else home / "backups"
    if env.get("NEXUS_BACKUP_KEEP", "").strip():
        values["backup_keep"] = env["NEXUS_BACKUP_KEEP"].strip()
    return values
