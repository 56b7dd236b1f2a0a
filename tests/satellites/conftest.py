"""Real satellites for the pool's tests, served over real HTTP by uvicorn on 127.0.0.1.

One uvicorn server (in a thread, for the whole session) hosts every satellite
under its own path, each a separate MCP endpoint:

    /good/mcp      MCPServer: echo, peek (read-only), poke, slow
    /hang/mcp      MCPServer: echo never answers
    /err/mcp       MCPServer: echo raises (a tool error)
    /sec/mcp       MCPServer behind a bearer token (SECRET)
    /junk/mcp      plain text, not MCP
    /legacy/mcp    hand-written 2025-11-25 JSON-RPC server; one tool has an invalid JSON Schema
    /badlist/mcp   same, but its tools/list breaks the MCP schema (inputSchema type 'string')
    /flaky/mcp     the good satellite behind a switch that answers 503
    /dyn/mcp       MCPServer whose `grow` tool adds a tool and announces tools/list_changed
    /health/<name> health endpoints whose answers the tests set

A closed port stands in for a satellite that is down.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from mcp.server import MCPServer
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import Context
from mcp_types import ToolAnnotations
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

from nexus_agent.satellites import PoolSettings, SatellitePool
from nexus_agent.testing import free_port, serve_in_thread
from nexus_agent.wire.models import AppEndpoints, AppRecord, AppStatus

SECRET = "sesame-open-please-0123456789"
TOKEN_ENV = "SATELLITE_SEC_TOKEN"  # the "sec" app's own variable: an app may name no other


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- satellites -----------------------------------------------------------------------------------------------------


def good_server(name: str = "good") -> MCPServer:
    server = MCPServer(name)

    @server.tool()
    def echo(text: str, times: int = 1) -> str:
        """Repeat text."""
        return text * times

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def peek() -> str:
        return "peeked"

    @server.tool()
    def poke() -> str:
        return "poked"

    @server.tool()
    async def count(n: int, ctx: Context) -> int:
        for i in range(1, n + 1):
            await ctx.report_progress(i, n, f"step {i}")
        return n

    @server.tool(name="odd name/with:chars")
    def odd() -> str:
        return "odd"

    return server


def hang_server() -> MCPServer:
    server = MCPServer("hang")

    @server.tool()
    async def echo(text: str) -> str:
        await anyio.sleep_forever()
        return text

    return server


def error_server() -> MCPServer:
    server = MCPServer("err")

    @server.tool()
    def echo(text: str) -> str:
        raise ValueError(f"cannot echo {text!r} today")

    return server


class _Verifier(TokenVerifier):
    async def verify_token(self, token: str) -> AccessToken | None:
        return AccessToken(token=token, client_id="nexus", scopes=[]) if token == SECRET else None


def secure_server(base: str) -> MCPServer:
    server = MCPServer(
        "sec",
        token_verifier=_Verifier(),
        auth=AuthSettings(issuer_url=base, resource_server_url=f"{base}/sec/mcp", validate_token_resource=False),
    )

    @server.tool()
    def echo(text: str) -> str:
        return f"secure {text}"

    return server


def dynamic_server() -> MCPServer:
    server = MCPServer("dyn")

    @server.tool()
    async def grow(ctx: Context) -> str:
        server.add_tool(lambda: "fresh!", name="fresh")
        await ctx.notify_tools_changed()
        return "grown"

    return server


LEGACY_TOOLS: dict[str, list[dict[str, Any]]] = {
    "legacy": [
        {"name": "echo", "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}}},
        {"name": "broken", "inputSchema": {"type": "object", "properties": {"text": {"type": "strang"}}}},
    ],
    "badlist": [{"name": "echo", "inputSchema": {"type": "string"}}],
}


def legacy_endpoint(variant: str) -> Callable[[Request], Any]:
    """A minimal third-party style MCP server (2025-11-25 handshake, JSON responses)."""

    async def endpoint(request: Request) -> Response:
        if request.method != "POST":
            return Response(status_code=405)
        body = await request.json()
        if "id" not in body:
            return Response(status_code=202)
        method, rid = body.get("method"), body["id"]
        if method == "initialize":
            result: dict[str, Any] = {
                "protocolVersion": "2025-11-25",
                "capabilities": {"tools": {"listChanged": False}},
                "serverInfo": {"name": variant, "version": "1.0"},
            }
        elif method == "tools/list":
            result = {"tools": LEGACY_TOOLS[variant]}
        elif method == "tools/call":
            text = (body.get("params", {}).get("arguments") or {}).get("text", "")
            result = {"content": [{"type": "text", "text": f"legacy {text}"}], "isError": False}
        else:
            error = {"code": -32601, "message": f"Method not found: {method}"}
            return JSONResponse({"jsonrpc": "2.0", "id": rid, "error": error})
        return JSONResponse({"jsonrpc": "2.0", "id": rid, "result": result})

    return endpoint


async def junk_endpoint(request: Request) -> Response:
    return PlainTextResponse("<html><body>Welcome to nginx!</body></html>")


# -- instrumentation ------------------------------------------------------------------------------------------------


@dataclass
class Traffic:
    """JSON-RPC methods each satellite path received, and switches the tests flip."""

    methods: dict[str, Counter[str]] = field(default_factory=dict)
    flaky_down: bool = False
    flaky_fail_calls: int = 0
    health: dict[str, tuple[int, Any]] = field(default_factory=dict)

    def count(self, name: str, method: str) -> int:
        return self.methods.get(name, Counter())[method]

    def opens(self, name: str) -> int:
        """New MCP connections: 2026 discovery probes plus handshake-era initializes."""
        return self.count(name, "server/discover") + self.count(name, "initialize")

    def reset(self) -> None:
        self.methods.clear()
        self.flaky_down = False
        self.flaky_fail_calls = 0
        self.health.clear()


class Recorder:
    """ASGI middleware: count JSON-RPC methods per satellite; for 'flaky', answer 503 when told to."""

    def __init__(self, app: Any, name: str, traffic: Traffic) -> None:
        self.app, self.name, self.traffic = app, name, traffic

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        try:
            method = json.loads(body).get("method", "?")
        except (ValueError, AttributeError):
            method = "?"
        self.traffic.methods.setdefault(self.name, Counter())[method] += 1
        if self.name == "flaky" and (
            self.traffic.flaky_down or (method == "tools/call" and self.traffic.flaky_fail_calls > 0)
        ):
            if method == "tools/call" and self.traffic.flaky_fail_calls > 0:
                self.traffic.flaky_fail_calls -= 1
            await PlainTextResponse("service unavailable", status_code=503)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


@dataclass
class SatelliteServer:
    base: str
    traffic: Traffic
    down_url: str
    secret: str = SECRET
    token_env: str = TOKEN_ENV

    def url(self, name: str) -> str:
        return f"{self.base}/{name}/mcp"

    def record(self, slug: str, path: str | None = None, **endpoint: Any) -> AppRecord:
        capabilities = endpoint.pop("capabilities", [])
        status = endpoint.pop("status", AppStatus.active)
        if "mcp_command" not in endpoint:
            endpoint.setdefault("mcp_url", self.down_url if path == "down" else self.url(path or slug))
        endpoint.setdefault("health_url", f"{self.base}/health/{path or slug}")
        return AppRecord(
            slug=slug, name=slug.title(), status=status, capabilities=capabilities, endpoints=AppEndpoints(**endpoint)
        )


def build_host(base: str, traffic: Traffic) -> Starlette:
    servers = {
        "good": good_server(),
        "flaky": good_server("flaky"),
        "hang": hang_server(),
        "err": error_server(),
        "sec": secure_server(base),
        "dyn": dynamic_server(),
    }
    apps = {name: s.streamable_http_app() for name, s in servers.items()}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for server in servers.values():
                await stack.enter_async_context(server.session_manager.run())
            yield

    async def health(request: Request) -> Response:
        status, body = traffic.health.get(request.path_params["name"], (200, {"status": "ok"}))
        return JSONResponse(body, status_code=status)

    routes: list[Any] = [
        Route("/health/{name}", health),
        Mount(
            "/junk",
            app=Recorder(Starlette(routes=[Route("/mcp", junk_endpoint, methods=["GET", "POST"])]), "junk", traffic),
        ),
    ]
    for variant in LEGACY_TOOLS:
        inner = Starlette(routes=[Route("/mcp", legacy_endpoint(variant), methods=["GET", "POST", "DELETE"])])
        routes.append(Mount(f"/{variant}", app=Recorder(inner, variant, traffic)))
    routes += [Mount(f"/{name}", app=Recorder(app, name, traffic)) for name, app in apps.items()]
    return Starlette(routes=routes, lifespan=lifespan)


@pytest.fixture(scope="session")
def satellite_server() -> Iterator[SatelliteServer]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    traffic = Traffic()
    with serve_in_thread(build_host(base, traffic), port=port):
        yield SatelliteServer(base=base, traffic=traffic, down_url=f"http://127.0.0.1:{free_port()}/mcp")


@pytest.fixture
def sats(satellite_server: SatelliteServer) -> SatelliteServer:
    satellite_server.traffic.reset()
    return satellite_server


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SleepRecorder:
    """Stands in for anyio.sleep in retry backoff: records the delays, sleeps not at all."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await anyio.lowlevel.checkpoint()


def pool_for(
    records: list[AppRecord],
    *,
    secrets: dict[str, str] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Any] | None = None,
    **settings: Any,
) -> SatellitePool:
    settings.setdefault("call_timeout", 5.0)
    settings.setdefault("connect_timeout", 5.0)
    settings.setdefault("list_timeout", 5.0)
    return SatellitePool(
        records,
        secrets=secrets if secrets is not None else {TOKEN_ENV: SECRET},
        # Commands in these records stand for ones the owner registered locally (the registry's provenance).
        commands={r.slug: r.endpoints.mcp_command for r in records if r.endpoints.mcp_command},
        settings=PoolSettings(**settings),
        clock=clock,
        sleep=sleep or SleepRecorder(),
    )


def time_server_record(slug: str = "time") -> AppRecord:
    return AppRecord(
        slug=slug,
        name="Time",
        status=AppStatus.active,
        capabilities=["time"],
        endpoints=AppEndpoints(mcp_command=[sys.executable, "-m", "mcp_server_time"]),
    )


@pytest.fixture
def make_pool() -> Callable[..., SatellitePool]:
    return pool_for


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleeper() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def time_record() -> AppRecord:
    return time_server_record()
