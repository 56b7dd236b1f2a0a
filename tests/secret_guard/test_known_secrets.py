"""The guard knows the exact values of the secrets Nexus is configured with, and finds them anywhere."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from pydantic import SecretStr

from nexus_agent.config import Settings, known_secrets
from nexus_agent.wire.errors import SecretLeakRefused
from nexus_agent.wire.models import AppRecord
from nexus_agent.wire.secret_guard import (
    KnownSecrets,
    RedactingFilter,
    ensure_no_secrets,
    install_log_redaction,
    redact,
    redact_data,
    scan,
)

WEBHOOK = "lantern-velvet-orchard-harbour"
JWT_KEY = "jwt-signing-key-" + "q" * 32
OWNER_TOKEN = "owner-token-0123456789abcdef"
SAT_TOKEN = "quote-engine-satellite-token"
SAT_HOOK = "quote-engine-hook-value"
ALLOWED = "shared-partner-value"
FILE_SECRET = "secret-read-from-a-file"


def test_short_values_are_not_secrets() -> None:
    known = KnownSecrets(["owner", "true", "", "       ", "abcdefg"])
    assert len(known) == 0 and not known
    assert redact("the owner said true", known) == "the owner said true"


def test_values_are_found_and_redacted_wherever_they_are() -> None:
    known = KnownSecrets([WEBHOOK])
    text = f"config said webhook={WEBHOOK}; again {WEBHOOK}."
    assert scan(WEBHOOK) == []  # no pattern knows it: only its value does
    assert [f.kind for f in scan(text, known=known)] == ["configured_secret", "configured_secret"]
    assert redact(text, known) == (
        "config said webhook=[REDACTED:configured_secret]; again [REDACTED:configured_secret]."
    )
    nested = {"notes": [{"body": f"x {WEBHOOK} y"}], "token_env": WEBHOOK, WEBHOOK: 1}
    assert {f.location for f in scan(nested, known=known)} == {
        "notes[0].body",
        "token_env",
        '["[REDACTED:configured_secret]"] (field name)',  # the path names the field without showing it
    }
    assert WEBHOOK not in repr(redact_data(nested, known=known))


def test_a_value_under_a_reference_field_is_still_found() -> None:
    """`token_env` holds a variable's name; holding the secret's value instead is a leak."""
    known = KnownSecrets([SAT_TOKEN])
    assert scan({"endpoints": {"token_env": "SATELLITE_QUOTE_ENGINE_TOKEN"}}, known=known) == []
    assert [f.location for f in scan({"endpoints": {"token_env": SAT_TOKEN}}, known=known)] == ["endpoints.token_env"]


def test_findings_and_errors_never_show_the_value() -> None:
    known = KnownSecrets([WEBHOOK])
    with pytest.raises(SecretLeakRefused) as caught:
        ensure_no_secrets({"text": f"remember {WEBHOOK}"}, "memory: the note", "remember", known=known)
    error = caught.value
    assert "configured_secret at memory: the note.text" in error.message
    assert WEBHOOK not in repr(error.to_dict()) and WEBHOOK[:4] not in scan(WEBHOOK, known=known)[0].preview
    assert WEBHOOK not in repr(known)


def test_longest_value_wins_where_values_overlap() -> None:
    known = KnownSecrets(["abcdefgh", "abcdefgh-ijkl"])
    assert redact("x abcdefgh-ijkl y", known) == "x [REDACTED:configured_secret] y"


def test_from_settings_and_environment(tmp_path: Path) -> None:
    secret_file = tmp_path / "hook.txt"
    secret_file.write_text(FILE_SECRET + "\n")
    env = {
        "NEXUS_HOME": str(tmp_path),
        "NEXUS_TOKENS": f"ops={OWNER_TOKEN}",
        "NEXUS_GITHUB_WEBHOOK_SECRET": WEBHOOK,
        "NEXUS_JWT_SECRET": JWT_KEY,
        "ANTHROPIC_API_KEY": "anthropic-key-for-tests-0001",
        "NEXUS_SECRET_ENV_ALLOW": "PARTNER_SHARED",
        "PARTNER_SHARED": ALLOWED,
    }
    settings = Settings.load(env)
    process_env = {
        **env,
        "SATELLITE_QUOTE_ENGINE_TOKEN": SAT_TOKEN,
        "SATELLITE_QUOTE_ENGINE_WEBHOOK_SECRET_FILE": str(secret_file),
        "STOCK_LEDGER_WEBHOOK_SECRET": SAT_HOOK,
        "HOME": "/home/someone-long",
        "SATELLITE_QUOTE_ENGINE_URL": "http://127.0.0.1:8001/mcp",  # configuration, not a secret
        "PATH": "/usr/local/bin:/usr/bin",
        "NEXUS_TOKEN_FILE": str(tmp_path / "tokens"),
    }
    known = known_secrets(settings, process_env)
    for value in (OWNER_TOKEN, WEBHOOK, JWT_KEY, "anthropic-key-for-tests-0001", ALLOWED, SAT_TOKEN, SAT_HOOK):
        assert value in known, value
    assert FILE_SECRET in known
    ordinary_values = ("/home/someone-long", "/usr/local/bin:/usr/bin", str(tmp_path / "tokens"), str(tmp_path))
    for ordinary in (*ordinary_values, "http://127.0.0.1:8001/mcp"):
        assert ordinary not in known


def test_github_token_and_app_key_are_known(tmp_path: Path) -> None:
    token = "github-token-value-for-tests"
    settings = Settings.load(
        {
            "NEXUS_HOME": str(tmp_path),
            "NEXUS_TRUTH": "github",
            "NEXUS_GITHUB_REPO": "sfg/truth",
            "NEXUS_GITHUB_TOKEN": token,
        }
    )
    assert token in known_secrets(settings)
    assert KnownSecrets.of([SecretStr(WEBHOOK), None]).redact(WEBHOOK) == "[REDACTED:configured_secret]"


def test_log_filter_redacts_known_values(tmp_path: Path) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(KnownSecrets([WEBHOOK])))
    logger = logging.getLogger("test.known_secrets")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        logger.debug("SSE message: %s", {"result": {"content": [{"text": WEBHOOK}]}})
        logger.warning(f"inline {WEBHOOK}")
        try:
            raise RuntimeError(f"failed with {WEBHOOK}")
        except RuntimeError:
            logger.exception("crash")
    finally:
        logger.removeHandler(handler)
    written = stream.getvalue()
    assert WEBHOOK not in written
    assert written.count("[REDACTED:configured_secret]") == 3


def test_install_log_redaction_hands_new_values_to_installed_filters() -> None:
    root = logging.getLogger()
    handler = logging.StreamHandler(io.StringIO())
    before = list(root.filters)
    root.addHandler(handler)
    try:
        install_log_redaction()
        install_log_redaction(KnownSecrets([WEBHOOK]))
        filters = [f for f in handler.filters if isinstance(f, RedactingFilter)]
        assert len(filters) == 1 and WEBHOOK in filters[0].known
        install_log_redaction()  # a later call without values keeps them
        assert WEBHOOK in filters[0].known
    finally:
        root.removeHandler(handler)
        root.filters[:] = before


@pytest.mark.anyio
async def test_truth_commits_refuse_known_values(tmp_path: Path) -> None:
    from nexus_agent.truth import LocalGitTruthSource

    source = LocalGitTruthSource(tmp_path / "truth", known_secrets=KnownSecrets([WEBHOOK]))
    try:
        await source.write("notes/plain.md", b"quotes are priced weekly\n", "Add a note")
        with pytest.raises(SecretLeakRefused, match=r"configured_secret at notes/hook\.md"):
            await source.write("notes/hook.md", f"hook: {WEBHOOK}\n".encode(), "Add the hook")
        with pytest.raises(SecretLeakRefused, match="commit message"):
            await source.write("notes/other.md", b"x\n", f"Rotate {WEBHOOK}")
        assert await source.list("notes") == ["notes/plain.md"]
    finally:
        await source.aclose()


@pytest.mark.anyio
async def test_memory_registry_and_outbox_of_services_refuse_known_values(tmp_path: Path) -> None:
    """open_services_sync(known=...) hands the values to every store it builds."""
    from nexus_agent.services import open_services_sync

    settings = Settings.load({"NEXUS_HOME": str(tmp_path), "NEXUS_DB_SYNC": "normal"})
    with open_services_sync(settings, known=KnownSecrets([WEBHOOK])) as services:
        with pytest.raises(SecretLeakRefused, match="configured_secret"):
            await services.memory.add_note({"title": "hook", "text": f"it is {WEBHOOK}"})
        record = {"slug": "quote-engine", "name": "Quote Engine", "description": f"uses {WEBHOOK}"}
        with pytest.raises(SecretLeakRefused, match=r"configured_secret at registration of quote-engine\.description"):
            await services.registry.register(AppRecord.model_validate(record), actor="owner")
        assert services.outbox is not None
        with pytest.raises(SecretLeakRefused, match="configured_secret"):
            await services.outbox.enqueue("note", "quote-engine", "http://127.0.0.1:9/hook", {"said": WEBHOOK})
        await services.memory.add_note({"title": "hook", "text": "the hook secret was rotated"})  # honest text passes


@pytest.mark.anyio
async def test_local_issues_refuse_known_values(tmp_path: Path) -> None:
    from nexus_agent.truth import LocalGitTruthSource

    source = LocalGitTruthSource(tmp_path / "truth", known_secrets=KnownSecrets([WEBHOOK]))
    try:
        issue = await source.create_issue("Rotate the hook", "The hook secret needs rotating.")
        with pytest.raises(SecretLeakRefused, match="configured_secret at issue body"):
            await source.create_issue("Hook", f"it is {WEBHOOK}")
        with pytest.raises(SecretLeakRefused, match="configured_secret at issue comment"):
            await source.comment(issue.number, f"new value: {WEBHOOK}")
    finally:
        await source.aclose()
