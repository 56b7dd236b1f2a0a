"""``nexus keys create|list|revoke|jwt``: the owner issues credentials for satellites, agents and monitors.

``create`` prints the API key once (Nexus keeps only its hash); ``jwt`` signs a short-lived JWT
with ``NEXUS_JWT_SECRET`` / ``NEXUS_JWT_KEY_FILE`` (the server must use the same key).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from nexus_agent.auth import Principal
from nexus_agent.auth.credentials import jwt_issuer
from nexus_agent.auth.jwt_tokens import DEFAULT_TTL, parse_duration
from nexus_agent.auth.keys import ApiKey, ApiKeyStore, check_scope
from nexus_agent.cli_output import EXIT_OK, format_table
from nexus_agent.config import Settings
from nexus_agent.services import open_database
from nexus_agent.wire.models import utcnow

__all__ = ["add_keys", "run_keys_command"]


def add_keys(sub: Any, common: argparse.ArgumentParser) -> None:
    """The parser of ``nexus keys`` (listed in ``cli_parser.COMMANDS``)."""
    group = sub.add_parser("keys", help="API keys and JWTs for satellites, agents and monitors")
    group.set_defaults(needs_action=True)
    actions = group.add_subparsers(dest="action", metavar="ACTION")
    c = actions.add_parser("create", parents=[common], help="issue an API key (printed once, stored hashed)")
    c.add_argument("--role", required=True, choices=["owner", "agent", "satellite", "monitor"])
    c.add_argument("--app", help="the app slug a satellite key is scoped to (satellite keys only)")
    c.add_argument("--name", help="who the key speaks for, as recorded in histories (default: the app or role)")
    c.add_argument("--expires", help="lifetime, e.g. 30d or 12h (default: never)")
    actions.add_parser("list", parents=[common], help="list issued keys (never the keys themselves)")
    r = actions.add_parser("revoke", parents=[common], help="revoke a key (and every JWT exchanged for it)")
    r.add_argument("id", help="the key id shown by `nexus keys list`")
    j = actions.add_parser("jwt", parents=[common], help="sign a short-lived JWT (needs NEXUS_JWT_SECRET)")
    j.add_argument("--role", required=True, choices=["owner", "agent", "satellite", "monitor"])
    j.add_argument("--app", help="the app slug (satellite tokens only)")
    j.add_argument("--name", help="who the token speaks for (default: the app or role)")
    j.add_argument("--ttl", default="15m", help="lifetime, e.g. 15m (default) or 2h; at most 24h")


def _row(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "role": key.role.value,
        "app": key.app,
        "state": key.state(utcnow()),
        "created_at": key.created_at.isoformat(timespec="seconds"),
        "expires_at": key.expires_at.isoformat(timespec="seconds") if key.expires_at else "never",
    }


def _print(args: argparse.Namespace, data: Any, human: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else human)


def _keys_database(settings: Settings) -> Any:
    """Where the keys live: PostgreSQL (shared by every replica) when NEXUS_DATABASE_URL is set, else SQLite."""
    if settings.database_url is None:
        return open_database(settings)
    from nexus_agent.services_pg import open_pg_database  # psycopg loads only then

    return open_pg_database(settings.database_url.get_secret_value())


def run_keys_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "jwt":
        role, app = check_scope(args.role, args.app)
        ttl = parse_duration(args.ttl) if args.ttl else DEFAULT_TTL
        principal = Principal(name=args.name or app or role.value, role=role, app=app, credential="jwt")
        token = jwt_issuer(settings).issue(principal, ttl)
        _print(args, {"access_token": token, "expires_in": int(ttl.total_seconds())}, token)
        return EXIT_OK
    database = _keys_database(settings)
    try:
        store = ApiKeyStore(database)
        if args.action == "create":
            expires = parse_duration(args.expires) if args.expires else None
            issued = store.create(
                args.role, app=args.app, name=args.name, expires_in=expires, created_by=settings.actor
            )
            human = (
                f"API key {issued.key.id} for {issued.key.name} ({issued.key.role.value}"
                f"{':' + issued.key.app if issued.key.app else ''}), "
                f"expires {_row(issued.key)['expires_at']}.\n"
                "Copy it now: Nexus keeps only its hash and cannot show it again.\n\n"
                f"{issued.secret}"
            )
            _print(args, {**_row(issued.key), "key": issued.secret}, human)
        elif args.action == "list":
            rows = [_row(k) for k in store.list()]
            columns = ["id", "name", "role", "app", "state", "created_at", "expires_at"]
            _print(args, rows, format_table(rows, columns))
        elif args.action == "revoke":
            key = store.revoke(args.id, by=settings.actor)
            _print(args, _row(key), f"revoked API key {key.id} ({key.name}); its JWTs stop working too")
    finally:
        database.close()
    return EXIT_OK
