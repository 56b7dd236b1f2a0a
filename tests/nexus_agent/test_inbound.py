"""Inbound HTTP guards shared by Nexus and the kit: same-origin checks and the TLS 1.3 server context."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from nexus_agent.wire.errors import ConfigError
from nexus_agent.wire.inbound import AllowedHostsOnly, SameOriginOnly, origin_netloc, tls13_server_context


def app(allowed: list[str] | None = None) -> TestClient:
    async def hello(request: object) -> PlainTextResponse:
        return PlainTextResponse("hello")

    guarded = Starlette(routes=[Route("/", hello)], middleware=[Middleware(SameOriginOnly, allowed=allowed or [])])
    return TestClient(guarded, base_url="http://127.0.0.1:8765")


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        (None, 200),  # not a browser
        ("http://127.0.0.1:8765", 200),
        ("https://127.0.0.1:8765", 200),
        ("http://127.0.0.1:8766", 403),  # another port on the same host is another origin
        ("http://127.0.0.1", 403),
        ("http://localhost:8765", 403),
        ("http://evil.example", 403),
        ("null", 403),
        ("not a url", 403),
        ("https://console.example.com", 200),  # allowed explicitly
        ("https://console.example.com:8443", 403),
    ],
)
def test_origin_is_compared_in_full(origin: str | None, status: int) -> None:
    headers = {"Origin": origin} if origin else {}
    answer = app(["https://console.example.com"]).get("/", headers=headers)
    assert answer.status_code == status
    if status == 403:
        assert answer.json()["error"]["code"] == "forbidden"


def test_a_host_without_a_port_stands_for_either_default_port() -> None:
    client = app()
    assert (
        client.get("/", headers={"Host": "nexus.example.com", "Origin": "https://nexus.example.com"}).status_code == 200
    )
    assert (
        client.get("/", headers={"Host": "nexus.example.com", "Origin": "http://nexus.example.com:81"}).status_code
        == 403
    )


def test_origin_netloc_spells_out_default_ports() -> None:
    assert origin_netloc("https://Nexus.Example.com") == "nexus.example.com:443"
    assert origin_netloc("http://[::1]:8765") == "[::1]:8765"
    assert origin_netloc("http://x.example/path") is None


def test_the_server_context_is_tls_1_3_only_and_says_what_is_wrong(tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    assert tls13_server_context(cert_file, key_file).minimum_version is ssl.TLSVersion.TLSv1_3
    with pytest.raises(ConfigError, match="cannot load the TLS certificate"):
        tls13_server_context(tmp_path / "missing.pem", key_file)


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("127.0.0.1:8765", 200),
        ("localhost:9000", 200),
        ("[::1]:8765", 200),
        ("nexus.example.com", 200),  # an exact name, no port
        ("evil.example:8765", 421),  # DNS rebinding: another name resolving to 127.0.0.1
        ("127.0.0.1.evil.example:8765", 421),
        ("localhost", 421),  # a wildcard pattern wants a port, as the MCP SDK's check does
    ],
)
def test_only_allowed_hosts_are_answered(host: str, status: int) -> None:
    async def hello(request: object) -> PlainTextResponse:
        return PlainTextResponse("hello")

    allowed = ["127.0.0.1:*", "localhost:*", "[::1]:*", "nexus.example.com"]
    guarded = Starlette(routes=[Route("/", hello)], middleware=[Middleware(AllowedHostsOnly, allowed=allowed)])
    response = TestClient(guarded, base_url="http://127.0.0.1:8765").get("/", headers={"Host": host})
    assert response.status_code == status
    if status == 421:
        assert response.json()["error"]["code"] == "misdirected_request"
