"""The Nexus satellite kit: declare tools and events on a :class:`Satellite`, get the rest.

    from satellite_template import Satellite, run_cli

    sat = Satellite("quote-engine", "Quote Engine", capabilities=["quote status"])

    @sat.tool(read_only=True, idempotent=True)
    def quote_status(quote_id: str) -> str:
        "Status of one quote."
        ...

    @sat.on_event("instruction.created")
    def on_instruction(event: WebhookEnvelope) -> None: ...

    def main() -> None:
        raise SystemExit(run_cli(sat))   # serve [--http HOST:PORT] | register | record

The kit stands on Nexus's wire package alone (``nexus_agent.wire``: the wire models, the
error tree, webhook signing, the registration-file and truth-repository formats, the secret
guard) and imports nothing else of Nexus.
``nexus satellite new SLUG`` renders a project from ``project/`` in this package.
"""

from nexus_agent.wire.signing import InMemoryReplayGuard, ReplayGuard, WebhookEnvelope, WebhookRejected
from satellite_template.cli import run_cli
from satellite_template.http import StaticTokenVerifier
from satellite_template.kit import EventHandler, HealthCheck, Satellite, ToolInfo
from satellite_template.registration import REGISTER_TOOL
from satellite_template.replay import SqliteReplayGuard
from satellite_template.settings import SatelliteSettings

__all__ = [
    "REGISTER_TOOL",
    "EventHandler",
    "HealthCheck",
    "InMemoryReplayGuard",
    "ReplayGuard",
    "Satellite",
    "SatelliteSettings",
    "SqliteReplayGuard",
    "StaticTokenVerifier",
    "ToolInfo",
    "WebhookEnvelope",
    "WebhookRejected",
    "run_cli",
]
