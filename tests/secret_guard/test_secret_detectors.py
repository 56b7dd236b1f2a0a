"""Each detector finds its secret and ignores its near-misses; findings never carry the value."""

from __future__ import annotations

import string

import pytest

from nexus_agent.wire.secret_guard import SecretFinding, is_env_reference, is_placeholder, is_secret_name, scan
from tests.secret_guard.fakes import fake

UPPER_DIGITS = string.ascii_uppercase + string.digits
URLSAFE = string.ascii_letters + string.digits + "-_"
PEM_BEGIN, PEM_END = "-----BEGIN RSA PRIVATE" + " KEY-----", "-----END RSA PRIVATE" + " KEY-----"

POSITIVES = {
    "private_key": f"{PEM_BEGIN}\n{fake('', 64)}\n{fake('', 64, seed=8)}\n{PEM_END}",
    "github_token": fake("ghp_", 36),
    "github_pat": fake("github_pat_", 40, string.ascii_letters + string.digits + "_"),
    "github_app_token": fake("ghs_", 36, seed=3),
    "aws_access_key_id": fake("AKIA", 16, UPPER_DIGITS),
    "aws_secret_key": "aws_secret_access_key = " + fake("", 40, string.ascii_letters + string.digits + "/+"),
    "slack_token": fake("xoxb-1234-", 24, URLSAFE.replace("_", "")),
    "slack_webhook_url": "https://hooks.slack.com/services/" + fake("T0", 8, UPPER_DIGITS) + "/" + fake("B", 24),
    "stripe_key": fake("sk_" + "live_", 24),
    "google_api_key": fake("AIza", 35, URLSAFE),
    "anthropic_key": fake("sk-ant-" + "api03-", 80, URLSAFE),
    "openai_key": fake("sk-proj-", 48),
    "jwt": "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiJxdW90ZS1lbmdpbmUifQ." + fake("", 43, URLSAFE),
    "bearer_token": "Authorization: Bearer " + fake("", 40),
    "url_credentials": "postgres://nexus:" + fake("", 16) + "@db.example.test:5432/nexus",
    "high_entropy": "the value was " + fake("", 43, URLSAFE, seed=11) + " yesterday",
}
EXPECTED_KIND = {"github_pat": "github_token", "github_app_token": "github_token"}


@pytest.mark.parametrize("name", sorted(POSITIVES))
def test_each_detector_finds_its_secret_in_text(name: str) -> None:
    findings = scan(POSITIVES[name], location="text")
    assert [f.kind for f in findings] == [EXPECTED_KIND.get(name, name)]
    assert findings[0].location == "text"
    assert findings[0].severity == ("medium" if name == "high_entropy" else "high")


@pytest.mark.parametrize("name", sorted(POSITIVES))
def test_a_finding_never_contains_the_secret(name: str) -> None:
    for finding in scan(POSITIVES[name]):
        secret_part = POSITIVES[name].split()[-1][-12:]
        assert secret_part not in repr(finding) and secret_part not in str(finding.to_dict())
        assert "…[" in finding.preview


NEAR_MISSES = [
    "ghp_short",  # too short for a GitHub token
    "AKIA" + "lowercase1234567",  # AWS key ids are upper case
    "xoxb-short",  # too short for Slack
    "sk-task-assignment-notifications",  # an 'sk-' slug, not an OpenAI key (no mixed case and digits)
    "sk_live_short",
    "Bearer <token>",
    "Bearer ${NEXUS_TOKEN}",
    "Bearer authentication-is-required-here",  # words, not a token
    "eyJhbGciOiJIUzI1NiJ9 is only a JWT header",
    "https://glazing-scheduler.example.test:8443/api/webhooks/nexus",
    "http://localhost:8800/mcp",
    "postgres://nexus@db.example.test/nexus",  # a user but no password
    "postgres://nexus:${DB_PASSWORD}@db/nexus",  # a reference, not a password
    "-----BEGIN PUBLIC KEY----- is fine to publish",
    "commit 3f9a2b7c8d1e4f5a6b7c8d9e0f1a2b3c4d5e6f70 fixed the quote totals",
    "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "request 3fa85f64-5717-4562-b3fc-2c963f66afa6 was retried",
    "QuoteEngineRegistrationHandlerV2Factory2025 handles re-registrations",
    "getCustomerQuoteByIdAndVersion2AndTierDiscount is the handler name",
    "/api/v1/customers/quote-requests/attachments/upload-from-portal",
    "the token: expired, so the owner rotated it",
    "Password: reset by email",
    "usage input_tokens=150000 output_tokens=2048",
]


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_misses_are_not_secrets(text: str) -> None:
    assert scan(text) == []


