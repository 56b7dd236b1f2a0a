"""Role escalation attempts through a real `nexus serve --http` on 127.0.0.1, with real MCP clients.

Five credentials: the owner, a satellite scoped to `yard-app`, two agents and a monitor, all from
NEXUS_TOKENS (`name:role[:app]=token`). A satellite token is tried against every admin tool and
against another app's data: each attempt is a `[forbidden]` tool error naming the role, changes
nothing, and is remembered (a memory note tagged `security`). Each caller sees only its own tools.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from nexus_agent.testing import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

OWNER = "owner-token-for-role-tests-0123"
SATELLITE = "yard-token-for-role-tests-01234"
AGENT = "agent-token-for-role-tests-0123"
OTHER_AGENT = "agent2-token-for-role-tests-012"
MONITOR = "monitor-token-for-role-tests-01"
JWT_SECRET = "jwt-key-for-role-tests-" + "x" * 24
EVIL = "http://127.0.0.1:9/mcp"
SATELLITE_TOOLS = {"registry_get", "registry_register", "instruction_list", "instruction_get", "instruction_report"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Nexus:
    url: str
    home: Path
    env: dict[str, str]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "nexus_agent", *args], env=self.env, capture_output=True, text=True, timeout=60
        )

    @asynccontextmanager
    async def client(self, token: str) -> AsyncIterator[Client]:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http,
            Client(streamable_http_client(f"{self.url}/mcp", http_client=http)) as client,
        ):
            yield client


def nexus_env(home: Path) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("NEXUS_", "SATELLITE_", "ANTHROPIC_"))}
    tokens = [
        f"boss:owner={OWNER}",
        f"yard:satellite:yard-app={SATELLITE}",
        f"bot:agent={AGENT}",
        f"bot-two:agent={OTHER_AGENT}",
        f"watch:monitor={MONITOR}",
    ]
    return {
        **inherited,
        "NEXUS_HOME": str(home),
        "NEXUS_DB_SYNC": "normal",
        "NEXUS_TOKENS": ",".join(tokens),
        "NEXUS_JWT_SECRET": JWT_SECRET,
    }


def register(nexus: Nexus, record: dict[str, Any]) -> None:
    path = nexus.home / f"{record['slug']}.json"
    path.write_text(json.dumps(record))
    done = nexus.cli("registry", "register", str(path))
    assert done.returncode == 0, done.stderr


async def wait_until_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    with anyio.fail_after(60):
        while proc.poll() is None:
            try:
                httpx.get(f"{url}/api/health", timeout=1)
                return
            except httpx.TransportError:
                await anyio.sleep(0.05)
    raise AssertionError(f"nexus serve exited with {proc.returncode}")


@pytest.fixture(scope="module")
def nexus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nexus]:
    home = tmp_path_factory.mktemp("nexus-roles")
    url = f"http://127.0.0.1:{free_port()}"
    server = Nexus(url=url, home=home, env=nexus_env(home))
    register(server, {"slug": "quote-engine", "name": "Quote Engine", "status": "approved", "endpoints": {}})
    register(server, {"slug": "yard-app", "name": "Yard", "status": "placeholder"})
    with (home / "serve.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nexus_agent", "serve", "--http", url.removeprefix("http://")],
            env=server.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            anyio.run(wait_until_up, url, proc)
            yield server
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise


def text_of(result: Any) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)


def status_of(nexus: Nexus, slug: str) -> str:
    shown = nexus.cli("registry", "show", slug, "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    return str((data.get("app") or data)["status"])


async def tool_names(nexus: Nexus, token: str) -> set[str]:
    async with nexus.client(token) as client:
        return {t.name for t in (await client.list_tools()).tools}


async def test_each_caller_is_shown_only_the_tools_its_role_may_call(nexus: Nexus) -> None:
    owner, satellite = await tool_names(nexus, OWNER), await tool_names(nexus, SATELLITE)
    agent, monitor = await tool_names(nexus, AGENT), await tool_names(nexus, MONITOR)
    assert {"registry_set_status", "registration_approve", "plan_approve", "instruction_create"} <= owner
    assert satellite == SATELLITE_TOOLS
    assert monitor == {"registry_list", "instruction_list", "satellite_tools_list", "satellite_health", "nexus_health"}
    assert {"instruct", "plan_get", "plan_resume", "memory_search", "registry_get"} <= agent
    # Agents may not approve unless the owner sets NEXUS_AGENTS_MAY_APPROVE, nor administer anything.
    assert not agent & {"plan_approve", "plan_reject", "registry_set_status", "registry_register", "memory_remember"}


ATTACKS = [
    (
        "registry_register",  # take over another app: its endpoint redirected, straight to active
        {"record": {"slug": "quote-engine", "name": "Mine", "status": "active", "endpoints": {"mcp_url": EVIL}}},
    ),
    ("registry_set_status", {"slug": "quote-engine", "status": "suspended", "reason": "takeover"}),
    ("registration_approve", {"issue_number": 1, "reason": "self-approval"}),
    ("plan_approve", {"plan_id": 1}),
    ("instruction_create", {"targets": ["quote-engine"], "action": "delete_all_quotes"}),
    ("registry_get", {"slug": "quote-engine"}),
    ("instruction_list", {"target": "quote-engine"}),
    ("memory_search", {"query": "quote"}),
]


@pytest.mark.parametrize(("tool", "arguments"), ATTACKS, ids=[a[0] for a in ATTACKS])
async def test_a_satellite_token_cannot_use_admin_tools_or_read_other_apps(
    nexus: Nexus, tool: str, arguments: dict[str, Any]
) -> None:
    async with nexus.client(SATELLITE) as client:
        result = await client.call_tool(tool, arguments)
    text = text_of(result)
    assert result.is_error
    assert text.startswith("[forbidden]"), text
    assert "satellite" in text and "yard-app" in text  # names the role, its scope and what it may do
    assert "endpoints" not in json.dumps(result.structured_content or {})
    assert status_of(nexus, "quote-engine") == "approved"  # nothing changed
    async with nexus.client(OWNER) as owner:
        notes = await owner.call_tool(
            "memory_search", {"query": "Refused", "tag": "security", "app": "yard-app", "limit": 100}
        )
    titles = [hit["title"] for hit in (notes.structured_content or {}).get("hits", [])]
    assert any(tool in title for title in titles), titles  # who, what (and when, in the note) are remembered


async def test_a_satellite_registers_itself_only_as_pending(nexus: Nexus) -> None:
    record = {"slug": "yard-app", "name": "Yard", "status": "active", "endpoints": {"mcp_url": EVIL}}
    async with nexus.client(SATELLITE) as client:
        result = await client.call_tool("registry_register", {"record": record, "reason": "self-registration"})
        own = await client.call_tool("registry_get", {"slug": "yard-app"})
    assert not result.is_error, text_of(result)
    assert status_of(nexus, "yard-app") == "pending"  # asked for active: only the owner approves
    assert not own.is_error and own.structured_content["app"]["slug"] == "yard-app"


async def test_a_satellite_reads_only_its_own_app_resource(nexus: Nexus) -> None:
    async with nexus.client(SATELLITE) as client:
        own = await client.read_resource("nexus://apps/yard-app")
        for uri in ("nexus://apps/quote-engine", "nexus://registry"):
            with pytest.raises(Exception, match="forbidden") as refused:
                await client.read_resource(uri)
            assert "127.0.0.1" not in str(refused.value)  # nothing of the other app's endpoints leaks
    assert json.loads(own.contents[0].text)["slug"] == "yard-app"  # type: ignore[union-attr]


async def test_the_owner_token_can_do_what_the_satellite_could_not(nexus: Nexus) -> None:
    async with nexus.client(OWNER) as client:
        result = await client.call_tool(
            "registry_set_status", {"slug": "quote-engine", "status": "suspended", "reason": "owner's call"}
        )
        await client.call_tool("registry_set_status", {"slug": "quote-engine", "status": "approved", "reason": "back"})
    assert not result.is_error, text_of(result)
    history = json.loads(nexus.cli("registry", "show", "quote-engine", "--json").stdout)["history"]
    assert any(h["changed_by"] == "boss" and h["new_status"] == "suspended" for h in history)


async def test_an_agent_handles_only_its_own_plans(nexus: Nexus) -> None:
    async with nexus.client(OWNER) as owner:
        owners = await owner.call_tool("instruct", {"instruction": "list the apps in the registry"})
    async with nexus.client(AGENT) as agent:
        mine = await agent.call_tool("instruct", {"instruction": "which apps are registered?"})
        assert not mine.is_error, text_of(mine)
        own_id, other_id = mine.structured_content["plan_id"], owners.structured_content["plan_id"]
        seen = await agent.call_tool("plan_get", {"plan_id": own_id})
        theirs = await agent.call_tool("plan_get", {"plan_id": other_id})
        approve = await agent.call_tool("plan_approve", {"plan_id": other_id})
    assert not seen.is_error and seen.structured_content["started_by"] == "bot"
    assert theirs.is_error and "did not start" in text_of(theirs)
    assert approve.is_error and text_of(approve).startswith("[forbidden]")
    async with nexus.client(OTHER_AGENT) as other:
        stranger = await other.call_tool("plan_get", {"plan_id": own_id})
    assert stranger.is_error and "did not start" in text_of(stranger)  # same role, another agent


async def test_an_agents_plan_runs_only_tools_an_agent_may_call(nexus: Nexus) -> None:
    async with nexus.client(AGENT) as agent:
        plan = await agent.call_tool("instruct", {"instruction": "suspend quote-engine because it is broken"})
    offered = set(plan.structured_content["tools_offered"])
    assert not offered & {"registry_set_status", "registry_register", "memory_remember", "instruction_create"}
    assert all(call["tool"] != "registry_set_status" for call in plan.structured_content["calls"])
    assert status_of(nexus, "quote-engine") == "approved"


async def test_a_satellite_reports_only_on_its_own_instructions(nexus: Nexus) -> None:
    async with nexus.client(OWNER) as owner:
        made = await owner.call_tool(
            "instruction_create", {"targets": ["yard-app", "quote-engine"], "action": "count_stock"}
        )
    assert not made.is_error, text_of(made)
    ids = {i["target"]: i["id"] for i in made.structured_content["instructions"]}
    async with nexus.client(SATELLITE) as yard:
        mine = await yard.call_tool("instruction_list", {})
        done = await yard.call_tool(
            "instruction_report", {"id": ids["yard-app"], "status": "completed", "result_summary": "42 bars"}
        )
        theirs = await yard.call_tool("instruction_report", {"id": ids["quote-engine"], "status": "failed"})
    assert {i["target"] for i in mine.structured_content["items"]} == {"yard-app"}
    assert not done.is_error, text_of(done)
    assert done.structured_content["outcome"] == "completed"
    assert theirs.is_error and text_of(theirs).startswith("[forbidden]")
    async with nexus.client(OWNER) as owner:
        other = await owner.call_tool("instruction_get", {"id": ids["quote-engine"]})
    assert other.structured_content["status"] != "failed"  # the refused report changed nothing


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def list_tools_status(nexus: Nexus, token: str) -> httpx.Response:
    return httpx.post(
        f"{nexus.url}/mcp",
        headers={**bearer(token), "content-type": "application/json", "accept": "application/json, text/event-stream"},
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
        timeout=30,
    )


async def test_api_keys_are_created_shown_once_listed_and_revoked_through_the_cli(nexus: Nexus) -> None:
    created = nexus.cli("keys", "create", "--role", "satellite", "--app", "yard-app", "--name", "yard-key", "--json")
    assert created.returncode == 0, created.stderr
    issued = json.loads(created.stdout)
    key = issued["key"]
    assert key.startswith("nxk_") and issued["role"] == "satellite" and issued["app"] == "yard-app"
    listing = nexus.cli("keys", "list", "--json")
    secret_part = key.split("_", 2)[2]  # nxk_<id>_<secret>; the secret itself may contain '_'
    stored = nexus.home.joinpath("nexus.db").read_bytes().decode("latin-1")
    assert key not in listing.stdout and len(secret_part) >= 20 and secret_part not in stored
    assert any(k["id"] == issued["id"] and k["state"] == "active" for k in json.loads(listing.stdout))
    assert await tool_names(nexus, key) == SATELLITE_TOOLS

    exchanged = httpx.post(f"{nexus.url}/api/auth/token", headers=bearer(key), json={"ttl": "5m"}, timeout=30)
    assert exchanged.status_code == 200, exchanged.text
    jwt = exchanged.json()["access_token"]
    assert exchanged.json()["role"] == "satellite" and await tool_names(nexus, jwt) == await tool_names(nexus, key)

    revoked = nexus.cli("keys", "revoke", issued["id"])
    assert revoked.returncode == 0, revoked.stderr
    for token, reason in ((key, "API key revoked"), (jwt, "token revoked")):
        answer = list_tools_status(nexus, token)
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "unauthorized" and answer.json()["error"]["message"] == reason
    assert any(k["state"] == "revoked" for k in json.loads(nexus.cli("keys", "list", "--json").stdout))


async def test_only_an_api_key_can_be_exchanged_for_a_jwt(nexus: Nexus) -> None:
    answer = httpx.post(f"{nexus.url}/api/auth/token", headers=bearer(SATELLITE), timeout=30)
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "forbidden"
    assert httpx.post(f"{nexus.url}/api/auth/token", timeout=30).status_code == 401


def signed(claims: dict[str, Any], key: str = JWT_SECRET) -> str:
    import jwt

    base = {"iss": "nexus", "aud": "nexus-mcp", "sub": "yard", "role": "satellite", "app": "yard-app", "iat": 1}
    return jwt.encode({**base, "exp": 4_000_000_000, **claims}, key, algorithm="HS256")


async def test_bad_jwts_get_401_saying_which(nexus: Nexus) -> None:
    good = signed({})
    header, payload, signature = good.split(".")
    import base64

    forged = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged["role"] = "owner"
    tampered_payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
    cases = {
        "token expired": signed({"exp": 1_000}),
        "token has the wrong audience": signed({"aud": "someone-else"}),
        "token signature is invalid (tampered or signed with another key)": f"{header}.{tampered_payload}.{signature}",
    }
    assert await tool_names(nexus, good) == await tool_names(nexus, SATELLITE)
    for reason, token in cases.items():
        answer = list_tools_status(nexus, token)
        assert answer.status_code == 401, (reason, answer.text)
        assert answer.json()["error"] == {**answer.json()["error"], "code": "unauthorized", "message": reason}
    issued = nexus.cli("keys", "jwt", "--role", "monitor", "--ttl", "2m")
    assert issued.returncode == 0, issued.stderr
    assert await tool_names(nexus, issued.stdout.strip()) == await tool_names(nexus, MONITOR)


async def test_a_satellites_change_to_its_live_record_waits_for_the_owners_review(nexus: Nexus) -> None:
    live = {"slug": "yard-app", "name": "Yard", "status": "active", "endpoints": {"mcp_url": EVIL}}
    async with nexus.client(OWNER) as owner:
        made = await owner.call_tool("registry_register", {"record": live, "reason": "deployed"})
    assert not made.is_error, text_of(made)
    assert status_of(nexus, "yard-app") == "active"
    change = {**live, "description": "Purges stock", "message_types": ["query.purge_all_stock"]}
    async with nexus.client(SATELLITE) as client:
        result = await client.call_tool("registry_register", {"record": change, "reason": "new feature"})
    assert not result.is_error, text_of(result)
    assert status_of(nexus, "yard-app") == "pending"  # its tools are not offered until the owner approves
    async with nexus.client(OWNER) as owner:
        approved = await owner.call_tool(
            "registry_set_status", {"slug": "yard-app", "status": "active", "reason": "reviewed"}
        )
    assert not approved.is_error, text_of(approved)
    assert status_of(nexus, "yard-app") == "active"


async def test_each_caller_is_listed_only_the_resources_it_may_read(nexus: Nexus) -> None:
    async def listed(token: str) -> set[str]:
        async with nexus.client(token) as client:
            return {str(r.uri) for r in (await client.list_resources()).resources}

    assert "nexus://registry" in await listed(OWNER)
    assert "nexus://registry" in await listed(MONITOR)
    assert "nexus://registry" not in await listed(SATELLITE)  # it could not read it either


async def test_an_agent_reads_only_the_conversations_of_plans_it_started(nexus: Nexus) -> None:
    async with nexus.client(OWNER) as owner:
        owners = await owner.call_tool("instruct", {"instruction": "list the apps in the registry"})
    async with nexus.client(AGENT) as agent:
        mine = await agent.call_tool("instruct", {"instruction": "which apps are registered?"})
        own_conv, other_conv = mine.structured_content["conversation_id"], owners.structured_content["conversation_id"]
        seen = await agent.call_tool("memory_get_conversation", {"conversation_id": own_conv})
        theirs = await agent.call_tool("memory_get_conversation", {"conversation_id": other_conv})
    assert not seen.is_error, text_of(seen)
    assert theirs.is_error and text_of(theirs).startswith("[forbidden]") and "did not start" in text_of(theirs)
    assert "list the apps" not in text_of(theirs)  # nothing of the owner's conversation leaks
