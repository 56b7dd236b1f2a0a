"""Benchmark satellites: many MCP endpoints served by one uvicorn process over real HTTP.

    python benchmarks/_serve.py --port 9000 --first 0 --count 100 --delay-ms 100

serves ``/s{i}/mcp`` for i in [first, first+count), each a separate stateless
MCP server whose tools are ``work`` (sleeps ``delay-ms``) and ``ping``, and
``/api/health`` (where Nexus probes a satellite's origin, as on a real satellite:
without it Nexus would judge every one down and record 500 status changes mid-run).
Prints ``READY`` on stdout once listening.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import AsyncIterator

import anyio
import uvicorn
from mcp.server import MCPServer
from mcp_types import ToolAnnotations
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route


def satellite(index: int, delay: float) -> MCPServer:
    server = MCPServer(f"bench-{index}")

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def work() -> str:
        await anyio.sleep(delay)
        return f"done by {index}"

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def ping() -> str:
        return "pong"

    return server


def build_app(first: int, count: int, delay: float, *, json_response: bool = True) -> Starlette:
    servers = {i: satellite(i, delay) for i in range(first, first + count)}
    apps = {i: s.streamable_http_app(stateless_http=True, json_response=json_response) for i, s in servers.items()}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for server in servers.values():
                await stack.enter_async_context(server.session_manager.run())
            print("READY", flush=True)
            yield

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    routes = [Route("/api/health", health), *(Mount(f"/s{i}", app=app) for i, app in apps.items())]
    return Starlette(routes=routes, lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--delay-ms", type=float, default=100.0)
    parser.add_argument("--sse", action="store_true", help="answer with SSE streams instead of JSON bodies")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("mcp").setLevel(logging.WARNING)
    app = build_app(args.first, args.count, args.delay_ms / 1000, json_response=not args.sse)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False, backlog=4096)


if __name__ == "__main__":
    main()