@pytest.mark.parametrize(
    "field",
    ["webhook_secret", "secret", "apiKey", "X-Api-Key", "client_secret", "password", "passwd", "private_key",
     "signingKey", "auth_token", "accessToken", "credentials", "SLACK_SIGNING_SECRET"],
)  # fmt: skip
def test_a_secret_named_field_with_a_literal_is_a_finding(field: str) -> None:
    findings = scan({"config": {field: "glazing-demo-value-2025"}}, location="app.json:$")
    assert findings == [SecretFinding("secret_field", f"app.json:$.config.{field}", "glaz…[23 chars]", "high")]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("token_env", "QUOTE_ENGINE_TOKEN"),
        ("secret_env_var", "NEXUS_WEBHOOK_SECRET"),
        ("webhook_secret", "${GLAZING_WEBHOOK_SECRET}"),
        ("webhook_secret", "$GLAZING_WEBHOOK_SECRET"),
        ("api_key", "env:VENDOR_API_KEY"),
        ("token", "${{ secrets.NEXUS_TOKEN }}"),
        ("password", "op://vault/nexus/password"),
        ("password", "GLAZING_DB_PASSWORD"),
        ("secret", ""),
        ("signature_header", "x-nexus-signature"),
        ("signature_algorithm", "HMAC-SHA256"),
        ("authentication", "HMAC-SHA256"),
        ("auth", "none"),
        ("auth", "HMAC-SHA256"),
        ("password_hash", "pbkdf2_sha256$600000$abc$def"),
        ("token_type", "Bearer"),
        ("token_url", "https://auth.example.test/oauth/token"),
        ("max_tokens", "4096"),
    ],
)
def test_references_and_non_secret_fields_are_not_findings(field: str, value: str) -> None:
    assert scan({field: value}) == []


def test_numbers_booleans_and_nulls_are_never_secrets() -> None:
    assert scan({"auth_required": True, "password": None, "token": 12345678, "secret": False}) == []


@pytest.mark.parametrize(
    "value", ["changeme", "CHANGE_ME", "<your webhook secret>", "xxxxxxxx", "your-token-here", "***"]
)
def test_placeholders_in_secret_fields_are_low_severity_findings(value: str) -> None:
    assert [(f.kind, f.severity) for f in scan({"webhook_secret": value})] == [("placeholder_secret", "low")]


def test_auth_fields_count_only_when_the_value_looks_like_a_credential() -> None:
    credential = fake("", 24)
    assert [f.kind for f in scan({"auth": credential})] == ["secret_field"]


def test_a_reference_with_a_secret_default_is_still_a_secret() -> None:
    assert [f.severity for f in scan({"token": "${NEXUS_TOKEN:-" + fake("ghp_", 36) + "}"})] == ["high"]


def test_every_string_in_a_list_under_a_secret_name_is_a_finding() -> None:
    findings = scan({"tokens": ["first-token-value-1", "second-token-value-2"]}, location="settings")
    assert [f.location for f in findings] == ["settings.tokens[0]", "settings.tokens[1]"]


