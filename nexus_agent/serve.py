"""Run Nexus's MCP server over stdio or streamable HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import anyio

from nexus_agent.config import Settings
from nexus_agent.planner.build import planner_from_settings
from nexus_agent.server import build_mcp_server, relay_satellite_tool_changes
from nexus_agent.services import open_services
from nexus_agent.wire.errors import ConfigError

__all__ = ["serve_http", "serve_stdio"]

log = logging.getLogger("nexus.serve")


async def serve_stdio(settings: Settings, secrets: Mapping[str, str]) -> None:
    """Serve MCP on stdin/stdout (desktop clients). Logs go to stderr only."""
    from nexus_agent.ops.measure import measurement  # the call log: `nexus metrics` counts stdio calls too
    from nexus_agent.ops.serve_lock import serving_home

    gc.disable()  # set-up builds long-lived objects (tool schemas): no collections until the first answer
    try:
        with serving_home(settings):  # `backup restore` / `recover` refuse while this server runs
            async with (
                open_services(
                    settings, secrets=secrets, monitor=True, measure=measurement(), planner=planner_from_settings
                ) as services,
                anyio.create_task_group() as tg,
            ):
                server = build_mcp_server(services)
                gc.freeze()
                gc.enable()
                tg.start_soon(relay_satellite_tool_changes, server, services)
                log.info("Nexus serving MCP over stdio (database %s)", settings.db_path)
                await server.run_stdio_async()
                tg.cancel_scope.cancel()
    finally:
        gc.enable()


def serve_http(settings: Settings, secrets: Mapping[str, str]) -> None:
    """Serve streamable HTTP at /mcp and GET /api/health under uvicorn.

    The runtime opens first (``http.open_app``), then uvicorn serves the app built over it inside
    that block; on SIGINT/SIGTERM uvicorn shuts down gracefully, the runtime closes, and only then
    is the signal raised again (the process exits as it did under ``uvicorn.run``).
    """
    from nexus_agent.wire.inbound import tls13_server_context

    tls: dict[str, Any] = {}
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise ConfigError(
            "HTTPS needs both --tls-cert and --tls-key", hint="Give both (or NEXUS_TLS_CERT and NEXUS_TLS_KEY)."
        )
    if settings.tls_cert is not None:
        context = tls13_server_context(settings.tls_cert, settings.tls_key)  # TLS 1.3 only; fails early if unreadable
        tls["ssl_context_factory"] = lambda config, default: context
    captured: list[int] = []
    anyio.run(_serve_http, settings, secrets, tls, captured, backend_options=_event_loop(settings))
    for sig in reversed(captured):  # after the runtime has closed (uvicorn would raise it before)
        signal.raise_signal(sig)


def _event_loop(settings: Settings) -> dict[str, Any]:
    """anyio's backend options: uvloop when it is installed and ``NEXUS_HTTP_UVLOOP`` is on (the default).

    uvloop (a dependency on Linux and macOS, as in uvicorn's ``standard`` extra) runs the same asyncio API with its
    transports, timers and callbacks in C: the HTTP face spends less of each call in the event loop. Where it
    is not installed (Windows), the standard loop serves as before."""
    if not settings.http_uvloop:
        return {}
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return {}
    return {"use_uvloop": True}


async def _serve_http(settings: Settings, secrets: Mapping[str, str], tls: dict[str, Any], captured: list[int]) -> None:
    import uvicorn  # the HTTP stack loads only for --http: stdio starts without it

    from nexus_agent.http import open_app

    async with open_app(settings, secrets=secrets) as app:
        config = uvicorn.Config(
            app,  # its front door writes the access line: refusals and errors at INFO, the rest at DEBUG (http_front)
            host=settings.http_host,
            port=settings.http_port,
            log_level=settings.log_level.lower(),
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
            **tls,
        )
        server = _signal_keeping_server(uvicorn.Server)(config)
        scheme = "https" if tls else "http"
        loop = "uvloop" if type(asyncio.get_running_loop()).__module__.startswith("uvloop") else "asyncio"
        print(
            f"Nexus listening on {scheme}://{settings.http_host}:{settings.http_port}/mcp "
            f"(health: /api/health; database {settings.db_path}; event loop: {loop})",
            file=sys.stderr,
            flush=True,
        )
        try:
            await server.serve()
        except SystemExit:  # uvicorn logged why (an ERROR line: address in use, no permission) and exits
            raise ConfigError(
                f"Nexus could not listen on {settings.http_host}:{settings.http_port} (the ERROR line above says why)",
                hint="If the address is in use, stop what listens there or pick another port with --http HOST:PORT.",
            ) from None
        finally:
            captured.extend(server.captured)


def _signal_keeping_server(base: type[Any]) -> type[Any]:
    """uvicorn's Server, keeping the signals it caught instead of raising them as ``serve`` returns."""

    class Server(base):  # type: ignore[misc,valid-type]
        captured: list[int]

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            self.captured = []
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            original = {sig: signal.signal(sig, self._keep) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

        def _keep(self, sig: int, frame: Any) -> None:
            self.captured.append(sig)
            self.handle_exit(sig, frame)

    return Server
