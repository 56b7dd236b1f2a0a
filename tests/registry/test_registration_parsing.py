"""load_app_record: JSON text or dicts in, an AppRecord or a clear InvalidInput out."""

from __future__ import annotations

import json

import pytest

from nexus_agent.registry import load_app_record
from nexus_agent.wire.errors import InvalidInput
from nexus_agent.wire.models import AppStatus

GOOD = {
    "slug": "glazing-scheduler",
    "name": "Glazing Scheduler",
    "category": "scheduling",
    "capabilities": ["Fabrication slot planning", {"name": "Installation crew rostering", "description": "vans too"}],
    "workflows": [{"name": "Schedule fabrication", "steps": ["Read order lines", "Reserve machine time"]}],
    "endpoints": {"webhook_url": "https://glazing-scheduler.example.test/api/webhooks/nexus"},
    "subscribes_to": ["order.approved"],
    "message_types": ["query.schedule_status"],
}


@pytest.mark.parametrize("shape", ["dict", "str", "bytes"])
def test_a_good_registration_parses_from_a_dict_text_or_bytes(shape: str) -> None:
    data = {"dict": GOOD, "str": json.dumps(GOOD), "bytes": json.dumps(GOOD).encode()}[shape]
    record = load_app_record(data, "glazing-scheduler.json")
    assert record.slug == "glazing-scheduler" and record.status is AppStatus.placeholder
    assert record.capability_names() == ["Fabrication slot planning", "Installation crew rostering"]


def test_a_utf8_byte_order_mark_is_ignored() -> None:
    raw = "\ufeff" + json.dumps(GOOD, indent=4)
    assert load_app_record(raw.encode("utf-8"), "a.json").slug == "glazing-scheduler"
    assert load_app_record(raw, "a.json").slug == "glazing-scheduler"


def test_every_bad_field_is_named_with_what_it_expects() -> None:
    bad = {
        "slug": "Glazing Scheduler",
        "name": "",
        "status": "production",
        "endpoints": {"mcp_url": "not a url"},
        "capabilities": "planning",
        "webhook_secret": "glazing-demo-secret-do-not-copy",
    }
    with pytest.raises(InvalidInput) as caught:
        load_app_record(bad, "apps/glazing-scheduler/registration.json")

    error = caught.value
    assert error.message.startswith("registration apps/glazing-scheduler/registration.json is invalid (6 problems)")
    fields = {d["field"]: d["problem"] for d in error.details}
    assert set(fields) == {"slug", "name", "status", "endpoints.mcp_url", "capabilities", "webhook_secret"}
    assert "should match pattern" in fields["slug"]
    assert "'placeholder', 'pending', 'approved', 'active'" in fields["status"]
    assert "valid URL" in fields["endpoints.mcp_url"]
    assert fields["webhook_secret"].startswith("is not a known field")
    assert "glazing-demo-secret-do-not-copy" not in str(error)  # unknown fields are never echoed


def test_a_legacy_flat_registration_is_reported_field_by_field() -> None:
    legacy = {"app_name": "SiteSurvey", "version": "1.0.0", "category": "OPERATIONS", "api_endpoints": []}
    with pytest.raises(InvalidInput) as caught:
        load_app_record(legacy, "apps/sitesurvey/business-logic.json")
    fields = [d["field"] for d in caught.value.details]
    assert fields == ["slug", "name", "app_name", "api_endpoints"]
    assert "slug: is required but was not given" in caught.value.message


def test_a_live_status_without_endpoints_names_the_endpoints_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        load_app_record({"slug": "quote-engine", "name": "Quote Engine", "status": "active"}, "q.json")
    assert [d["field"] for d in caught.value.details] == ["endpoints"]
    assert (
        "needs endpoints.mcp_url, endpoints.mcp_command, endpoints.message_handler_url or endpoints.health_url"
        in caught.value.message
    )


def test_an_html_page_saved_as_json_says_so() -> None:
    html = (
        b'<!doctype html><html lang="en"><head><title>Example Domain</title></head><body><h1>Example Domain</h1>'
        b"<p>This page was saved where a JSON config was expected.</p></body></html>\n"
    )
    with pytest.raises(InvalidInput) as caught:
        load_app_record(html, "apps/site-survey/config/vendor-api.json")
    assert caught.value.message == (
        "registration apps/site-survey/config/vendor-api.json is not JSON: "
        "it looks like an HTML page (title 'Example Domain')"
    )
    assert caught.value.hint is not None


def test_broken_json_says_where() -> None:
    with pytest.raises(InvalidInput, match=r"is not JSON: Expecting ',' delimiter at line 2 column 3"):
        load_app_record('{"slug": "a"\n  "name": "A"}', "a.json")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("", "registration x.json is empty"),
        ("  \n", "registration x.json is empty"),
        ("[1, 2]", "must be a JSON object, got a list"),
        ('"quote-engine"', "must be a JSON object, got a string"),
        ("null", "must be a JSON object, got null"),
        (b"\xff\xfe{}", "is not UTF-8 text"),
        ("slug: quote-engine\nname: Quote Engine", "it looks like YAML"),
    ],
)
def test_things_that_are_not_a_json_object_are_invalid_input(data: str | bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        load_app_record(data, "x.json")
