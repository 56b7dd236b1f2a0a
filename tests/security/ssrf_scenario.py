"""The SSRF attacks, run by ``test_ssrf.py`` inside a network namespace (``unshare -n``) where it can.

Usage: ``python ssrf_scenario.py HOME [REBIND_HOST]``. Prints one JSON object: for each attack, whether
Nexus answered with an error and its text. ``REBIND_HOST`` is a name the caller made resolve to a
link-local address (an /etc/hosts bound into a private mount namespace), for the DNS-rebinding case.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from nexus_process import OWNER, NexusProcess, base_env, insert_raw_app, prepare_database

#: URLs a caller may try to make Nexus contact; every one must be refused when it is registered.
REGISTERED = {
    "metadata": "http://169.254.169.254/latest/meta-data/",
    "metadata-v6": "http://[fd00:ec2::254]/latest/meta-data/",
    "metadata-name": "http://metadata.google.internal/computeMetadata/v1/",
    "metadata-decimal": "http://2852039166/latest/meta-data/",
    "metadata-mapped-v6": "http://[::ffff:169.254.169.254]/",
    "link-local-v6": "http://[fe80::1]:8080/mcp",
    "unspecified": "http://0.0.0.0:8765/mcp",
    "multicast": "http://224.0.0.1/mcp",
    "private": "http://10.20.30.40/mcp",
}


async def attack(nexus: NexusProcess, rebind_host: str | None) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, url in REGISTERED.items():
        record = {"slug": f"ssrf-{name}", "name": "x", "status": "active", "endpoints": {"mcp_url": url}}
        error, text, _ = await nexus.call(OWNER, "registry_register", {"record": record})
        results[f"register:{name}"] = {"error": error, "text": text}
    hook = {"slug": "ssrf-hook", "name": "x", "endpoints": {"webhook_url": "http://169.254.169.254/hook"}}
    error, text, _ = await nexus.call(OWNER, "registry_register", {"record": hook})
    results["register:webhook"] = {"error": error, "text": text}
    # A row stored before the policy existed: refused when Nexus would connect.
    error, text, _ = await nexus.call(OWNER, "satellite_tools_list", {"app": "old-metadata", "refresh": True})
    results["connect:old-row"] = {"error": error, "text": text}
    _, _, health = await nexus.call(OWNER, "satellite_health", {})
    detail = {s["slug"]: s["detail"] for s in (health or {}).get("satellites", [])}
    results["health:old-row"] = {"text": detail.get("old-metadata", "")}
    if rebind_host:
        record = {
            "slug": "ssrf-rebind",
            "name": "x",
            "status": "active",
            "endpoints": {"mcp_url": f"http://{rebind_host}/mcp", "health_url": f"http://{rebind_host}/health"},
        }
        error, text, _ = await nexus.call(OWNER, "registry_register", {"record": record})
        results["register:rebind"] = {"error": error, "text": text}
        error, text, _ = await nexus.call(OWNER, "satellite_tools_list", {"app": "ssrf-rebind", "refresh": True})
        results["connect:rebind"] = {"error": error, "text": text}
    return results


def main() -> None:
    home = Path(sys.argv[1])
    rebind_host = sys.argv[2] if len(sys.argv) > 2 else None
    nexus = NexusProcess(home, base_env(home))
    prepare_database(nexus)
    old = {"mcp_url": "http://169.254.169.254/latest/meta-data/", "health_url": "http://169.254.169.254/"}
    insert_raw_app(home / "nexus.db", {"slug": "old-metadata", "name": "Old", "status": "active", "endpoints": old})
    with nexus:
        results = anyio.run(bounded, nexus, rebind_host)
    print(json.dumps(results))


async def bounded(nexus: NexusProcess, rebind_host: str | None) -> dict[str, Any]:
    with anyio.fail_after(120):
        return await attack(nexus, rebind_host)


if __name__ == "__main__":
    main()
