"""Settings: one object, built by the CLI from flags and ``NEXUS_*`` variables.

Nothing below the CLI reads the environment; everything receives a
:class:`Settings` (or the parts of it it needs) as an argument.

| variable              | meaning                                              | default            |
|-----------------------|------------------------------------------------------|--------------------|
| ``NEXUS_HOME``        | folder holding the database and the truth source     | ``~/.nexus``       |
| ``NEXUS_DB``          | SQLite database path                                 | ``$NEXUS_HOME/nexus.db`` |
| ``NEXUS_TOKENS``      | comma-separated ``name:role[:app]=token`` entries (``name=token``, bare: owner) | none |
| ``NEXUS_TOKEN_FILE``  | file with one token entry per line (same forms)     | none               |
| ``NEXUS_JWT_SECRET`` (``NEXUS_JWT_KEY_FILE``) | key signing and checking Nexus's short-lived JWTs | none (no JWTs) |
| ``NEXUS_JWT_ISSUER`` / ``NEXUS_JWT_AUDIENCE`` | ``iss`` / ``aud`` of those JWTs | ``nexus`` / ``nexus-mcp`` |
| ``NEXUS_AGENTS_MAY_APPROVE`` | agent-role callers may approve/reject the plans they started | ``false`` |
| ``NEXUS_DB_SYNC``     | ``full`` (survives power loss) or ``normal``         | ``full``           |
| ``NEXUS_ACTOR``       | who is recorded as making CLI/stdio changes          | ``owner``          |
| ``NEXUS_BUSY_TIMEOUT_MS`` | how long a write waits for another writer  | ``10000``          |
| ``NEXUS_MAX_INPUT_BYTES``  | largest accepted tool arguments (bytes)    | ``262144``         |
| ``NEXUS_TRUTH``       | truth source: ``local`` git or ``github``             | ``local``          |
| ``NEXUS_TRUTH_PATH``  | the local git truth repository                       | ``$NEXUS_HOME/truth`` |
| ``NEXUS_GITHUB_*``    | GitHub repo, API URL, token or App credentials (see ``nexus_agent.truth.settings``) | none |
| ``ANTHROPIC_API_KEY`` | planner uses Claude; without it the offline planner   | none (offline)     |
| ``NEXUS_MODEL``       | Anthropic model name                                 | ``claude-sonnet-4-6`` |
| ``NEXUS_AUTO_APPROVE``| tools the planner may run without asking (comma list) | none               |
| ``NEXUS_REGISTRATION_AUTO_APPROVE`` | approve clean registrations without the owner | ``false`` |
| ``NEXUS_GITHUB_WEBHOOK_SECRET`` (``_FILE``) | secret of the GitHub webhook (POST /api/webhooks/github) | none |
| ``NEXUS_LOG_LEVEL``   | ``DEBUG`` .. ``ERROR``                               | ``INFO``           |
| ``NEXUS_BACKUP_DIR``  | folder of the daily backup ``nexus serve`` takes (``off``: none) | ``$NEXUS_HOME/backups`` |
| ``NEXUS_BACKUP_KEEP`` | how many daily backups to keep                       | ``7``              |
| ``NEXUS_OUTBOUND_ALLOW_LOOPBACK`` (``_PRIVATE``) | may contact loopback (private) addresses | ``true`` (``false``) |
| ``NEXUS_CA_FILE``     | extra CA bundle trusted for satellites' certificates  | none               |
| ``NEXUS_ALLOW_REMOTE_COMMANDS`` | the owner may set ``mcp_command`` over HTTP | ``false``          |
| ``NEXUS_SECRET_ENV_ALLOW`` | variables apps may name besides ``SATELLITE_<SLUG>_*`` | none          |
| ``NEXUS_BODY_TIMEOUT_S`` | deadline for an HTTP request body                 | ``10``             |
| ``NEXUS_TLS_CERT`` / ``NEXUS_TLS_KEY`` | HTTPS (TLS 1.3 only) for ``serve --http`` | none       |
| ``NEXUS_DATABASE_URL`` | ``postgresql://`` URL: memory and registry shared by replicas | none (SQLite) |
| ``NEXUS_HTTP_STATELESS`` | Streamable HTTP without sessions (legacy clients behind a balancer) | ``false`` |
| ``NEXUS_OUTBOX_LEASE_S`` | how long a dispatcher holds an event (a dead replica's are resent after it) | ``60`` |
| ``NEXUS_GATEWAY_FASTPATH`` | relay satellite tool calls as JSON-RPC, without the SDK's stacks | ``true`` |
| ``NEXUS_SATELLITE_LIST_TIMEOUT_S`` | deadline of one satellite's tools/list (connecting included) | ``10`` |
| ``NEXUS_SATELLITE_CALL_TIMEOUT_S`` | default deadline of one satellite call           | ``30``             |
| ``NEXUS_FANOUT_CONCURRENCY`` | satellites listed or called at once              | ``64``             |
| ``NEXUS_SATELLITE_WATCH_TOOLS`` | a tool-change stream per satellite (off: lists refetched after 5 min) | ``true`` |
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from nexus_agent.truth.settings import TruthSettings
from nexus_agent.wire.errors import ConfigError
from nexus_agent.wire.known_secrets import KnownSecrets, is_secret_variable
from nexus_agent.wire.models import is_slug

if TYPE_CHECKING:
    from nexus_agent.satellites.models import PoolSettings

__all__ = [
    "ROLE_NAMES",
    "Settings",
    "TokenGrant",
    "is_loopback_host",
    "known_secrets",
    "parse_token_entry",
    "token_label_key",
]

#: The roles a credential may carry (``nexus_agent.auth.Role``; spelled out here, below the auth layer).
ROLE_NAMES = ("owner", "agent", "satellite", "monitor")
RoleName = Literal["owner", "agent", "satellite", "monitor"]


class TokenGrant(BaseModel):
    """Who a configured static token speaks for: a caller name, a role and (satellites) an app."""

    model_config = ConfigDict(frozen=True)

    name: str
    role: RoleName = "owner"
    app: str | None = None


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    home: Path
    db_path: Path
    truth_path: Path
    truth: TruthSettings
    tokens: tuple[SecretStr, ...] = ()
    token_names: dict[str, str] = Field(
        default_factory=dict, description="sha256(token) -> the caller recorded as acting (never the token)."
    )
    token_grants: dict[str, TokenGrant] = Field(
        default_factory=dict, description="sha256(token) -> the name, role and app scope the token carries."
    )
    jwt_secret: SecretStr | None = Field(None, description="Signs and checks Nexus JWTs (HS256); unset: no JWTs.")
    jwt_issuer: str = Field("nexus", min_length=1, max_length=200)
    jwt_audience: str = Field("nexus-mcp", min_length=1, max_length=200)
    agents_may_approve: bool = Field(
        False, description="Agent-role callers may approve or reject the plans they started themselves."
    )
    github_webhook_secret: SecretStr | None = Field(
        None, description="Verifies X-Hub-Signature-256 on POST /api/webhooks/github; unset: that route answers 503."
    )
    db_sync: Literal["full", "normal"] = "full"
    busy_timeout_ms: int = Field(10_000, ge=0)
    actor: str = "owner"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    max_input_bytes: int = Field(256 * 1024, ge=1024, description="Largest accepted tool argument payload.")
    model: str = Field("claude-sonnet-4-6", description="Anthropic model the planner uses when a key is set.")
    anthropic_api_key: SecretStr | None = Field(None, description="Without it the planner runs offline.")
    anthropic_base_url: str | None = None
    auto_approve_tools: tuple[str, ...] = Field(
        (), description="Tools (names or '<app>__*' patterns) the planner may call without asking."
    )
    registration_auto_approve: bool = Field(
        False, description="Approve valid, non-duplicate satellite registrations without waiting for the owner."
    )
    expose_satellite_tools: bool = Field(
        True, description="List satellites' tools on Nexus's own MCP server as '<app>__<tool>'."
    )
    http_host: str = "127.0.0.1"
    http_port: int = Field(8765, ge=0, le=65535)
    backup_dir: Path | None = Field(
        None, description="Where `nexus serve` writes its daily backup; None: no daily backup (NEXUS_BACKUP_DIR=off)."
    )
    backup_keep: int = Field(7, ge=1, le=1000, description="Daily backups kept in backup_dir.")
    outbound_allow_loopback: bool = Field(True, description="Nexus may contact satellites on this machine.")
    outbound_allow_private: bool = Field(False, description="Nexus may contact private-network addresses.")
    ca_file: Path | None = Field(None, description="Extra CA bundle (PEM) trusted for satellites' certificates.")
    allow_remote_commands: bool = Field(
        False, description="The owner may set endpoints.mcp_command over HTTP (off: only on the local CLI/stdio)."
    )
    secret_env_allow: tuple[str, ...] = Field(
        (), description="Variables any app may name in token_env/webhook_secret_env, besides SATELLITE_<SLUG>_*."
    )
    body_timeout_s: float = Field(10.0, gt=0, description="Deadline for an HTTP request body to arrive in full.")
    tls_cert: Path | None = Field(None, description="Certificate chain (PEM) for HTTPS; with tls_key.")
    tls_key: Path | None = Field(None, description="Private key (PEM) for HTTPS; with tls_cert.")
    database_url: SecretStr | None = Field(
        None, description="postgresql:// URL: memory and the registry live there, shared by replicas; None: SQLite."
    )
    http_stateless: bool = Field(
        False, description="Streamable HTTP without sessions, so legacy-protocol clients work behind any balancer."
    )
    outbox_lease_s: float = Field(
        60.0,
        ge=4,
        le=3600,
        description="How long a dispatcher holds an event it sends; a killed replica's go "
        "out again after it (each send's deadline is a third of it, at most 10 s).",
    )
    gateway_fastpath: bool = Field(
        True, description="Relay a 2026-07-28 `<app>__<tool>` call to an HTTP satellite as JSON-RPC (same checks)."
    )
    satellite_list_timeout_s: float = Field(
        10.0, gt=0, le=600, description="Deadline for one satellite's tools/list (connecting included)."
    )
    satellite_call_timeout_s: float = Field(
        30.0, gt=0, le=3600, description="Default deadline of one satellite call (discovery and retries included)."
    )
    satellite_watch_tools: bool = Field(
        True, description="Hold a tools/list_changed stream open to each satellite that offers one."
    )
    fanout_concurrency: int = Field(
        64, ge=1, le=10_000, description="Satellites listed or called at once (connections opened concurrently)."
    )

    @classmethod
    def load(cls, env: Mapping[str, str], **overrides: object) -> Settings:
        """Build settings from an environment mapping plus explicit overrides (flags)."""
        home = Path(str(overrides.pop("home", None) or env.get("NEXUS_HOME") or "~/.nexus")).expanduser()
        db_path = Path(str(overrides.pop("db_path", None) or env.get("NEXUS_DB") or home / "nexus.db")).expanduser()
        truth_path = Path(str(overrides.pop("truth_path", None) or env.get("NEXUS_TRUTH_PATH") or home / "truth"))
        values: dict[str, object] = {
            "home": home,
            "db_path": db_path,
            "truth_path": truth_path,
            "truth": TruthSettings.load(env, truth_path=truth_path),
            **_token_values(env, overrides.pop("token_file", None) or env.get("NEXUS_TOKEN_FILE")),
        }
        if "NEXUS_DB_SYNC" in env:
            values["db_sync"] = env["NEXUS_DB_SYNC"].lower()
        if "NEXUS_ACTOR" in env:
            values["actor"] = env["NEXUS_ACTOR"]
        for var, key in (("NEXUS_BUSY_TIMEOUT_MS", "busy_timeout_ms"), ("NEXUS_MAX_INPUT_BYTES", "max_input_bytes")):
            if var in env:
                values[key] = env[var]
        if "NEXUS_REGISTRATION_AUTO_APPROVE" in env:
            values["registration_auto_approve"] = env["NEXUS_REGISTRATION_AUTO_APPROVE"].lower() in {"1", "true", "yes"}
        if "NEXUS_AGENTS_MAY_APPROVE" in env:
            values["agents_may_approve"] = env["NEXUS_AGENTS_MAY_APPROVE"].lower() in {"1", "true", "yes", "on"}
        values.update(_jwt_values(env))
        if "NEXUS_EXPOSE_SATELLITE_TOOLS" in env:
            values["expose_satellite_tools"] = env["NEXUS_EXPOSE_SATELLITE_TOOLS"].lower() in {"1", "true", "yes", "on"}
        secret_file = env.get("NEXUS_GITHUB_WEBHOOK_SECRET_FILE")
        if env.get("NEXUS_GITHUB_WEBHOOK_SECRET"):
            values["github_webhook_secret"] = SecretStr(env["NEXUS_GITHUB_WEBHOOK_SECRET"])
        elif secret_file:
            try:
                values["github_webhook_secret"] = SecretStr(Path(secret_file).expanduser().read_text().strip())
            except OSError as exc:
                raise ConfigError(
                    f"cannot read NEXUS_GITHUB_WEBHOOK_SECRET_FILE {secret_file}: {exc.strerror or exc}",
                    hint="Point it at a readable file holding the secret configured on the GitHub webhook.",
                ) from exc
        if env.get("ANTHROPIC_API_KEY"):
            values["anthropic_api_key"] = SecretStr(env["ANTHROPIC_API_KEY"])
        if env.get("ANTHROPIC_BASE_URL"):
            values["anthropic_base_url"] = env["ANTHROPIC_BASE_URL"]
        if env.get("NEXUS_MODEL"):
            values["model"] = env["NEXUS_MODEL"]
        if env.get("NEXUS_AUTO_APPROVE"):
            values["auto_approve_tools"] = tuple(t.strip() for t in env["NEXUS_AUTO_APPROVE"].split(",") if t.strip())
        if "NEXUS_LOG_LEVEL" in env:
            values["log_level"] = env["NEXUS_LOG_LEVEL"].upper()
        values.update(_trust_values(env))
        values.update(_scale_values(env))
        values.update(_backup_values(env, home))
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(values)
        except Exception as exc:  # pydantic.ValidationError
            raise ConfigError(f"invalid settings: {exc}", hint="Check the NEXUS_* variables and flags.") from exc

    @property
    def pool(self) -> PoolSettings:
        """The satellite pool's tuning, from the settings above (one configuration tree, like ``truth``)."""
        from nexus_agent.satellites.models import PoolSettings  # the pool's package loads only when it is used

        return PoolSettings(
            list_timeout=self.satellite_list_timeout_s,
            call_timeout=self.satellite_call_timeout_s,
            fanout_concurrency=self.fanout_concurrency,
            watch_tool_changes=self.satellite_watch_tools,
        )

    def token_values(self) -> list[str]:
        return [t.get_secret_value() for t in self.tokens]


