"""TLS: ``nexus serve --http --tls-cert --tls-key`` speaks TLS 1.3 only, and satellites are called with
certificate verification on (``NEXUS_CA_FILE`` adds a CA). A throwaway CA is made at test time (trustme).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
import trustme
import uvicorn

from nexus_agent.wire.inbound import tls13_server_context
from satellite_template import Satellite, SatelliteSettings

from .nexus_process import OWNER, NexusProcess, base_env

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    paths = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    cert.private_key_pem.write_to_path(str(paths["key"]))
    with paths["cert"].open("wb") as out:
        for blob in cert.cert_chain_pems:
            out.write(blob.bytes())
    return paths


def client_context(ca: Path, *, maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca))
    if maximum is not None:
        ctx.maximum_version = maximum
    return ctx


async def test_nexus_over_https_refuses_tls_older_than_1_3(tmp_path: Path, pki: dict[str, Path]) -> None:
    with NexusProcess(tmp_path, base_env(tmp_path), tls=(pki["cert"], pki["key"])) as nexus:
        assert nexus.url.startswith("https://")
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{nexus.url}/api/health", verify=client_context(pki["ca"], maximum=ssl.TLSVersion.TLSv1_2))
        ok = httpx.get(
            f"{nexus.url}/api/health",
            headers={"Authorization": f"Bearer {OWNER}"},
            verify=client_context(pki["ca"], maximum=ssl.TLSVersion.TLSv1_3),
        )
        assert ok.status_code == 200 and ok.json()["checks"]
        with socket.create_connection(("127.0.0.1", int(nexus.url.rsplit(":", 1)[1]))) as raw:
            context = client_context(pki["ca"])
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                assert tls.version() == "TLSv1.3"


@contextlib.contextmanager
def https_satellite(pki: dict[str, Path]) -> Iterator[str]:
    """A kit satellite served over HTTPS (TLS 1.3) by uvicorn in a thread."""
    sat = Satellite("tls-sat", "TLS Satellite", capabilities=["echo"])

    @sat.tool(read_only=True)
    def echo(text: str) -> str:
        """Echo the text."""
        return text

    context = tls13_server_context(pki["cert"], pki["key"])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        sat.create_app(SatelliteSettings()),
        log_level="warning",
        ssl_context_factory=lambda config, default: context,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        ready = threading.Event()
        while not server.started and thread.is_alive():
            ready.wait(0.02)
        yield f"https://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


async def test_satellites_are_called_with_certificate_verification(tmp_path: Path, pki: dict[str, Path]) -> None:
    record = {"slug": "tls-sat", "name": "TLS Satellite", "status": "active", "endpoints": {}}
    with https_satellite(pki) as base:
        record["endpoints"] = {"mcp_url": f"{base}/mcp"}
        outcomes = {}
        for name, extra in (("trusted", {"NEXUS_CA_FILE": str(pki["ca"])}), ("untrusted", {})):
            home = tmp_path / name
            home.mkdir()
            with NexusProcess(home, base_env(home, **extra)) as nexus, anyio.fail_after(60):
                error, text, _ = await nexus.call(OWNER, "registry_register", {"record": record})
                assert not error, text
                outcomes[name] = await nexus.call(OWNER, "satellite_tools_list", {"app": "tls-sat", "refresh": True})
    _, trusted_text, trusted = outcomes["trusted"]
    assert [t["tool"] for t in trusted["tools"]] == ["echo"], trusted_text
    _, untrusted_text, untrusted = outcomes["untrusted"]
    assert not untrusted["tools"] and "CERTIFICATE_VERIFY_FAILED" in untrusted_text.upper().replace(" ", "_")
