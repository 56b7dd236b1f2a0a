"""Run an ASGI app as a real HTTP server on 127.0.0.1 for the length of a test."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import anyio
import uvicorn

if TYPE_CHECKING:
    from nexus_agent.config import Settings

__all__ = ["free_port", "serve_in_thread", "serve_nexus_in_thread"]


def free_port() -> int:
    """A port that nothing listens on right now (for 'satellite is down' cases)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


@contextlib.contextmanager
def serve_in_thread(app: Any, *, host: str = "127.0.0.1", port: int = 0, timeout: float = 10.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a background thread; yield its base URL once it accepts requests.

    The socket is bound before the thread starts, so the port cannot be taken in between;
    start-up and shutdown are bounded by ``timeout``. ``port=0`` picks a free port.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
    server = _Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        if not server.ready.wait(timeout):
            raise TimeoutError(f"server on {host}:{port} did not start within {timeout}s")
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()


@contextlib.contextmanager
def serve_nexus_in_thread(
    settings: Settings,
    *,
    secrets: Mapping[str, str] | None = None,
    allowed_hosts: list[str] | None = None,
    host: str = "127.0.0.1",
    timeout: float = 10.0,
) -> Iterator[str]:
    """Serve Nexus over HTTP as ``nexus serve --http`` does, in a background thread; yield its base URL.

    The thread's event loop opens the runtime (``nexus_agent.http.open_app``) and serves the app
    built over it; leaving the block stops uvicorn and closes the runtime, both bounded by
    ``timeout``. An error while opening (a ConfigError, say) is raised here.
    """
    from nexus_agent.http import open_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    servers: list[_Server] = []
    failed: list[BaseException] = []
    started = threading.Event()  # set once uvicorn accepts requests, or when opening failed

    async def main() -> None:
        async with open_app(settings, secrets=secrets, allowed_hosts=allowed_hosts) as app:
            config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
            server = _Server(config)
            server.ready = started
            servers.append(server)
            await server.serve(sockets=[sock])

    def run() -> None:
        try:
            anyio.run(main)
        except BaseException as exc:  # raised in the test's thread
            failed.append(exc)
        finally:
            started.set()

    thread = threading.Thread(target=run, name=f"nexus-{port}", daemon=True)
    thread.start()
    try:
        if not started.wait(timeout):
            raise TimeoutError(f"Nexus on {host}:{port} did not start within {timeout}s")
        if failed:
            raise failed[0]
        yield f"http://{host}:{port}"
    finally:
        if servers:
            servers[0].should_exit = True
        thread.join(timeout)
        sock.close()
