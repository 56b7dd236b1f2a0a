"""A stdio satellite is started with the environment its record maps, read only from the app's own variables."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pydantic
import pytest

from nexus_agent.wire.errors import Forbidden
from nexus_agent.wire.models import AppEndpoints, AppRecord, AppStatus
from tests.satellites.conftest import pool_for

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ENV_SERVER = """
import os
from mcp.server import MCPServer
server = MCPServer("envy")

@server.tool()
def env_of(name: str) -> str:
    return os.environ.get(name, "<unset>")

server.run()
"""


def envy(tmp_path: Path, mcp_env: dict[str, str]) -> AppRecord:
    script = tmp_path / "envy.py"
    script.write_text(ENV_SERVER)
    return AppRecord(
        slug="envy",
        name="Envy",
        status=AppStatus.active,
        endpoints=AppEndpoints(mcp_command=[sys.executable, str(script)], mcp_env=mcp_env),
    )


async def test_several_mapped_variables_reach_the_satellite_and_nothing_else(tmp_path: Path) -> None:
    record = envy(tmp_path, {"API_KEY": "SATELLITE_ENVY_API_KEY", "REGION": "SATELLITE_ENVY_REGION"})
    secrets = {
        "SATELLITE_ENVY_API_KEY": "k-0123456789abcdef",
        "SATELLITE_ENVY_REGION": "eu-west",
        "SATELLITE_OTHER_TOKEN": "other-0123456789abcdef",
    }
    async with pool_for([record], secrets=secrets, connect_timeout=20, call_timeout=20, list_timeout=20) as pool:
        with anyio.fail_after(40):
            seen = {n: (await pool.call("envy__env_of", {"name": n})).text for n in ("REGION", "SATELLITE_OTHER_TOKEN")}
    assert seen == {"REGION": "eu-west", "SATELLITE_OTHER_TOKEN": "<unset>"}


async def test_a_variable_of_another_app_blocks_the_satellite(tmp_path: Path) -> None:
    record = envy(tmp_path, {"API_KEY": "SATELLITE_OTHER_TOKEN"})
    async with pool_for([record], secrets={"SATELLITE_OTHER_TOKEN": "other-0123456789abcdef"}) as pool:
        with anyio.fail_after(20), pytest.raises(Forbidden) as exc:
            await pool.call("envy__env_of", {"name": "API_KEY"})
    assert "endpoints.mcp_env" in exc.value.user_message() and "SATELLITE_ENVY_" in exc.value.user_message()


def test_loader_variables_are_refused_in_a_record() -> None:
    with pytest.raises(pydantic.ValidationError, match="LD_PRELOAD"):
        AppEndpoints(mcp_command=["x"], mcp_env={"LD_PRELOAD": "SATELLITE_ENVY_LIB"})
