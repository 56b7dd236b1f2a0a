"""GitHub webhooks into Nexus: registration issues and pushes start the flows they concern.

The HTTP route (``nexus_agent.events.github_webhook_route``) verifies ``X-Hub-Signature-256``
and deduplicates deliveries; this module decides what to run and runs it off the request
path (GitHub gives up after 10 s), one flow at a time, coalescing bursts of events.
"""

from __future__ import annotations

import logging

import anyio

from nexus_agent.events import GitHubEvent
from nexus_agent.flows import flows_for_github_event, process_pending_registrations
from nexus_agent.services import NexusServices
from nexus_agent.wire.errors import NexusError
from tools.flow_tools import instruction_service, registration_policy

__all__ = ["GitHubInbox"]

log = logging.getLogger("nexus.github")
GITHUB_ACTOR = "nexus-github-webhook"


class GitHubInbox:
    def __init__(self, services: NexusServices) -> None:
        self._services = services
        self._wanted: set[str] = set()
        self._wake = anyio.Event()

    async def on_event(self, event: GitHubEvent) -> None:
        flows = flows_for_github_event(event.event, event.payload, branch=self._services.settings.truth.branch)
        if flows:
            log.info("GitHub %s %s: will run %s", event.event, event.delivery_id, ", ".join(sorted(flows)))
            self._wanted |= set(flows)
            self._wake.set()

    async def run_pending(self) -> None:
        wanted, self._wanted = self._wanted, set()
        services = self._services
        for flow in sorted(wanted):
            try:
                if flow == "registrations" and services.truth is not None:
                    await process_pending_registrations(
                        services.truth,
                        services.registry,
                        services.memory,
                        policy=registration_policy(services),
                        actor=GITHUB_ACTOR,
                    )
                    await services.sync_satellites()
                elif flow == "reports":
                    await instruction_service(services).collect_reports()
            except NexusError as exc:
                log.warning("flow %s after a GitHub event failed: %s", flow, exc.message)

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            await self.run_pending()
