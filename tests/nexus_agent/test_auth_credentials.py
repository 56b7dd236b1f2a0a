"""Credentials: NEXUS_TOKENS with roles, issued API keys, Nexus JWTs, and their resolution to a Principal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from pydantic import SecretStr

from memory.database import Database
from nexus_agent.auth import Principal, Role
from nexus_agent.auth.credentials import CredentialResolver
from nexus_agent.auth.jwt_tokens import JwtIssuer, format_duration, parse_duration
from nexus_agent.auth.keys import ApiKeyStore
from nexus_agent.config import Settings, parse_token_entry
from nexus_agent.wire.errors import ConfigError, InvalidInput, Unauthorized

pytestmark = pytest.mark.anyio

SECRET = "a-signing-key-of-at-least-32-bytes-long"
OWNER_TOKEN = "owner-token-0123456789abcdef"
YARD_TOKEN = "yard-token-0123456789abcdef"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_token_entries_carry_a_role_and_app_and_old_forms_stay_owner_tokens() -> None:
    token, grant = parse_token_entry("yard:satellite:yard-app=" + YARD_TOKEN, 1)
    assert (token, grant.name, grant.role, grant.app) == (YARD_TOKEN, "yard", "satellite", "yard-app")
    assert parse_token_entry("bot:agent=" + OWNER_TOKEN, 2)[1].role == "agent"
    assert parse_token_entry("boss=" + OWNER_TOKEN, 3)[1].model_dump() == {"name": "boss", "role": "owner", "app": None}
    bare, grant = parse_token_entry(OWNER_TOKEN, 4)
    assert (bare, grant.name, grant.role) == (OWNER_TOKEN, "http-client-4", "owner")


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("x:admin=" + OWNER_TOKEN, "unknown role 'admin'"),
        ("x:satellite=" + OWNER_TOKEN, "needs the slug of its app"),
        ("x:satellite:Not_A_Slug=" + OWNER_TOKEN, "not a valid slug"),
        ("x:agent:yard-app=" + OWNER_TOKEN, "only satellite tokens are scoped"),
        ("Bad Name:agent=" + OWNER_TOKEN, "not a valid caller name"),
    ],
)
def test_bad_token_entries_are_config_errors_that_never_echo_the_token(entry: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem) as raised:
        Settings.load({"NEXUS_HOME": "/tmp/nexus-test-home", "NEXUS_TOKENS": entry})
    assert OWNER_TOKEN not in raised.value.user_message()


def test_a_short_jwt_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="32 bytes"):
        Settings.load({"NEXUS_HOME": "/tmp/nexus-test-home", "NEXUS_JWT_SECRET": "short"})


def test_durations() -> None:
    assert parse_duration("15m") == timedelta(minutes=15)
    assert parse_duration("30d") == timedelta(days=30)
    assert parse_duration("90") == timedelta(seconds=90)
    for bad in ("", "soon", "0m", "-5m"):
        with pytest.raises(InvalidInput):
            parse_duration(bad)


def test_a_jwt_ttl_out_of_range_is_named_in_the_units_it_was_given_in() -> None:
    issuer = JwtIssuer(SecretStr(SECRET), issuer="nexus", audience="nexus-mcp")
    with pytest.raises(InvalidInput) as info:
        issuer.issue(Principal(name="yard", role=Role.OWNER), parse_duration("30d"))
    assert info.value.message == "ttl must be between 1s and 1d, got 30d"
    assert [format_duration(parse_duration(t)) for t in ("90", "15m", "120m", "24h")] == ["90s", "15m", "2h", "1d"]


def test_api_keys_are_shown_once_stored_hashed_and_checked(database: Database) -> None:
    clock = Clock()
    store = ApiKeyStore(database, clock=clock)
    issued = store.create("satellite", app="quote-engine", expires_in=timedelta(days=30))
    assert issued.secret.startswith("nxk_") and issued.key.name == "quote-engine"
    with database.read() as db:
        stored = [str(v) for row in db.execute("SELECT * FROM api_keys").fetchall() for v in row]
    assert issued.secret not in stored and issued.secret.rsplit("_", 1)[1] not in "".join(stored)
    assert store.verify(issued.secret).principal() == Principal(
        name="quote-engine", role=Role.SATELLITE, app="quote-engine", via="http", credential="api_key"
    )
    with pytest.raises(Unauthorized, match="unknown API key"):
        store.verify(issued.secret[:-2] + "xx")
    clock.now += timedelta(days=31)
    with pytest.raises(Unauthorized, match="API key expired"):
        store.verify(issued.secret)
    other = store.create("agent", name="bot")
    store.revoke(other.key.id, by="boss")
    with pytest.raises(Unauthorized, match="API key revoked"):
        store.verify(other.secret)
    assert [k.state(clock.now) for k in store.list()] == ["expired", "revoked"]


def test_api_key_scopes_are_checked(database: Database) -> None:
    store = ApiKeyStore(database)
    with pytest.raises(InvalidInput, match="slug of its one app"):
        store.create("satellite")
    with pytest.raises(InvalidInput, match="only satellite"):
        store.create("monitor", app="quote-engine")
    with pytest.raises(InvalidInput, match="unknown role"):
        store.create("root")


def test_jwts_check_issuer_audience_expiry_and_signature() -> None:
    clock = Clock()
    clock.now = datetime.now(UTC)
    issuer = JwtIssuer(SecretStr(SECRET), issuer="nexus", audience="nexus-mcp", clock=clock)
    yard = Principal(name="yard", role=Role.SATELLITE, app="yard-app")
    token = issuer.issue(yard, timedelta(minutes=5))
    principal, key = issuer.verify(token)
    assert (principal.name, principal.role, principal.app, principal.credential, key) == (
        "yard",
        Role.SATELLITE,
        "yard-app",
        "jwt",
        None,
    )
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="nexus-mcp")
    cases = {
        "token expired": {**claims, "exp": 1000},
        "token has the wrong audience": {**claims, "aud": "another-service"},
        "token has the wrong issuer": {**claims, "iss": "someone-else"},
    }
    for reason, bad in cases.items():
        with pytest.raises(Unauthorized, match=reason):
            issuer.verify(jwt.encode(bad, SECRET, algorithm="HS256"))
    with pytest.raises(Unauthorized, match="signature is invalid"):
        issuer.verify(jwt.encode({**claims, "role": "owner"}, "another-key-of-at-least-32-bytes!!", algorithm="HS256"))
    with pytest.raises(InvalidInput):
        issuer.issue(yard, timedelta(days=2))


async def test_the_resolver_turns_each_kind_of_credential_into_its_principal(database: Database) -> None:
    settings = Settings.load(
        {
            "NEXUS_HOME": "/tmp/nexus-test-home",
            "NEXUS_TOKENS": f"boss:owner={OWNER_TOKEN},yard:satellite:yard-app={YARD_TOKEN}",
            "NEXUS_JWT_SECRET": SECRET,
        }
    )
    resolver = CredentialResolver(settings, database)
    assert (await resolver.resolve(OWNER_TOKEN)).role is Role.OWNER
    yard = await resolver.resolve(YARD_TOKEN)
    assert (yard.name, yard.role, yard.app, yard.credential) == ("yard", Role.SATELLITE, "yard-app", "token")
    with pytest.raises(Unauthorized, match="unknown token"):
        await resolver.resolve(OWNER_TOKEN + "x")
    assert resolver.keys is not None
    issued = resolver.keys.create("agent", name="bot")
    assert (await resolver.resolve(issued.secret)).name == "bot"
    exchanged = resolver.jwt.issue(issued.key.principal(), key_id=issued.key.id)
    assert (await resolver.resolve(exchanged)).role is Role.AGENT
    resolver.keys.revoke(issued.key.id)
    with pytest.raises(Unauthorized, match="token revoked"):
        await resolver.resolve(exchanged)
    assert not await resolver.open_locally()  # credentials are configured: nobody is let in without one


async def test_a_server_with_no_credential_stays_open_only_until_a_key_is_counted(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The count of active keys is reused for OPEN_RECHECK_S (not asked of the database per request), then redone."""
    from nexus_agent.auth import credentials

    now = [1000.0]
    monkeypatch.setattr(credentials, "_now", lambda: now[0])
    resolver = CredentialResolver(Settings.load({"NEXUS_HOME": "/tmp/nexus-test-home"}), database)
    counted: list[int] = []
    assert resolver.keys is not None
    count = resolver.keys.count_active
    monkeypatch.setattr(resolver.keys, "count_active", lambda: counted.append(1) or count())
    assert await resolver.open_locally() and await resolver.open_locally()
    assert len(counted) == 1  # the second request reused the first one's count
    ApiKeyStore(database).create("agent", name="bot")  # as `nexus keys create` does, from another process
    now[0] += credentials.OPEN_RECHECK_S / 2
    assert await resolver.open_locally()  # the count made before the key existed holds until its time is up
    now[0] += credentials.OPEN_RECHECK_S / 2
    assert not await resolver.open_locally()  # counted again: a key exists, nobody is let in without one
    assert len(counted) == 2
