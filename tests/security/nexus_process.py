"""A real ``nexus serve --http`` subprocess for the attack tests (also imported by ``ssrf_scenario.py``).

No relative imports: the SSRF scenario runs this module as a plain script's sibling inside a
network namespace.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

OWNER = "owner-token-for-outbound-tests-0123"
SATELLITE = "yard-token-for-outbound-tests-01234"
TOKENS = f"boss:owner={OWNER},yard:satellite:yard-app={SATELLITE}"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env(home: Path, **extra: str) -> dict[str, str]:
    """The test runner's environment without any Nexus, satellite or Anthropic setting, plus ``extra``."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("NEXUS_", "SATELLITE_", "ANTHROPIC_"))}
    return {**inherited, "NEXUS_HOME": str(home), "NEXUS_DB_SYNC": "normal", "NEXUS_TOKENS": TOKENS, **extra}


class NexusProcess:
    """``with NexusProcess(home, env) as nexus:`` serves Nexus over HTTP until the block ends."""

    def __init__(self, home: Path, env: Mapping[str, str], *, tls: tuple[Path, Path] | None = None) -> None:
        self.home, self.env, self.tls = home, dict(env), tls
        self.port = free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The ``nexus`` command line, on the same home (the local owner)."""
        return subprocess.run(
            [sys.executable, "-m", "nexus_agent", *args], env=self.env, capture_output=True, text=True, timeout=120
        )

    def __enter__(self) -> NexusProcess:
        args = [sys.executable, "-m", "nexus_agent", "serve", "--http", f"127.0.0.1:{self.port}"]
        if self.tls:
            args += ["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])]
        log = (self.home / "serve.log").open("ab")
        self.proc = subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self._wait_until_up()
        return self

    def _wait_until_up(self, timeout: float = 60.0) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        pause = threading.Event()
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                httpx.get(f"{self.url}/api/health", timeout=1, verify=False)
                return
            except httpx.TransportError:
                pause.wait(0.05)
        self.__exit__(None, None, None)
        raise AssertionError(f"nexus serve did not start: {self.log()[-2000:]}")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)

    def log(self) -> str:
        path = self.home / "serve.log"
        return path.read_text(errors="replace") if path.exists() else ""

    @asynccontextmanager
    async def client(self, token: str) -> AsyncIterator[Client]:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http,
            Client(streamable_http_client(f"{self.url}/mcp", http_client=http)) as client,
        ):
            yield client

    async def call(self, token: str, tool: str, arguments: dict[str, Any]) -> tuple[bool, str, Any]:
        """One tool call over MCP: (is_error, text, structured content)."""
        async with self.client(token) as client:
            result = await client.call_tool(tool, arguments)
        text = " ".join(getattr(c, "text", "") for c in result.content)
        return bool(result.is_error), text, result.structured_content


def prepare_database(nexus: NexusProcess) -> None:
    """Create and migrate the database through the CLI (``nexus registry list``)."""
    done = nexus.cli("registry", "list", "--json")
    assert done.returncode == 0, done.stderr


def insert_raw_app(db_path: Path, record: dict[str, Any]) -> None:
    """Write an app row straight into the database, as a row stored before the trust rules would be.

    It bypasses every check of the registry on purpose: the defences at connect and spawn time must hold alone.
    """
    now = datetime.now(UTC).isoformat()
    full = {"category": "uncategorised", "created_at": now, "updated_at": now, **record}
    with sqlite3.connect(db_path) as db:
        db.execute(
            "INSERT OR REPLACE INTO apps (slug, name, category, status, record, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (full["slug"], full["name"], full["category"], full["status"], json.dumps(full), now, now),
        )
