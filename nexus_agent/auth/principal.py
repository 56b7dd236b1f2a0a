"""The caller of a tool or route: a name, a role, an app scope and how it arrived."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["LOCAL_OWNER", "Principal", "Role", "Transport"]

#: How the caller reached Nexus: the local CLI, the local stdio MCP server, or HTTP.
Transport = Literal["cli", "stdio", "http"]


class Role(StrEnum):
    """What a credential may do (see ``docs/security.md``)."""

    OWNER = "owner"  # everything
    AGENT = "agent"  # instruct, read tools, its own plans
    SATELLITE = "satellite"  # scoped to one app: its record, its instructions, its registration (through review)
    MONITOR = "monitor"  # health, metrics, read-only listing


class Principal(BaseModel):
    """An authenticated caller. Never holds the credential itself."""

    model_config = ConfigDict(frozen=True)

    name: str
    role: Role
    #: The one app a ``satellite`` principal is scoped to (None for every other role).
    app: str | None = None
    via: Transport = "http"
    #: Which kind of credential proved it: ``token`` (NEXUS_TOKENS), ``api_key``, ``jwt`` or ``local``.
    credential: str = "token"

    @property
    def is_owner(self) -> bool:
        return self.role is Role.OWNER

    @property
    def is_local(self) -> bool:
        """The owner at the machine (CLI or stdio), as opposed to anyone over HTTP."""
        return self.via in ("cli", "stdio")

    def label(self) -> str:
        scope = f":{self.app}" if self.app else ""
        return f"{self.name} ({self.role.value}{scope})"


#: The local stdio server and the CLI act as the owner.
LOCAL_OWNER = Principal(name="owner", role=Role.OWNER, via="cli", credential="local")