def test_paths_name_nested_fields_list_items_and_odd_keys() -> None:
    data = {
        "incoming_webhooks": [{"event": "quote.requested"}, {"event": "x", "secret": "quote-engine-hook-9"}],
        "odd keys": {"api key": "vendor-key-abc123"},
        "notes": ["deploy with " + fake("ghp_", 36)],
    }
    locations = [f.location for f in scan(data, location="apps/quote-engine/config/webhooks.json:$")]
    assert locations == [
        "apps/quote-engine/config/webhooks.json:$.incoming_webhooks[1].secret",
        'apps/quote-engine/config/webhooks.json:$["odd keys"]["api key"]',
        "apps/quote-engine/config/webhooks.json:$.notes[0]",
    ]


def test_a_secret_inside_an_ordinary_field_is_found_by_its_shape() -> None:
    findings = scan({"description": "Call it with Bearer " + fake("", 40)}, location="record")
    assert [(f.kind, f.location) for f in findings] == [("bearer_token", "record.description")]


def test_bytes_are_scanned_as_text() -> None:
    assert [f.kind for f in scan(fake("ghp_", 36).encode())] == ["github_token"]


def test_hash_named_fields_are_not_high_entropy_findings() -> None:
    digest = fake("", 44, string.ascii_letters + string.digits + "+/")
    assert scan({"integrity": "sha512-" + digest, "commit_sha": digest}) == []
    assert [f.kind for f in scan({"note": digest})] == ["high_entropy"]


def test_name_and_value_helpers() -> None:
    assert is_secret_name("webhookSecret") and is_secret_name("tokens") and not is_secret_name("token_env")
    assert is_env_reference("${X}") and is_env_reference("NEXUS_TOKEN") and not is_env_reference("glazing_secret")
    assert is_placeholder("changeme") and not is_placeholder("glazing-demo-secret")


def _variants(text: str) -> list[str]:
    """The text as it comes: alone, in a JSON answer, upper- and lower-cased, after a Unicode look-alike."""
    import json

    return [text, json.dumps({"note": text, "n": 1}), text.upper(), text.lower(), "ſK ı " + text]


def test_the_literal_prefilter_never_hides_a_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each detector's regex runs only when its literal is in the text (_secret_text._NEEDS): the same findings
    as running every regex over every text, on every detector's secret and near-miss in every variant."""
    from nexus_agent.wire import _secret_text

    texts = [v for t in [*POSITIVES.values(), *NEAR_MISSES] for v in _variants(t)]
    filtered = [_secret_text.text_hits(t) for t in texts]
    every = list(range(len(_secret_text._PATTERNS)))
    monkeypatch.setattr(_secret_text, "_may_run", lambda text, lower: every)
    assert [_secret_text.text_hits(t) for t in texts] == filtered
    assert sum(bool(f) for f in filtered) >= len(POSITIVES) * 3  # the variants do hold secrets


def test_the_prefilter_finds_every_detector_whose_literal_is_anywhere_in_the_text() -> None:
    """One regex pass names only the longest literal starting at each place: a literal inside another (``sk-`` in
    ``sk-ant-``, ``://`` in a Slack webhook URL) must count all the same, as an ``in`` test per literal does."""
    import random

    from nexus_agent.wire import _secret_text

    literals = [lit for needs in _secret_text._NEEDS.values() for lit in needs]
    lowered = [lit for needs in _secret_text._NEEDS_LOWER.values() for lit in needs]
    pieces = [*literals, *lowered, *(lit.upper() for lit in lowered), "x", " ", "-", "_", "/", ":", "s", "k", "ſ"]
    rng = random.Random(3)
    texts = ["", "sk-ant-", "https://hooks.slack.com/", "sk-ant-sk-", "github_pat_ghp_"]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randrange(1, 8))) for _ in range(3000)]
    for text in texts:
        lower = text.lower()
        wanted = [
            index
            for index, (kind, _, _, _) in enumerate(_secret_text._PATTERNS)
            if not (needs := _secret_text._NEEDS.get(kind)) or any(n in text for n in needs)
            if not (low := _secret_text._NEEDS_LOWER.get(kind)) or any(n in lower for n in low)
        ]
        assert _secret_text._may_run(text, lower) == wanted, text
