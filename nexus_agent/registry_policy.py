"""What a registration may store: allowed URLs, the app's own secret variables, and commands only from the owner.

The registry applies :class:`EndpointPolicy` to every record it stores, whatever the path
(``registry_register``, registration issues, the portfolio importer, a truth-source pull):

- every endpoint URL passes the outbound URL policy (:mod:`nexus_agent.outbound`);
- ``token_env`` / ``webhook_secret_env`` name only the app's own variables or allow-listed ones
  (:mod:`nexus_agent.wire.secret_env`);
- ``endpoints.mcp_command`` — a program Nexus will run on this machine — is new or changed only
  when the caller may set commands (the owner on the local CLI or stdio server, or over HTTP
  when ``NEXUS_ALLOW_REMOTE_COMMANDS`` is on). Data never may. The registry keeps who set each
  command (its provenance) and the satellite pool runs only a command with that provenance.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nexus_agent.auth.principal import Principal
from nexus_agent.outbound import OutboundPolicy
from nexus_agent.wire.errors import Forbidden
from nexus_agent.wire.models import AppRecord
from nexus_agent.wire.secret_env import check_secret_env

__all__ = [
    "URL_FIELDS",
    "EndpointPolicy",
    "check_command",
    "command_note",
    "may_set_command",
    "untrusted_command_error",
]

URL_FIELDS = ("mcp_url", "health_url", "webhook_url", "message_handler_url")


@dataclass(frozen=True)
class EndpointPolicy:
    outbound: OutboundPolicy = field(default_factory=OutboundPolicy)
    secret_env_allow: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Any) -> EndpointPolicy:
        return cls(OutboundPolicy.from_settings(settings), frozenset(settings.secret_env_allow))

    def check(self, record: AppRecord, others: Iterable[AppRecord] = ()) -> None:
        """Raise ``Forbidden`` naming the first endpoint URL or secret variable the record may not have."""
        ep = record.endpoints
        self.outbound.check_urls(
            (f"endpoints.{name} of '{record.slug}'", str(getattr(ep, name)) if getattr(ep, name) else None)
            for name in URL_FIELDS
        )
        check_secret_env(record, self.secret_env_allow, others)

    def secret_names(self, record: AppRecord) -> list[str]:
        """The secret variables the record names that are not allow-listed: the ones other apps may own."""
        ep = record.endpoints
        named = (ep.token_env, ep.webhook_secret_env, *ep.mcp_env.values())
        return sorted({n for n in named if n and n not in self.secret_env_allow})


def may_set_command(principal: Principal, *, allow_remote: bool) -> bool:
    """The owner on the local CLI or stdio server; over HTTP only when the owner turned that on."""
    return bool(principal.is_owner and (principal.is_local or allow_remote))


def check_command(record: AppRecord, old: AppRecord | None, *, may_set: bool) -> None:
    """Refuse a new or changed ``mcp_command`` from a caller (or data path) that may not set one."""
    command = record.endpoints.mcp_command
    if not command or may_set or (old is not None and old.endpoints.mcp_command == command):
        return
    raise Forbidden(
        f"endpoints.mcp_command of '{record.slug}' is refused: a command runs a program on the Nexus host, so only "
        "the owner sets it, on the local CLI or stdio server (never a token over HTTP, an issue, an import or a "
        "truth-source file)",
        hint="Register the app without mcp_command (give it an mcp_url), or have the owner register the command "
        "locally: `nexus registry register FILE` on the Nexus machine.",
        details={"field": "endpoints.mcp_command", "rule": "command-owner-local"},
    )


def command_note(command: Sequence[str]) -> str:
    """What the owner is shown when a registration sets a command."""
    return f"this app runs the command `{shlex.join(command)}` on this machine, as Nexus's user, when it is called"


def untrusted_command_error(slug: str) -> Forbidden:
    return Forbidden(
        f"satellite '{slug}' has a command in the registry that the owner did not set on this machine, "
        "so Nexus will not run it",
        hint=f"If you trust it, register '{slug}' again on the Nexus machine (`nexus registry register FILE`); "
        "otherwise remove endpoints.mcp_command.",
        details={"slug": slug, "reason": "untrusted_command", "rule": "command-owner-local"},
    )