_CALLER_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,40}$")
_TRUE = {"1", "true", "yes", "on"}


def _trust_values(env: Mapping[str, str]) -> dict[str, object]:
    """The outbound-policy, command, secret-variable, body-deadline and TLS settings (docs/security.md)."""
    values: dict[str, object] = {}
    for var, key in (
        ("NEXUS_OUTBOUND_ALLOW_LOOPBACK", "outbound_allow_loopback"),
        ("NEXUS_OUTBOUND_ALLOW_PRIVATE", "outbound_allow_private"),
        ("NEXUS_ALLOW_REMOTE_COMMANDS", "allow_remote_commands"),
    ):
        if var in env:
            values[key] = env[var].strip().lower() in _TRUE
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


def _scale_values(env: Mapping[str, str]) -> dict[str, object]:
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
        values["http_stateless"] = env["NEXUS_HTTP_STATELESS"].strip().lower() in _TRUE
    if "NEXUS_GATEWAY_FASTPATH" in env:
        values["gateway_fastpath"] = env["NEXUS_GATEWAY_FASTPATH"].strip().lower() in _TRUE
    if "NEXUS_SATELLITE_WATCH_TOOLS" in env:
        values["satellite_watch_tools"] = env["NEXUS_SATELLITE_WATCH_TOOLS"].strip().lower() in _TRUE
    if "NEXUS_OUTBOX_LEASE_S" in env:
        values["outbox_lease_s"] = env["NEXUS_OUTBOX_LEASE_S"]
    return values


