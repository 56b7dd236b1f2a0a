"""Run Nexus's MCP server over stdio or streamable HTTP."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping

import anyio
import uvicorn

from nexus_agent.config import Settings
from nexus_agent.http import create_app
from nexus_agent.planner.build import attach_planner
from nexus_agent.server import build_mcp_server, relay_satellite_tool_changes
from nexus_agent.services import open_services

__all__ = ["serve_http", "serve_stdio"]

log = logging.getLogger("nexus.serve")


async def serve_stdio(settings: Settings, secrets: Mapping[str, str]) -> None:
    """Serve MCP on stdin/stdout (desktop clients). Logs go to stderr only."""
    async with open_services(settings, secrets=secrets, monitor=True) as services, anyio.create_task_group() as tg:
        attach_planner(services)
        server = build_mcp_server(services)
        tg.start_soon(relay_satellite_tool_changes, server, services)
        log.info("Nexus serving MCP over stdio (database %s)", settings.db_path)
        await server.run_stdio_async()
        tg.cancel_scope.cancel()


def serve_http(settings: Settings, secrets: Mapping[str, str]) -> None:
    """Serve streamable HTTP at /mcp and GET /api/health under uvicorn."""
    app = create_app(settings, secrets=secrets)
    print(
        f"Nexus listening on http://{settings.http_host}:{settings.http_port}/mcp "
        f"(health: /api/health; database {settings.db_path})",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_level=settings.log_level.lower(),
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
