"""Short-lived JWTs (HS256, PyJWT): issued by Nexus, checked for issuer, audience, expiry and signature.

Claims: ``iss``, ``aud``, ``sub`` (the caller's name), ``role``, ``app`` (satellites), ``iat``,
``exp``, ``jti`` and, for a JWT exchanged for an API key, ``key`` (that key's id: revoking the key
revokes its JWTs). The signing key comes from ``NEXUS_JWT_SECRET`` or ``NEXUS_JWT_KEY_FILE``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from pydantic import SecretStr

from nexus_agent.auth.principal import Principal, Role
from nexus_agent.wire.errors import ConfigError, InvalidInput, Unauthorized
from nexus_agent.wire.models import utcnow

__all__ = ["DEFAULT_TTL", "MAX_TTL", "JwtIssuer", "format_duration", "looks_like_jwt", "parse_duration"]

DEFAULT_TTL = timedelta(minutes=15)
MAX_TTL = timedelta(hours=24)
_ALGORITHM = "HS256"
_REQUIRED = ["iss", "aud", "sub", "exp", "iat", "role"]


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``12h``, ``30d`` (a bare number is seconds)."""
    value = text.strip().lower()
    unit = value[-1:] if value[-1:] in _UNITS else "s"
    number = value[:-1] if value[-1:] in _UNITS else value
    if not number.isdigit() or int(number) == 0:
        raise InvalidInput(f"{text!r} is not a duration", hint="Write e.g. 90s, 15m, 12h or 30d.")
    return timedelta(seconds=int(number) * _UNITS[unit])


def format_duration(value: timedelta) -> str:
    """The shortest way :func:`parse_duration` would read it back: ``30d``, ``15m``, ``90s``."""
    seconds = int(value.total_seconds())
    if seconds <= 0:
        return f"{seconds}s"
    for unit, size in sorted(_UNITS.items(), key=lambda kv: -kv[1]):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("eyJ")


class JwtIssuer:
    def __init__(
        self, secret: SecretStr | None, *, issuer: str, audience: str, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._secret = secret
        self.issuer = issuer
        self.audience = audience
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return self._secret is not None

    def _key(self) -> str:
        if self._secret is None:
            raise ConfigError(
                "no JWT signing key is configured",
                hint="Set NEXUS_JWT_SECRET (32+ random bytes) or NEXUS_JWT_KEY_FILE, the same for CLI and server.",
            )
        return self._secret.get_secret_value()

    def issue(self, principal: Principal, ttl: timedelta = DEFAULT_TTL, *, key_id: str | None = None) -> str:
        if not timedelta(seconds=1) <= ttl <= MAX_TTL:
            raise InvalidInput(
                f"ttl must be between 1s and {format_duration(MAX_TTL)}, got {format_duration(ttl)}",
                hint="Pass e.g. --ttl 15m.",
            )
        now = self._clock()
        claims: dict[str, object] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": principal.name,
            "role": principal.role.value,
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            "jti": secrets.token_hex(8),
        }
        if principal.app:
            claims["app"] = principal.app
        if key_id:
            claims["key"] = key_id
        import jwt  # PyJWT (and cryptography) load on first use: not on every `nexus serve` start

        return jwt.encode(claims, self._key(), algorithm=_ALGORITHM)

    def verify(self, token: str) -> tuple[Principal, str | None]:
        """The principal a JWT speaks for and the API key it came from; Unauthorized saying why not."""
        import jwt

        try:
            claims = jwt.decode(
                token,
                self._key(),
                algorithms=[_ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": _REQUIRED},
                leeway=0,
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized(
                "token expired", hint="Get a new one (POST /api/auth/token or `nexus keys jwt`)."
            ) from None
        except jwt.InvalidAudienceError:
            raise Unauthorized(
                "token has the wrong audience", hint=f"This Nexus accepts JWTs for the audience {self.audience!r}."
            ) from None
        except jwt.InvalidIssuerError:
            raise Unauthorized("token has the wrong issuer", hint=f"This Nexus issues as {self.issuer!r}.") from None
        except jwt.InvalidSignatureError:
            raise Unauthorized("token signature is invalid (tampered or signed with another key)") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthorized(f"token is missing the {exc.claim!r} claim") from None
        except jwt.InvalidTokenError:
            raise Unauthorized("token is malformed", hint="Send the JWT exactly as Nexus issued it.") from None
        try:
            principal = Principal(
                name=str(claims["sub"]),
                role=Role(claims["role"]),
                app=claims.get("app"),
                via="http",
                credential="jwt",
            )
        except ValueError:
            raise Unauthorized("token carries an unknown role") from None
        if principal.role is Role.SATELLITE and not principal.app:
            raise Unauthorized("satellite token without an app")
        key = claims.get("key")
        return principal, str(key) if key else None
