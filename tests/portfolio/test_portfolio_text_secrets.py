"""Credentials written as prose in Markdown: found by their label, reported without their value."""

from __future__ import annotations

import pytest

from nexus_agent.portfolio._text_secrets import scan_labelled


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("Admin login for staging: rota-admin / Staging-Pa55word-7731", "password"),
        ("- Secret: `yard-tracker-plaintext-secret-4f9a`", "secret"),
        ("- **API key:** sk_live_abc123def456", "api_key"),
        ("Password = Correct-Horse-Battery", "password"),
    ],
)
def test_a_labelled_credential_is_a_finding_without_its_value(line: str, kind: str) -> None:
    [finding] = scan_labelled(f"# Notes\n\n{line}\n", "apps/x/README.md")

    assert (finding.kind, finding.location) == (kind, "apps/x/README.md:3")
    value = line.rsplit(" ", 1)[-1].strip("`")
    assert value not in repr(finding) and finding.preview == f"[{len(value)} chars]"


@pytest.mark.parametrize(
    "line",
    [
        "API key: see 1Password vault",
        "Webhook secret: stored in SATELLITE_X_WEBHOOK_SECRET",
        "token: ${API_TOKEN}",
        "Signature header: `x-nexus-signature` (HMAC-SHA256)",
        "Token endpoint: /api/auth/token",
        "Secret rotation: every 90 days",
        "Login: https://login.example.test/sso",
        "The staging site is at https://crew-rota-staging.example.test.",
    ],
)
def test_prose_about_credentials_is_not_a_finding(line: str) -> None:
    assert scan_labelled(line, "README.md") == []
