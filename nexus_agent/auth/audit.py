"""Refusals are remembered: who tried what, when, and why it was refused (a memory note tagged ``security``)."""

from __future__ import annotations

import logging

from memory.models import NoteIn
from memory.store import MemoryStore
from nexus_agent.auth.principal import Principal
from nexus_agent.wire.errors import Forbidden, NexusError
from nexus_agent.wire.models import is_slug, utcnow

__all__ = ["SECURITY_AUTHOR", "record_refusal"]

log = logging.getLogger("nexus.auth")

SECURITY_AUTHOR = "nexus-security"


async def record_refusal(memory: MemoryStore, principal: Principal, what: str, refusal: Forbidden) -> None:
    """Log and remember a refused call; a failure to remember never hides the refusal itself."""
    when = utcnow().isoformat(timespec="seconds")
    log.warning("refused %s to %s via %s", what, principal.label(), principal.via)
    note = NoteIn(
        title=f"Refused {what} to {principal.name}"[:200],
        text=(
            f"At {when}, {principal.label()} (via {principal.via}, {principal.credential} credential) "
            f"tried {what}. Refused: {refusal.message}"
        ),
        author=SECURITY_AUTHOR,
        apps=[principal.app] if principal.app and is_slug(principal.app) else [],
        tags=["security", "forbidden"],
    )
    try:
        await memory.add_note(note)
    except NexusError as exc:
        log.error("could not record the refusal of %s to %s: %s", what, principal.label(), exc.code)
