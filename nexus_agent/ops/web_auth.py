"""Who is looking at the status page: the bearer token, or a login cookie.

A browser cannot send a bearer header by itself, so ``GET /login`` shows a form where
the owner pastes a token once; ``POST /login`` checks it like the bearer gate does and
sets a session cookie (``Secure; HttpOnly; SameSite=Strict``, 12 hours). The cookie
holds the caller's name, role and expiry, signed with HMAC-SHA256 under a key made
fresh by each Nexus process (a restart logs everyone out), never the token.

Credentials are checked by ``resolve(token) -> Principal | None``; the default knows the
``NEXUS_TOKENS`` tokens (their role from ``Settings.token_grants`` when present, else
owner). The HTTP app may pass the bearer gate's resolver instead (API keys, JWTs).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections.abc import Awaitable, Callable, Collection

from starlette.requests import Request

from nexus_agent.auth import Principal, Role
from nexus_agent.config import Settings, token_label_key

__all__ = ["COOKIE", "PRINCIPAL_SCOPE_KEY", "Resolver", "WebAuth", "static_token_resolver"]

COOKIE = "nexus_session"
SESSION_S = 12 * 3600
#: Where the HTTP app's bearer gate puts the authenticated Principal (nexus_agent.access).
PRINCIPAL_SCOPE_KEY = "nexus.principal"

Resolver = Callable[[str], Awaitable[Principal | None]]


def static_token_resolver(settings: Settings) -> Resolver:
    """Resolve a ``NEXUS_TOKENS`` token to its Principal (constant-time compare against each one)."""
    known = [t.encode() for t in settings.token_values()]
    grants = getattr(settings, "token_grants", {}) or {}

    async def resolve(token: str) -> Principal | None:
        matched = False
        for candidate in known:
            matched |= hmac.compare_digest(candidate, token.encode())
        if not matched:
            return None
        key = token_label_key(token)
        grant = grants.get(key)
        name = getattr(grant, "name", None) or settings.token_names.get(key, "http-client")
        role = Role(getattr(grant, "role", "owner"))
        return Principal(name=name, role=role, app=getattr(grant, "app", None), via="http")

    return resolve


class WebAuth:
    def __init__(self, settings: Settings, resolve: Resolver | None = None, *, clock: Callable[[], float] = time.time):
        self.open = not settings.token_values() and getattr(settings, "jwt_secret", None) is None
        self._resolve = resolve or static_token_resolver(settings)
        self._key = os.urandom(32)
        self._clock = clock

    # -- the session cookie ----------------------------------------------------------------------
    def _sign(self, body: str) -> str:
        mac = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def session_cookie(self, principal: Principal) -> str:
        expiry = int(self._clock() + SESSION_S)
        body = ".".join(
            base64.urlsafe_b64encode(part.encode()).decode().rstrip("=")
            for part in (principal.name, principal.role.value, str(expiry))
        )
        return f"{body}.{self._sign(body)}"

    def _from_cookie(self, value: str) -> Principal | None:
        body, _, mac = value.rpartition(".")
        if not body or not hmac.compare_digest(self._sign(body), mac):
            return None
        try:
            name, role, expiry = (base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)).decode() for p in body.split("."))
            if int(expiry) < self._clock():
                return None
            return Principal(name=name, role=Role(role), via="http", credential="session")
        except ValueError:
            return None

    # -- who is asking -------------------------------------------------------------------------------
    async def principal(self, request: Request) -> Principal | None:
        """The caller: the gate's Principal, a bearer token, or the session cookie; None when none is valid."""
        from_gate = request.scope.get(PRINCIPAL_SCOPE_KEY)
        if isinstance(from_gate, Principal):
            return from_gate
        if self.open:  # loopback with no credentials configured: the same as every other route
            return Principal(name="local-http", role=Role.OWNER, via="http", credential="none")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return await self.check_token(token.strip())
        cookie = request.cookies.get(COOKIE)
        return self._from_cookie(cookie) if cookie else None

    async def check_token(self, token: str) -> Principal | None:
        if not token or len(token) > 4096:
            return None
        try:
            return await self._resolve(token)
        except Exception:  # a resolver's refusal (expired, revoked, unknown) is simply "not logged in"
            return None

    @staticmethod
    def allowed(principal: Principal | None, roles: Collection[Role]) -> bool:
        return principal is not None and principal.role in roles
