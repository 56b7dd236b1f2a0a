"""Credentials in the settings: static bearer tokens (``NEXUS_TOKENS``, ``NEXUS_TOKEN_FILE``) with the caller,
role and app each speaks for, and the key of Nexus's own JWTs. Read by :meth:`nexus_agent.config.Settings.load`."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, SecretStr

from nexus_agent.wire.errors import ConfigError
from nexus_agent.wire.models import is_slug

__all__ = ["ROLE_NAMES", "RoleName", "TokenGrant", "jwt_values", "parse_token_entry", "token_label_key", "token_values"]

#: The roles a credential may carry (``nexus_agent.auth.Role``; spelled out here, below the auth layer).
ROLE_NAMES = ("owner", "agent", "satellite", "monitor")
RoleName = Literal["owner", "agent", "satellite", "monitor"]


class TokenGrant(BaseModel):
    """Who a configured static token speaks for: a caller name, a role and (satellites) an app."""

    model_config = ConfigDict(frozen=True)

    name: str
    role: RoleName = "owner"
    app: str | None = None


_CALLER_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,40}$")


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


def token_values(env: Mapping[str, str], token_file: object) -> dict[str, object]:
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


def jwt_values(env: Mapping[str, str]) -> dict[str, object]:
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