def parse_token_entry(entry: str, index: int) -> tuple[str, TokenGrant]:
    """One ``NEXUS_TOKENS`` entry: ``name:role[:app]=token``, ``name=token`` or a bare token.

    ``name=token`` and bare tokens are owner tokens (as before roles existed); the bare ones are
    recorded as ``http-client-N``. Role names and app slugs are checked; the token is never echoed.
    """
    left, sep, rest = entry.partition("=")
    if sep and ":" in left and len(rest) >= 16:
        name, _, scope = left.partition(":")
        role, _, app = scope.partition(":")
        where = f"NEXUS_TOKENS entry {index} ({name!r})"
        if not _CALLER_NAME.match(name):
            raise ConfigError(
                f"{where}: {name!r} is not a valid caller name",
                hint="Use lower-case letters, digits, '-' or '_' (up to 41 characters), e.g. 'yard:agent=...'.",
            )
        if role not in ROLE_NAMES:
            raise ConfigError(
                f"{where}: unknown role {role!r}",
                hint=f"Use one of: {', '.join(ROLE_NAMES)} (the form is name:role[:app]=token).",
            )
        if role == "satellite" and not (app and is_slug(app)):
            raise ConfigError(
                f"{where}: a satellite token needs the slug of its app"
                + (f"; {app!r} is not a valid slug" if app else ""),
                hint="Write it as name:satellite:<app-slug>=token, e.g. yard:satellite:quote-engine=...",
            )
        if role != "satellite" and app:
            raise ConfigError(
                f"{where}: only satellite tokens are scoped to an app, not {role} tokens",
                hint=f"Write it as {name}:{role}=token.",
            )
        return rest, TokenGrant(name=name, role=role, app=app or None)  # type: ignore[arg-type]
    if sep and _CALLER_NAME.match(left) and len(rest) >= 16:
        return rest, TokenGrant(name=left)  # "agent-name=token": an owner token recorded as agent-name
    return entry, TokenGrant(name=f"http-client-{index}")


