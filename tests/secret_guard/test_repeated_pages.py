"""Pages scanned again and again (registry pages, search hits): remembered clean items never hide a secret."""

from __future__ import annotations

from nexus_agent.wire.known_secrets import KnownSecrets
from nexus_agent.wire.secret_guard import scan


def _page(n: int, **extra: str) -> dict[str, object]:
    return {"items": [{"slug": f"app-{i}", "name": f"App {i}", **extra} for i in range(n)], "total": n}


def test_a_page_seen_clean_still_shows_a_secret_added_to_one_item() -> None:
    assert scan(_page(20)) == []
    assert scan(_page(20)) == []  # now remembered
    page = _page(20)
    page["items"][7]["api_key"] = "sk-live-9f8e7d6c5b4a39281706f5e4d3c2b1a0"  # type: ignore[index]
    (finding,) = scan(page)
    assert finding.location == "items[7].api_key"


def test_a_configured_secret_is_found_in_an_item_remembered_clean_before_it_was_configured() -> None:
    page = _page(5, note="handover code plum-orchard-7781-lantern")
    assert scan(page) == [] and scan(page) == []
    known = KnownSecrets(["plum-orchard-7781-lantern"])
    assert {f.location for f in scan(page, known=known)} == {f"items[{i}].note" for i in range(5)}


def test_a_configured_secret_json_would_escape_is_still_found() -> None:
    value = 'pass"word-with-quote-4471'
    page = _page(3, note=f"code {value}")
    assert scan(page) == [] and scan(page) == []
    assert len(scan(page, known=KnownSecrets([value]))) == 3


def test_a_result_seen_clean_still_shows_a_secret_that_appears_in_it_later() -> None:
    """A tool's result is remembered whole (registry_get answers the same record call after call)."""
    result = {"app": {"slug": "ledger", "name": "Ledger", "endpoints": {"health_url": "https://l.example/h"}}}
    assert scan(result) == [] and scan(result) == []
    result["app"]["endpoints"]["token"] = "ghp_" + "Zq8" * 12  # type: ignore[index]
    (finding,) = scan(result, location="result")
    assert finding.location == "result.app.endpoints.token"
    assert {f.location for f in scan(result, location="again")} == {"again.app.endpoints.token"}
