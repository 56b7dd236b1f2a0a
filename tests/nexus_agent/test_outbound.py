"""The outbound URL policy: the rules, and clients that check the resolved address at connect time."""

from __future__ import annotations

import anyio
import httpx
import httpx2
import pytest

from nexus_agent.outbound import OutboundPolicy, httpx2_client, httpx_client, refusal_of
from nexus_agent.testing import serve_in_thread
from nexus_agent.wire.errors import Forbidden

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://169.254.169.254/latest/meta-data/", "cloud-metadata"),
        ("http://169.254.10.1/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://[fd00:ec2::254]/", "cloud-metadata"),
        ("http://100.100.100.200/", "cloud-metadata"),
        ("http://metadata.google.internal./x", "cloud-metadata"),
        ("http://[::ffff:169.254.169.254]/", "cloud-metadata"),
        ("http://2852039166/", "cloud-metadata"),  # 169.254.169.254 as one decimal number
        ("http://0xa9.0xfe.0xa9.0xfe/", "cloud-metadata"),
        ("http://0.0.0.0:8080/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://224.0.0.251/", "multicast"),
        ("http://[ff02::1]/", "multicast"),
        ("http://255.255.255.255/", "reserved"),
        ("http://10.0.0.5/", "private"),
        ("http://192.168.1.10/", "private"),
        ("http://100.64.0.1/", "private"),
        ("http://[fc00::1]/", "private"),
        ("ftp://files.example.com/", "scheme"),
        ("file:///etc/passwd", "scheme"),
    ],
)
def test_refused_urls_name_their_rule(url: str, rule: str) -> None:
    with pytest.raises(Forbidden) as refused:
        OutboundPolicy().check_url(url, what="endpoints.mcp_url")
    assert refused.value.details["rule"] == rule
    assert "outbound URL policy" in refused.value.message and "endpoints.mcp_url" in refused.value.message
    assert refused.value.hint


def test_loopback_and_private_follow_the_settings() -> None:
    OutboundPolicy().check_url("http://127.0.0.1:8800/mcp")  # on by default: the demo runs locally
    OutboundPolicy().check_url("https://quotes.example.com/mcp")
    with pytest.raises(Forbidden, match="loopback addresses are not allowed"):
        OutboundPolicy(allow_loopback=False).check_url("http://[::1]:8800/mcp")
    OutboundPolicy(allow_private=True).check_url("http://10.0.0.5/mcp")
    with pytest.raises(Forbidden, match="link-local"):  # no setting opens the always-refused ranges
        OutboundPolicy(allow_private=True, allow_loopback=True).check_url("http://169.254.1.1/")


def _resolving_to(*addresses: str):
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


async def test_a_name_resolving_to_a_refused_address_is_refused_at_connect_time() -> None:
    policy = OutboundPolicy(resolver=_resolving_to("169.254.169.254"))
    policy.check_url("http://rebind.example/mcp")  # a name passes registration...
    async with httpx_client(policy) as http:  # ...and is refused where it resolves, with either library
        with pytest.raises(httpx.ConnectError) as one:
            await http.get("http://rebind.example/mcp")
    async with httpx2_client(policy) as http2:
        with pytest.raises(httpx2.ConnectError) as two:
            await http2.get("http://rebind.example/mcp")
    for raised in (one.value, two.value):
        refusal = refusal_of(raised)
        assert refusal is not None and refusal.details["rule"] == "cloud-metadata"
        assert "resolved to 169.254.169.254" in str(raised)


async def test_only_allowed_addresses_of_a_name_are_connected_to() -> None:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def hello(request: object) -> PlainTextResponse:
        return PlainTextResponse("hello")

    with serve_in_thread(Starlette(routes=[Route("/", hello)])) as base:
        port = int(base.rsplit(":", 1)[1])
        # The first address is refused; the client connects to the second, the allowed one.
        policy = OutboundPolicy(resolver=_resolving_to("169.254.169.254", "127.0.0.1"))
        async with httpx_client(policy) as http:
            with anyio.fail_after(10):
                answer = await http.get(f"http://mixed.example:{port}/")
    assert answer.text == "hello"


async def test_an_ordinary_connection_failure_is_not_a_refusal() -> None:
    from nexus_agent.testing import free_port

    async with httpx_client(OutboundPolicy()) as http:
        with pytest.raises(httpx.ConnectError) as failed:
            await http.get(f"http://127.0.0.1:{free_port()}/")
    assert refusal_of(failed.value) is None


def test_an_unreadable_ca_file_is_a_config_error(tmp_path) -> None:
    from nexus_agent.outbound import ssl_context
    from nexus_agent.wire.errors import ConfigError

    with pytest.raises(ConfigError, match="NEXUS_CA_FILE"):
        ssl_context(OutboundPolicy(ca_file=tmp_path / "missing.pem"))
