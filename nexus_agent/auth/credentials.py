"""From a bearer credential to a :class:`Principal`: static tokens, issued API keys, Nexus JWTs.

Static tokens (``NEXUS_TOKENS``) are compared in constant time against every configured token.
Each failure is an :class:`Unauthorized` whose message says which way it failed (unknown,
expired, revoked, wrong audience, tampered), never echoing the credential.
"""

from __future__ import annotations

import hmac
import time
from typing import TYPE_CHECKING

from memory.database import Database
from nexus_agent.auth.jwt_tokens import JwtIssuer, looks_like_jwt
from nexus_agent.auth.keys import ApiKey, ApiKeyStore, looks_like_api_key
from nexus_agent.auth.principal import Principal, Role
from nexus_agent.config import Settings, token_label_key
from nexus_agent.wire.errors import NotFound, Unauthorized

if TYPE_CHECKING:
    from memory.pg.database import PgDatabase

__all__ = ["OPEN_RECHECK_S", "CredentialResolver", "jwt_issuer"]

#: How long :meth:`CredentialResolver.open_locally` reuses its count of active API keys (seconds).
OPEN_RECHECK_S = 1.0
_now = time.monotonic


def jwt_issuer(settings: Settings) -> JwtIssuer:
    return JwtIssuer(settings.jwt_secret, issuer=settings.jwt_issuer, audience=settings.jwt_audience)


class CredentialResolver:
    """Resolves bearer credentials: tokens and JWTs from ``settings``, API keys from ``keys_database``.

    ``keys_database``: the one holding ``api_keys`` (the runtime's ``keys_database``: PostgreSQL,
    shared by the replicas, when configured); without it no API key is accepted.
    """

    def __init__(self, settings: Settings, keys_database: Database | PgDatabase | None = None) -> None:
        self._settings = settings
        self._tokens = [(t.encode(), token_label_key(t)) for t in settings.token_values()]
        self._token_principals: dict[str, Principal] = {}  # label -> its Principal (frozen: made once)
        self.jwt = jwt_issuer(settings)
        self.keys = ApiKeyStore(keys_database) if keys_database is not None else None
        self._open, self._open_checked_until = False, float("-inf")  # open_locally's last count of active keys

    async def open_locally(self) -> bool:
        """No credential of any kind is configured: a loopback server admits callers as the owner.

        Whether any API key is active is counted at most once per :data:`OPEN_RECHECK_S` (keys are
        made by ``nexus keys create`` in another process; every request asking was a database round
        trip in a worker thread). A key issued mid-second closes the door within that second.
        """
        if self._tokens or self.jwt.enabled:
            return False
        if self.keys is None:
            return True
        if _now() >= self._open_checked_until:
            self._open = await self.keys.database.run(self.keys.count_active) == 0
            self._open_checked_until = _now() + OPEN_RECHECK_S
        return self._open

    async def resolve(self, token: str) -> Principal:
        token = token.strip()
        static = self._static(token)
        if static is not None:
            return static
        if looks_like_api_key(token):
            return (await self._keys_run(token)).principal()
        if looks_like_jwt(token) and self.jwt.enabled:
            principal, key_id = self.jwt.verify(token)
            if key_id is not None:
                await self._key_still_valid(key_id)
            return principal
        raise Unauthorized(
            "unknown token", hint="Send a token from NEXUS_TOKENS, an API key from `nexus keys create`, or a Nexus JWT."
        )

    async def verify_api_key(self, token: str) -> ApiKey:
        return await self._keys_run(token)

    def _static(self, token: str) -> Principal | None:
        candidate = token.encode()
        found: str | None = None
        for known, label in self._tokens:  # compare with every token: timing does not tell which matched
            if hmac.compare_digest(known, candidate):
                found = label
        if found is None:
            return None
        principal = self._token_principals.get(found)
        if principal is None:
            principal = self._token_principals[found] = self._token_principal(found)
        return principal

    def _token_principal(self, found: str) -> Principal:
        grant = self._settings.token_grants.get(found)
        if grant is None:  # a token given directly in Settings(tokens=...) without a grant: an owner token
            name = self._settings.token_names.get(found, "http-client")
            return Principal(name=name, role=Role.OWNER, via="http", credential="token")
        return Principal(name=grant.name, role=Role(grant.role), app=grant.app, via="http", credential="token")

    async def _keys_run(self, token: str) -> ApiKey:
        if self.keys is None:
            raise Unauthorized("API keys are not available yet", hint="Nexus is starting; retry in a moment.")
        return await self.keys.database.run(self.keys.verify, token)

    async def _key_still_valid(self, key_id: str) -> None:
        if self.keys is None:
            return
        try:
            key = await self.keys.database.run(self.keys.get, key_id)
        except NotFound:
            raise Unauthorized("token revoked (its API key no longer exists)") from None
        if key.revoked_at is not None:
            raise Unauthorized("token revoked", hint="Its API key was revoked; ask the owner for a new key.")
