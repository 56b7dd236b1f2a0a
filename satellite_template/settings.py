"""Settings of one running satellite: one object, built from the environment by the CLI.

Secrets come from the environment or a secret file, never from code; they are
held as ``SecretStr`` so they never show in a repr, a log line or an error.

| variable                        | meaning                                                    | default              |
|---------------------------------|------------------------------------------------------------|----------------------|
| ``SATELLITE_HOST``              | interface to listen on                                     | ``127.0.0.1``        |
| ``SATELLITE_PORT``              | port to listen on                                          | ``8800``             |
| ``SATELLITE_PUBLIC_URL``        | base URL Nexus reaches this satellite at                   | ``http://HOST:PORT`` |
| ``SATELLITE_TOKENS``            | comma-separated bearer tokens accepted on ``/mcp``         | none                 |
| ``SATELLITE_TOKEN_FILE``        | file with one accepted bearer token per line               | none                 |
| ``SATELLITE_WEBHOOK_SECRET``    | shared secret of signed webhooks from Nexus                | none (webhooks off)  |
| ``SATELLITE_WEBHOOK_SECRET_FILE`` | file holding that secret (first non-comment line)      | none                 |
| ``SATELLITE_WEBHOOK_WINDOW_S``  | accepted clock difference of a delivery, seconds           | ``300``              |
| ``SATELLITE_MAX_WEBHOOK_BYTES`` | largest accepted webhook body                              | ``1048576``          |
| ``SATELLITE_REPLAY_DB``         | SQLite file remembering delivery ids across restarts       | none (in memory)     |
| ``SATELLITE_ALLOWED_HOSTS``     | comma-separated ``Host`` values accepted on ``/mcp``       | loopback, if bound so |
| ``SATELLITE_LOG_LEVEL``         | ``DEBUG`` .. ``ERROR``                                     | ``INFO``             |
| ``NEXUS_URL``                   | Nexus's MCP endpoint, e.g. ``http://127.0.0.1:8765/mcp``   | none                 |
| ``NEXUS_TOKEN``                 | bearer token this satellite presents to Nexus              | none                 |
| ``SATELLITE_NEXUS_TOKEN_FILE``  | file holding that token                                    | none                 |

Without tokens the MCP endpoint is open, which is only allowed on a loopback
interface (``create_app`` refuses anything else).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr, ValidationError

from nexus_agent.wire.errors import ConfigError, describe_validation_error

__all__ = ["MIN_SECRET_LENGTH", "SatelliteSettings", "is_loopback_host"]

MIN_SECRET_LENGTH = 16
_SECRET_HINT = "Use a long random value, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`."


class SatelliteSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8800, ge=0, le=65535)
    public_url: HttpUrl | None = None
    tokens: tuple[SecretStr, ...] = ()
    webhook_secret: SecretStr | None = None
    webhook_window_s: int = Field(300, ge=1, le=86_400)
    max_webhook_bytes: int = Field(1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    replay_db: Path | None = None
    allowed_hosts: tuple[str, ...] = ()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    nexus_url: HttpUrl | None = None
    nexus_token: SecretStr | None = None
    #: A request body must arrive in full within this many seconds (a client that trickles it gets 408).
    body_timeout_s: float = Field(10.0, gt=0)
    #: HTTPS (TLS 1.3 only) with this certificate chain and key (PEM).
    tls_cert: Path | None = None
    tls_key: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: object) -> SatelliteSettings:
        """Build settings from an environment mapping plus explicit overrides (command-line flags)."""
        tokens = [t.strip() for t in env.get("SATELLITE_TOKENS", "").split(",") if t.strip()]
        if env.get("SATELLITE_TOKEN_FILE"):
            tokens += _read_lines(env["SATELLITE_TOKEN_FILE"], "SATELLITE_TOKEN_FILE")
        for token in tokens:
            _check_secret(token, "a bearer token in SATELLITE_TOKENS / SATELLITE_TOKEN_FILE")
        webhook_secret = _secret_from(env, "SATELLITE_WEBHOOK_SECRET", "SATELLITE_WEBHOOK_SECRET_FILE")
        nexus_token = _secret_from(env, "NEXUS_TOKEN", "SATELLITE_NEXUS_TOKEN_FILE")

        values: dict[str, object] = {"tokens": tuple(SecretStr(t) for t in tokens)}
        if webhook_secret is not None:
            values["webhook_secret"] = SecretStr(webhook_secret)
        if nexus_token is not None:
            values["nexus_token"] = SecretStr(nexus_token)
        plain = {
            "SATELLITE_HOST": "host",
            "SATELLITE_PORT": "port",
            "SATELLITE_PUBLIC_URL": "public_url",
            "SATELLITE_WEBHOOK_WINDOW_S": "webhook_window_s",
            "SATELLITE_MAX_WEBHOOK_BYTES": "max_webhook_bytes",
            "SATELLITE_REPLAY_DB": "replay_db",
            "NEXUS_URL": "nexus_url",
            "SATELLITE_BODY_TIMEOUT_S": "body_timeout_s",
            "SATELLITE_TLS_CERT": "tls_cert",
            "SATELLITE_TLS_KEY": "tls_key",
        }
        for var, field in plain.items():
            if env.get(var, "").strip():
                values[field] = env[var].strip()
        if env.get("SATELLITE_ALLOWED_HOSTS", "").strip():
            values["allowed_hosts"] = tuple(h.strip() for h in env["SATELLITE_ALLOWED_HOSTS"].split(",") if h.strip())
        if env.get("SATELLITE_LOG_LEVEL", "").strip():
            values["log_level"] = env["SATELLITE_LOG_LEVEL"].strip().upper()
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            # Secrets were checked above and are SecretStr here, so no secret can appear in this text.
            problems = "; ".join(f"{p['field']}: {p['problem']}" for p in describe_validation_error(exc))
            raise ConfigError(
                f"invalid satellite settings: {problems}",
                hint="Check the SATELLITE_* and NEXUS_* variables and the command-line flags.",
            ) from None

    def token_values(self) -> list[str]:
        return [t.get_secret_value() for t in self.tokens]

    def base_url(self) -> str:
        """The URL Nexus reaches this satellite at (no trailing slash)."""
        if self.public_url is not None:
            return str(self.public_url).rstrip("/")
        host = self.host
        if host in {"0.0.0.0", "::", ""}:
            raise ConfigError(
                f"the satellite listens on every interface ({host or 'all'}), so its public URL is unknown",
                hint="Set SATELLITE_PUBLIC_URL to the URL Nexus should use, e.g. http://quotes.internal:8800.",
            )
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{'https' if self.tls_cert else 'http'}://{host}:{self.port}"


def is_loopback_host(host: str) -> bool:
    if host in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_secret(value: str, what: str) -> None:
    if len(value) < MIN_SECRET_LENGTH:
        raise ConfigError(f"{what} is shorter than {MIN_SECRET_LENGTH} characters", hint=_SECRET_HINT)


def _read_lines(path_text: str, var: str) -> list[str]:
    path = Path(path_text).expanduser()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigError(
            f"cannot read the file named by {var} ({path}): {reason}",
            hint=f"Point {var} at a readable UTF-8 text file.",
        ) from None
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def _secret_from(env: Mapping[str, str], var: str, file_var: str) -> str | None:
    """One secret from ``var`` or from the file named by ``file_var`` (not both)."""
    direct = env.get(var, "").strip()
    file_name = env.get(file_var, "").strip()
    if direct and file_name:
        raise ConfigError(f"both {var} and {file_var} are set", hint=f"Set only one of {var} and {file_var}.")
    if file_name:
        lines = _read_lines(file_name, file_var)
        if not lines:
            raise ConfigError(f"the file named by {file_var} holds no secret", hint=_SECRET_HINT)
        direct = lines[0]
    if not direct:
        return None
    _check_secret(direct, var if not file_name else f"the secret in {file_var}")
    return direct
