"""Who is calling, and what their role lets them do.

Every credential (a ``NEXUS_TOKENS`` entry, an issued API key, a JWT) resolves to
one :class:`Principal`: a name, a :class:`Role` and, for the ``satellite`` role,
the one app it is scoped to. The local stdio server and the CLI act as the owner.
"""

from nexus_agent.auth.principal import LOCAL_OWNER, Principal, Role, Transport

__all__ = ["LOCAL_OWNER", "Principal", "Role", "Transport"]