def _token_values(env: Mapping[str, str], token_file: object) -> dict[str, object]:
    """``tokens``, ``token_names`` and ``token_grants`` from NEXUS_TOKENS and the token file."""
    tokens = [t.strip() for t in env.get("NEXUS_TOKENS", "").split(",") if t.strip()]
    if token_file:
        path = Path(str(token_file)).expanduser()
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the token file {path}: {exc.strerror or exc}",
                hint="Point NEXUS_TOKEN_FILE at a readable file with one token per line.",
            ) from exc
        tokens += [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    labels: dict[str, str] = {}
    grants: dict[str, TokenGrant] = {}
    plain: list[str] = []
    for index, entry in enumerate(tokens, start=1):
        token, grant = parse_token_entry(entry, index)
        if len(token) < 16:
            raise ConfigError(
                "a configured bearer token is shorter than 16 characters",
                hint="Use long random tokens, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`.",
            )
        plain.append(token)
        labels[token_label_key(token)] = grant.name
        grants[token_label_key(token)] = grant
    return {"tokens": tuple(SecretStr(t) for t in plain), "token_names": labels, "token_grants": grants}


def _jwt_values(env: Mapping[str, str]) -> dict[str, object]:
    values: dict[str, object] = {}
    key_file = env.get("NEXUS_JWT_KEY_FILE")
    if env.get("NEXUS_JWT_SECRET"):
        values["jwt_secret"] = SecretStr(env["NEXUS_JWT_SECRET"])
    elif key_file:
        try:
            values["jwt_secret"] = SecretStr(Path(key_file).expanduser().read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise ConfigError(
                f"cannot read NEXUS_JWT_KEY_FILE {key_file}: {exc.strerror or exc}",
                hint="Point it at a readable file holding the JWT signing key (32 random bytes or more).",
            ) from exc
    secret = values.get("jwt_secret")
    if isinstance(secret, SecretStr) and len(secret.get_secret_value().encode()) < 32:
        raise ConfigError(
            "the JWT signing key is shorter than 32 bytes",
            hint="Use a long random key, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`.",
        )
    for var, key in (("NEXUS_JWT_ISSUER", "jwt_issuer"), ("NEXUS_JWT_AUDIENCE", "jwt_audience")):
        if env.get(var):
            values[key] = env[var]
    return values


def token_label_key(token: str) -> str:
    """What identifies a token in settings and logs without being the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def is_loopback_host(host: str) -> bool:
    if host in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def known_secrets(settings: Settings, env: Mapping[str, str] | None = None) -> KnownSecrets:
    """Every secret value this process is configured with, for the secret guard to find and redact anywhere.

    From ``settings``: bearer tokens, the JWT key, the GitHub token or App key, the GitHub webhook
    secret, the Anthropic key (every ``SecretStr`` it holds). From ``env``, the mapping satellite
    tokens and webhook secrets are resolved from: variables named like a secret
    (``SATELLITE_QUOTE_ENGINE_TOKEN``, ``..._WEBHOOK_SECRET``), those on ``NEXUS_SECRET_ENV_ALLOW``,
    and the files their ``*_FILE`` companions name. Built once at start-up by the edge and passed down.
    """
    env = env or {}
    allowed = set(settings.secret_env_allow)
    known = KnownSecrets.from_config(settings, env=env, names=allowed)
    from_files: list[str] = []
    for name, path in env.items():
        stem = name.removesuffix("_FILE")
        if stem == name or not path.strip() or not (stem in allowed or is_secret_variable(stem)):
            continue
        try:
            with Path(path.strip()).expanduser().open("rb") as file:
                from_files.append(file.read(_SECRET_FILE_MAX).decode("utf-8").strip())
        except (OSError, UnicodeDecodeError):
            continue  # the consumer of that file reports it; the guard just cannot know this value
    return known.merged(from_files) if from_files else known


_SECRET_FILE_MAX = 64 * 1024  # a key or token file; anything longer is not one


def _backup_values(env: Mapping[str, str], home: Path) -> dict[str, object]:
    """NEXUS_BACKUP_DIR (``off`` turns the daily backup off) and NEXUS_BACKUP_KEEP."""
    where = env.get("NEXUS_BACKUP_DIR", "").strip()
    values: dict[str, object] = {}
    if where.lower() not in {"off", "none", "false", "0"}:
        values["backup_dir"] = Path(where).expanduser() if where else home / "backups"
    if env.get("NEXUS_BACKUP_KEEP", "").strip():
        values["backup_keep"] = env["NEXUS_BACKUP_KEEP"].strip()
    return values
