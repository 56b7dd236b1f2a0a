"""``POST /api/auth/token``: exchange an API key (the bearer) for a short-lived JWT.

Body (optional JSON): ``{"ttl": "15m"}``. Answer: ``{"access_token", "token_type": "Bearer",
"expires_in", "role", "app"}``. The JWT carries the key's id, so revoking the key revokes it too.
Only API keys may be exchanged: a JWT cannot renew itself and static tokens need no exchange.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from nexus_agent.access import PRINCIPAL_SCOPE_KEY
from nexus_agent.auth import Principal
from nexus_agent.auth.credentials import CredentialResolver
from nexus_agent.auth.jwt_tokens import DEFAULT_TTL, parse_duration
from nexus_agent.wire.errors import Forbidden, InvalidInput, NexusError, Unauthorized

__all__ = ["TOKEN_EXCHANGE_PATH", "token_exchange_route"]

TOKEN_EXCHANGE_PATH = "/api/auth/token"
_MAX_BODY = 4096


def _error(exc: NexusError) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="nexus"'} if isinstance(exc, Unauthorized) else None
    return JSONResponse({"error": exc.to_dict()}, status_code=exc.http_status, headers=headers)


async def _ttl(request: Request) -> str | None:
    body = await request.body()
    if len(body) > _MAX_BODY:
        raise InvalidInput("the request body is too large", hint='Send at most {"ttl": "15m"}.')
    if not body.strip():
        return None
    try:
        data = json.loads(body)
    except ValueError:
        raise InvalidInput("the body is not JSON", hint='Send {"ttl": "15m"} or no body.') from None
    if not isinstance(data, dict) or set(data) - {"ttl"}:
        raise InvalidInput("the body may only hold 'ttl'", hint='Send {"ttl": "15m"} or no body.')
    ttl = data.get("ttl")
    if ttl is not None and not isinstance(ttl, str | int):
        raise InvalidInput("ttl must be a duration such as '15m'")
    return None if ttl is None else str(ttl)


def token_exchange_route(resolver: CredentialResolver) -> Route:
    async def exchange(request: Request) -> JSONResponse:
        principal = request.scope.get(PRINCIPAL_SCOPE_KEY)
        try:
            if not isinstance(principal, Principal) or principal.credential != "api_key":
                raise Forbidden(
                    "only an API key can be exchanged for a JWT",
                    hint="Send 'Authorization: Bearer <API key>' (from `nexus keys create`).",
                )
            text = await _ttl(request)
            ttl = parse_duration(text) if text else DEFAULT_TTL
            header = request.headers.get("authorization", "")
            key = await resolver.verify_api_key(header.partition(" ")[2].strip())
            token = resolver.jwt.issue(principal, ttl, key_id=key.id)
        except NexusError as exc:
            return _error(exc)
        return JSONResponse(
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": int(ttl.total_seconds()),
                "role": principal.role.value,
                "app": principal.app,
            },
            headers={"Cache-Control": "no-store"},
        )

    return Route(TOKEN_EXCHANGE_PATH, exchange, methods=["POST"])
