"""API keys that Nexus issues: shown once, stored only as a hash, revocable, optionally expiring.

A key reads ``nxk_<id>_<secret>``: the id finds the row, the secret (32 random bytes) is never
stored; the row keeps ``sha256(key)``, compared in constant time. Keys live in the table
``api_keys`` (migration set ``nexus-auth``, applied with the others at startup).
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlite_utils
from pydantic import BaseModel, Field
from sqlite_utils.migrations import Migrations

from memory.database import Database
from nexus_agent.auth.principal import Principal, Role
from nexus_agent.wire.errors import InvalidInput, NotFound, Unauthorized
from nexus_agent.wire.models import is_slug, utcnow

if TYPE_CHECKING:
    from memory.pg.database import PgDatabase

__all__ = ["AUTH_MIGRATIONS", "KEY_PREFIX", "ApiKey", "ApiKeyStore", "IssuedKey", "looks_like_api_key"]

AUTH_MIGRATIONS = Migrations("nexus-auth")
KEY_PREFIX = "nxk_"
_KEY = re.compile(r"^nxk_([0-9a-f]{12})_([A-Za-z0-9_-]{40,})$")
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,40}$")


@AUTH_MIGRATIONS(name="0001_api_keys")
def _create_api_keys(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE TABLE api_keys (id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, app TEXT, "
        "key_hash TEXT NOT NULL, created_by TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT, "
        "revoked_at TEXT, revoked_by TEXT)"
    )


class ApiKey(BaseModel):
    """What Nexus keeps about a key (never the key itself)."""

    id: str
    name: str
    role: Role
    app: str | None = None
    created_by: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def principal(self) -> Principal:
        return Principal(name=self.name, role=self.role, app=self.app, via="http", credential="api_key")


class IssuedKey(BaseModel):
    key: ApiKey
    secret: str = Field(description="The API key itself: shown once, never stored.")


def looks_like_api_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _ts(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def check_scope(role: Role | str, app: str | None) -> tuple[Role, str | None]:
    """A role name and (satellites only) an app slug, checked with errors that say how to fix them."""
    try:
        role = Role(role)
    except ValueError:
        raise InvalidInput(f"unknown role {role!r}", hint=f"Use one of: {', '.join(r.value for r in Role)}.") from None
    if role is Role.SATELLITE and not (app and is_slug(app)):
        raise InvalidInput(
            "a satellite credential needs the slug of its one app" + (f" ({app!r} is not a slug)" if app else ""),
            hint="Pass --app <slug>, e.g. --app quote-engine.",
        )
    if role is not Role.SATELLITE and app:
        raise InvalidInput(
            f"only satellite credentials are scoped to an app, not {role.value} ones", hint="Drop --app."
        )
    return role, app or None


class ApiKeyStore:
    """API keys in the Nexus database. Apply :data:`AUTH_MIGRATIONS` first (on PostgreSQL, shared by every
    replica: ``nexus_agent.auth._keys_pg.AUTH_PG_MIGRATIONS``)."""

    def __init__(self, database: Database | PgDatabase, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.database = database
        self._clock = clock

    def create(
        self, role: Role | str, *, app: str | None = None, name: str | None = None,
        expires_in: timedelta | None = None, created_by: str = "owner",
    ) -> IssuedKey:  # fmt: skip
        role, app = check_scope(role, app)
        name = name or (app if role is Role.SATELLITE and app else role.value)
        if not _NAME.match(name):
            raise InvalidInput(
                f"{name!r} is not a valid key name", hint="Use lower-case letters, digits, '-' or '_' (up to 41)."
            )
        if expires_in is not None and expires_in <= timedelta(0):
            raise InvalidInput("the expiry must be in the future", hint="Pass e.g. --expires 30d.")
        key_id = secrets.token_hex(6)
        secret = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        now = self._clock()
        record = ApiKey(
            id=key_id, name=name, role=role, app=app, created_by=created_by, created_at=now,
            expires_at=now + expires_in if expires_in is not None else None,
        )  # fmt: skip
        with self.database.write() as db:
            db.table("api_keys").insert(
                {
                    **record.model_dump(mode="json", exclude={"created_at", "expires_at"}),
                    "created_at": _ts(record.created_at),
                    "expires_at": _ts(record.expires_at),
                    "key_hash": _hash(secret),
                }
            )
        return IssuedKey(key=record, secret=secret)

    def list(self) -> builtins.list[ApiKey]:
        with self.database.read() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at, id").fetchall()
        return [_row(r) for r in rows]

    def get(self, key_id: str) -> ApiKey:
        with self.database.read() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE id = ?", [key_id]).fetchone()
        if row is None:
            raise NotFound(f"there is no API key with id {key_id!r}", hint="`nexus keys list` shows the ids.")
        return _row(row)

    def revoke(self, key_id: str, *, by: str = "owner") -> ApiKey:
        key = self.get(key_id)
        if key.revoked_at is None:
            with self.database.write() as db:
                db.execute(
                    "UPDATE api_keys SET revoked_at = ?, revoked_by = ? WHERE id = ?",
                    [_ts(self._clock()), by, key_id],
                )
        return self.get(key_id)

    def count_active(self) -> int:
        with self.database.read() as db:
            row = db.execute(
                "SELECT count(*) FROM api_keys WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)",
                [_ts(self._clock())],
            ).fetchone()
        return int(row[0])

    def verify(self, token: str) -> ApiKey:
        """The key ``token`` is, if it is valid now; else Unauthorized saying why (unknown, revoked, expired)."""
        match = _KEY.match(token)
        with self.database.read() as db:
            row = None
            if match:
                row = db.execute(f"SELECT {_COLUMNS}, key_hash FROM api_keys WHERE id = ?", [match.group(1)]).fetchone()
        expected = row[-1] if row else _hash("no such key")
        if not hmac.compare_digest(expected, _hash(token)) or row is None:
            raise Unauthorized("unknown API key", hint="Check the key, or create one with `nexus keys create`.")
        key = _row(row[:-1])
        self.ensure_usable(key)
        return key

    def ensure_usable(self, key: ApiKey) -> None:
        state = key.state(self._clock())
        if state == "revoked":
            raise Unauthorized("API key revoked", hint="Ask the owner for a new key (`nexus keys create`).")
        if state == "expired":
            raise Unauthorized("API key expired", hint="Ask the owner for a new key (`nexus keys create`).")


_COLUMNS = "id, name, role, app, created_by, created_at, expires_at, revoked_at, revoked_by"


def _row(row: tuple[object, ...]) -> ApiKey:
    return ApiKey.model_validate(dict(zip(_COLUMNS.split(", "), row, strict=True)))
