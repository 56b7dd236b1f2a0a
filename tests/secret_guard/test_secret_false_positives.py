"""Realistic registry records, as Nexus stores them, hold no findings: the guard must not block normal writes."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid

import pytest

from nexus_agent.wire.models import AppRecord
from nexus_agent.wire.secret_guard import ensure_no_secrets, scan

RECORDS = [
    {
        "slug": "quote-engine",
        "name": "Quote Engine",
        "category": "estimating",
        "description": (
            "Prices aluminium windows, doors and shopfronts. Applies margin rules (15% minimum, 25% target), "
            "customer tier discounts and renders PDF quotes. Token-based customer login is handled by the portal; "
            "webhook secrets are rotated monthly and read from the environment. See "
            "https://docs.example.test/quote-engine/v2/pricing-rules?section=margins&lang=en-GB#tiers for details. "
            "Correlation ids look like 3fa85f64-5717-4562-b3fc-2c963f66afa6; build 9f2c1e7 (commit "
            "3f9a2b7c8d1e4f5a6b7c8d9e0f1a2b3c4d5e6f70)."
        ),
        "version": "2.10.3-rc.1+build.20251103",
        "status": "active",
        "capabilities": [
            "Quote generation with margin checks",
            {"name": "Password reset emails for trade customers", "description": "Sends a one-time link."},
            {"name": "API key rotation reminders", "description": "Warns the owner 14 days before expiry."},
        ],
        "workflows": [
            {
                "name": "Price an enquiry",
                "description": "Triggered by quote.requested. Outputs quote.generated.",
                "steps": [
                    "Read enquiry ENQ-2025-014",
                    "Apply tier discount",
                    "Render PDF to /tmp/quotes/QUO-2025-031.pdf",
                ],
            }
        ],
        "business_rules": [
            "Margin below 15% needs T1 approval (when margin < 0.15 then request approval) [priority high]"
        ],
        "integrations": ["NEXUS", "MCP-OPERATIONS", "SharePoint", "Xero"],
        "endpoints": {
            "mcp_url": "https://quote-engine.example.test:8443/mcp",
            "health_url": "https://quote-engine.example.test/api/health",
            "webhook_url": "https://quote-engine.example.test/api/webhooks/nexus",
            "message_handler_url": "https://quote-engine.example.test/api/messages/handle",
            "token_env": "QUOTE_ENGINE_TOKEN",
            "webhook_secret_env": "QUOTE_ENGINE_WEBHOOK_SECRET",
        },
        "subscribes_to": ["quote.requested", "nexus.task.assigned", "customer.tier_changed"],
        "message_types": ["query.customer_data", "query.quote_status", "action.generate_quote"],
        "owner": "estimating-team@example.test",
        "tags": ["pricing", "pdf", str(uuid.UUID(int=0x1234_5678_9ABC_DEF0_1234_5678_9ABC_DEF0))],
    },
    {
        "slug": "stock-ledger",
        "name": "Stock Ledger",
        "endpoints": {"mcp_command": ["uvx", "stock-ledger-mcp", "--yard=north", "--log-level=INFO"]},
        "description": "Tracks EXT-6063-50x50 extrusions, glass and hardware; ref QUOTE-ENGINE-1762180000000.",
        "capabilities": ["Stock levels per yard", "Reservations against orders", "Low-stock alerts"],
        "tags": ["inventory", "ReservationLedgerHandlerV2Factory2025"],
    },
    {"slug": "site-survey", "name": "Site Survey Companion", "status": "placeholder"},
]


@pytest.mark.parametrize("data", RECORDS, ids=[r["slug"] for r in RECORDS])
def test_a_realistic_app_record_has_no_findings(data: dict) -> None:  # type: ignore[type-arg]
    record = AppRecord.model_validate(data)
    assert scan(record.model_dump(mode="json"), location="record") == []
    assert scan(record.model_dump_json(), location="record") == []  # as text, e.g. in a log line
    ensure_no_secrets(record.model_dump(mode="json"), "record", "register")


# -- honest data that looks random ------------------------------------------------------------------------------------
def _b64_digest(algorithm: str, data: bytes) -> str:
    return base64.b64encode(hashlib.new(algorithm, data).digest()).decode()


HONEST_TEXT = {
    "npm lock file": json.dumps(
        {
            "packages": {
                "node_modules/left-pad": {
                    "version": "1.3.0",
                    "resolved": "https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz",
                    "integrity": "sha512-" + _b64_digest("sha512", b"left-pad"),
                }
            }
        },
        indent=2,
    ),
    "yarn lock file": (
        'left-pad@^1.3.0:\n  version "1.3.0"\n  resolved "https://registry.yarnpkg.com/left-pad/-/left-pad-1.3.0.tgz"\n'
        f"  integrity sha512-{_b64_digest('sha512', b'yarn')}\n"
    ),
    "pnpm lock file": f"  /left-pad@1.3.0:\n    resolution: {{integrity: sha512-{_b64_digest('sha512', b'pnpm')}}}\n",
    "subresource integrity": f'<script src="/app.js" integrity="sha384-{_b64_digest("sha384", b"js")}"></script>',
    "go.sum": f"golang.org/x/text v0.14.0 h1:{_b64_digest('sha256', b'go')}\n",
    "nix hash": f'  hash = "sha256-{_b64_digest("sha256", b"nix")}";',
    "docker build output": (
        f"#8 exporting layers done\n#8 writing image sha256:{hashlib.sha256(b'img').hexdigest()} done\n"
        f"#8 naming to docker.io/sfg/quote-engine:2.10.3 done\n"
    ),
    "build digests": (
        f'dist/app.js  142 kB  digest: {_b64_digest("sha256", b"app")}\nETag: "{_b64_digest("md5", b"e")}"'
    ),
    "pip hashes": f"requests==2.31.0 \\\n    --hash=sha256:{hashlib.sha256(b'requests').hexdigest()}",
    "git log": f"commit {hashlib.sha1(b'c').hexdigest()}\nMerge: 9f2c1e7 3f9a2b7\nAuthor: Warren <w@sfg.test>",
    "uuids": " ".join(str(uuid.uuid4()) for _ in range(5)),
    "ipfs id": "pinned QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG",
    "inline image": "![chart](data:image/png;base64," + base64.b64encode(bytes(range(256)) * 3).decode() + ")",
}


@pytest.mark.parametrize("name", HONEST_TEXT)
def test_hashes_ids_and_payloads_in_text_are_not_secrets(name: str) -> None:
    text = HONEST_TEXT[name]
    assert scan(text) == []
    assert scan({"output": text}) == []


def test_a_random_token_in_the_same_places_is_still_found() -> None:
    """The exemptions are about what precedes the value, not about the value: a bare random token is found."""
    token = base64.b64encode(hashlib.sha512(b"not a digest").digest()).decode()
    assert [f.kind for f in scan(f"key {token}")] == ["high_entropy"]
    assert [f.kind for f in scan(f"data:text/plain;base64,{token}")] == ["high_entropy"]


def test_data_beside_a_type_that_is_not_a_string_is_judged_not_a_crash() -> None:
    """Any JSON value may stand under "type"; next to base64 "data" a list or an object used to raise TypeError
    (unhashable) inside the guard. It is simply not MCP image or audio content: its data is judged as text."""
    assert scan({"type": {"kind": "image"}, "data": "aGVsbG8gd29ybGQ="}) == []
    assert scan({"type": ["image"], "data": "aGVsbG8gd29ybGQ="}) == []
    token = "ghp_" + "a1B2" * 9
    (finding,) = scan({"type": ["image"], "data": token})
    assert finding.kind == "github_token" and finding.location == "data"
