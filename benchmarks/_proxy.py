"""A minimal Nexus for the proxy benchmark: an MCP server whose tools are the satellites' tools.

    python benchmarks/_proxy.py --port 9100 --satellite http://127.0.0.1:9000/s0/mcp

Lists every satellite tool as ``<slug>__<tool>`` and forwards calls through a
:class:`SatellitePool`, the way ``nexus_agent.server`` is meant to. Prints
``READY`` once listening.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from typing import Any

import mcp_types as types
import uvicorn
from mcp.server.lowlevel import Server
from starlette.applications import Starlette
from starlette.routing import Mount

from nexus_agent.satellites import SatellitePool
from nexus_agent.wire.errors import NexusError
from nexus_agent.wire.models import AppEndpoints, AppRecord, AppStatus


def build_app(satellite_url: str, *, json_response: bool) -> Starlette:
    record = AppRecord(
        slug="bench", name="Bench", status=AppStatus.active, endpoints=AppEndpoints(mcp_url=satellite_url)
    )
    pool = SatellitePool([record])

    async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        listing = await pool.list_tools()
        return types.ListToolsResult(tools=[tool.to_mcp_tool() for tool in listing.tools])

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        try:
            result = await pool.call(params.name, params.arguments or {})
        except NexusError as exc:
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=exc.user_message())], is_error=True
            )
        return result.to_mcp_result()

    server = Server("nexus-bench", on_list_tools=list_tools, on_call_tool=call_tool)
    mcp_app = server.streamable_http_app(stateless_http=True, json_response=json_response)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with pool, server.session_manager.run():
            await pool.list_tools()  # connect before READY, as a running Nexus would be
            print("READY", flush=True)
            yield

    return Starlette(routes=[Mount("/", app=mcp_app)], lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--satellite", required=True)
    parser.add_argument("--sse", action="store_true", help="answer with SSE streams instead of JSON bodies")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    app = build_app(args.satellite, json_response=not args.sse)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
