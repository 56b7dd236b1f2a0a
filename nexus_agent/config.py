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
| ``NEXUS_HTTP_UVLOOP`` | ``serve --http`` on uvloop's event loop where it is installed (Linux, macOS) | ``true`` |
| ``NEXUS_SATELLITE_LIST_TIMEOUT_S`` | deadline of one satellite's tools/list (connecting included) | ``10`` |
| ``NEXUS_SATELLITE_CALL_TIMEOUT_S`` | default deadline of one satellite call           | ``30``             |
| ``NEXUS_FANOUT_CONCURRENCY`` | satellites listed or called at once              | ``64``             |
| ``NEXUS_SATELLITE_WATCH_TOOLS`` | a tool-change stream per satellite (off: lists refetched after 5 min) | ``true`` |
| ``NEXUS_FANOUT_RAW`` | a fan-out's calls to 2026-07-28 HTTP satellites as plain JSON-RPC (same checks) | ``true`` |
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from nexus_agent.config_env import backup_values, flag, invalid_settings, scale_values, trust_values
from nexus_agent.config_tokens import (
    ROLE_NAMES,
    TokenGrant,
    jwt_values,
    parse_token_entry,
    token_label_key,
    token_values,
)
from nexus_agent.truth.settings import TruthSettings
from nexus_agent.wire.errors import ConfigError
from nexus_agent.wire.known_secrets import KnownSecrets, is_secret_variable

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
    http_uvloop: bool = Field(
        True,
        description="Run `serve --http` on uvloop's event loop where uvloop is installed (not on Windows): "
        "the same asyncio API with its sockets, timers and callbacks in C.",
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
    fanout_raw: bool = Field(
        True,
        description="Reach 2026-07-28 HTTP satellites as plain JSON-RPC: discovery, tool lists, tool-change streams "
        "and a fan-out's calls (same checks).",
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
            **token_values(env, overrides.pop("token_file", None) or env.get("NEXUS_TOKEN_FILE")),
        }
        if "NEXUS_DB_SYNC" in env:
            values["db_sync"] = env["NEXUS_DB_SYNC"].lower()
        if "NEXUS_ACTOR" in env:
            values["actor"] = env["NEXUS_ACTOR"]
        for var, key in (("NEXUS_BUSY_TIMEOUT_MS", "busy_timeout_ms"), ("NEXUS_MAX_INPUT_BYTES", "max_input_bytes")):
            if var in env:
                values[key] = env[var]
        if "NEXUS_REGISTRATION_AUTO_APPROVE" in env:
            values["registration_auto_approve"] = flag(env, "NEXUS_REGISTRATION_AUTO_APPROVE")
        if "NEXUS_AGENTS_MAY_APPROVE" in env:
            values["agents_may_approve"] = flag(env, "NEXUS_AGENTS_MAY_APPROVE")
        values.update(jwt_values(env))
        if "NEXUS_EXPOSE_SATELLITE_TOOLS" in env:
            values["expose_satellite_tools"] = flag(env, "NEXUS_EXPOSE_SATELLITE_TOOLS")
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
        values.update(trust_values(env))
        values.update(scale_values(env))
        values.update(backup_values(env, home))
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise invalid_settings(exc) from exc

    @property
    def pool(self) -> PoolSettings:
        """The satellite pool's tuning, from the settings above (one configuration tree, like ``truth``)."""
        from nexus_agent.satellites.models import PoolSettings  # the pool's package loads only when it is used

        return PoolSettings(
            list_timeout=self.satellite_list_timeout_s,
            call_timeout=self.satellite_call_timeout_s,
            fanout_concurrency=self.fanout_concurrency,
            watch_tool_changes=self.satellite_watch_tools,
            raw_fanout=self.fanout_raw,
        )

    def token_values(self) -> list[str]:
        return [t.get_secret_value() for t in self.tokens]


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
