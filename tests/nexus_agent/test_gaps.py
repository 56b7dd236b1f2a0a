"""analyse_gaps: synonyms, evidence, live vs planned coverage, gaps, determinism, input bounds."""

from __future__ import annotations

import random
from typing import Any

import pytest

from nexus_agent.gaps import COVER_THRESHOLD, CapabilityCoverage, GapReport, analyse_gaps, normalise, stem
from nexus_agent.wire.errors import InvalidInput
from nexus_agent.wire.models import AppRecord, AppStatus

LIVE_URL = {"mcp_url": "http://apps.example.test/mcp"}


def app(slug: str, status: str = "placeholder", **fields: Any) -> AppRecord:
    data: dict[str, Any] = {"slug": slug, "name": slug.replace("-", " ").title(), "status": status, **fields}
    if status in {"active", "degraded"}:
        data.setdefault("endpoints", LIVE_URL)
    return AppRecord.model_validate(data)


PORTFOLIO = [
    app(
        "quote-engine",
        "active",
        name="Quote-Engine",
        category="Business Management",
        description="Prices aluminium windows, doors and shopfronts, applies margin rules, renders PDF quotes.",
        capabilities=["Quote generation with margin checks", "Customer tier discounts", "PDF quote rendering"],
        tags=["ESTIMATING", "Pricing"],
    ),
    app(
        "glazing-scheduler",
        "placeholder",
        category="SCHEDULING",
        description="Plans fabrication and installation slots for glazing jobs and flags crew conflicts.",
        capabilities=[
            "Fabrication slot planning",
            "Installation crew rostering",
            "Lead-time estimates for curtain walling",
        ],
        workflows=[{"name": "Roster installation", "steps": ["Check crew availability", "Book van"]}],
        integrations=["SharePoint"],
    ),
    app(
        "site-survey",
        "pending",
        description="Books surveys and captures measurements.",
        capabilities=["Book site surveys"],
    ),
    app("stock-ledger", "retired", category="inventory", capabilities=["Stock levels per yard", "Low-stock alerts"]),
    app("enquiry-desk", "suspended", capabilities=["Log incoming enquiries"]),
    app("crm-lite", "approved", capabilities=["Customer contact history"], integrations=["Xero"]),
]


def coverage(report: GapReport, capability: str) -> CapabilityCoverage:
    return next(c for c in report.capabilities if c.capability == capability)


def test_stemming_folds_the_usual_word_forms() -> None:
    assert {stem(w) for w in ["quote", "quotes", "quoting", "quoted", "quotation", "quotations"]} == {"quot"}
    assert {stem(w) for w in ["install", "installing", "installation", "installer"]} == {"install"}
    assert {stem(w) for w in ["survey", "surveys", "surveying", "surveyor"]} == {"surve"}
    assert {stem(w) for w in ["schedule", "scheduling", "scheduled", "scheduler"]} == {"schedul"}
    assert stem("order") == "order" and stem("glass") == "glass" and stem("status") == "status"


def test_normalising_drops_stopwords_and_maps_phrases_before_words() -> None:
    assert normalise("Lead-time estimates for the curtain walling") == [
        ("=lead time", "lead time estimates"),
        ("=glazing", "curtain walling"),
    ]
    assert normalise("an enquiry from a new lead") == [("=enquiry", "enquiry"), ("=enquiry", "lead")]
    assert normalise("Credit vetting") == [("=credit check", "credit vetting")]


@pytest.mark.parametrize(
    ("required", "slug"),
    [
        ("quotation", "quote-engine"),
        ("pricing", "quote-engine"),
        ("estimates", "quote-engine"),
        ("profitability checks on quotes", "quote-engine"),
        ("client discounts", "quote-engine"),
        ("site visit booking", "site-survey"),
        ("fitting team scheduling", "glazing-scheduler"),
        ("manufacturing calendar", "glazing-scheduler"),
        ("inventory", "stock-ledger"),
        ("inquiry logging", "enquiry-desk"),
    ],
)
def test_synonyms_in_the_owners_vocabulary_match(required: str, slug: str) -> None:
    result = analyse_gaps([required], PORTFOLIO).capabilities[0]
    assert slug in [m.slug for m in result.live + result.planned + result.not_counted]


def test_each_match_carries_readable_evidence() -> None:
    result = coverage(analyse_gaps(["Quotation generation"], PORTFOLIO), "Quotation generation")

    (match,) = result.live
    assert match.slug == "quote-engine" and match.score == 1.0 and match.status.value == "active"
    assert match.evidence[0] == (
        "capability 'Quote generation with margin checks' matched terms quotation (as 'quote'), generation"
    )
    assert any(e.startswith("name 'Quote-Engine' matched terms quotation") for e in match.evidence)
    assert result.terms == ["quotation (= quote)", "generation"]
    assert result.coverage == "live" and result.summary == "covered by quote-engine (active)"


def test_capabilities_nothing_covers_are_listed_as_gaps() -> None:
    report = analyse_gaps(["credit vetting for new customers", "invoicing", "pricing"], PORTFOLIO)

    assert report.gaps == ["credit vetting for new customers", "invoicing"]
    assert report.covered == ["pricing"]
    gap = coverage(report, "invoicing")
    assert gap.coverage == "none" and gap.live == gap.planned == gap.not_counted == []
    assert gap.summary == "not covered by any registered app"


def test_a_partial_word_overlap_is_not_coverage() -> None:
    # 'Customer tier discounts' and 'Customer contact history' share 'customer' only: below the threshold
    result = coverage(analyse_gaps(["customer credit checks"], PORTFOLIO), "customer credit checks")
    assert result.coverage == "none"


def test_coverage_only_by_placeholders_is_planned_not_live() -> None:
    report = analyse_gaps(["installation scheduling", "site surveys"], PORTFOLIO)

    install = coverage(report, "installation scheduling")
    assert install.coverage == "planned" and install.live == []
    assert [m.slug for m in install.planned] == ["glazing-scheduler"]
    assert install.summary == "planned, not live: only glazing-scheduler (placeholder) would cover it"
    assert coverage(report, "site surveys").planned[0].status.value == "pending"
    assert report.planned_only == ["installation scheduling", "site surveys"]
    assert report.gaps == []


def test_retired_and_suspended_apps_do_not_count() -> None:
    report = analyse_gaps(["stock levels", "enquiry logging"], PORTFOLIO)

    for capability, slug in [("stock levels", "stock-ledger"), ("enquiry logging", "enquiry-desk")]:
        result = coverage(report, capability)
        assert result.coverage == "none" and result.live == result.planned == []
        assert [m.slug for m in result.not_counted] == [slug]
        assert "do not count" in result.summary
    assert report.gaps == ["stock levels", "enquiry logging"]


def test_live_coverage_also_mentions_planned_apps() -> None:
    apps = [*PORTFOLIO, app("quote-builder-v2", "placeholder", capabilities=["Quote generation"])]
    result = analyse_gaps(["quote generation"], apps).capabilities[0]
    assert result.coverage == "live"
    assert [m.slug for m in result.live] == ["quote-engine"]
    assert [m.slug for m in result.planned] == ["quote-builder-v2"]
    assert result.summary == "covered by quote-engine (active); also planned in quote-builder-v2 (placeholder)"


def test_matches_are_sorted_by_score_then_slug_and_meet_the_threshold() -> None:
    apps = [
        app("b-quotes", "active", capabilities=["Quotes"]),
        app("a-quotes", "active", capabilities=["Quotes"]),
        app("c-quotes", "active", name="Comms", description="Sends quotes"),
    ]
    matches = analyse_gaps(["quotes"], apps).capabilities[0].live
    assert [(m.slug, m.score) for m in matches] == [("a-quotes", 1.0), ("b-quotes", 1.0), ("c-quotes", 0.7)]
    assert all(m.score >= COVER_THRESHOLD for m in matches)


def test_the_report_is_deterministic() -> None:
    required = ["pricing", "installation scheduling", "invoicing", "stock levels", "site visits"]
    first = analyse_gaps(required, PORTFOLIO).model_dump_json()
    for seed in range(5):
        shuffled = PORTFOLIO.copy()
        random.Random(seed).shuffle(shuffled)
        assert analyse_gaps(required, shuffled).model_dump_json() == first


def test_the_summary_counts_each_outcome() -> None:
    report = analyse_gaps(["pricing", "installation scheduling", "invoicing"], PORTFOLIO)
    assert report.apps_considered == len(PORTFOLIO)
    assert report.summary == (
        "3 capabilities against 6 apps: 1 covered by live apps, 1 planned but not live, 1 not covered"
    )


def test_repeated_capabilities_are_analysed_once() -> None:
    report = analyse_gaps(["Pricing", "pricing ", "PRICING"], PORTFOLIO)
    assert [c.capability for c in report.capabilities] == ["Pricing"]


def test_an_empty_registry_reports_everything_as_a_gap() -> None:
    report = analyse_gaps(["pricing", "surveys"], [])
    assert report.gaps == ["pricing", "surveys"] and report.apps_considered == 0


@pytest.mark.parametrize(
    ("required", "message"),
    [
        ([], r"give 1\.\.100 required capabilities \(got 0\)"),
        (["x y"] * 101, r"give 1\.\.100 required capabilities \(got 101\)"),
        (["pricing", ""], r"required\[1\]: must be a non-empty text"),
        (["   "], r"required\[0\]: must be a non-empty text"),
        (["a" * 201], r"required\[0\]: must be at most 200 characters \(got 201\)"),
        (["the and of"], r"required\[0\]: has no words to match"),
    ],
)
def test_bad_input_is_invalid_input_naming_the_item(required: list[str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        analyse_gaps(required, PORTFOLIO)


def test_every_bad_item_is_reported_at_once() -> None:
    with pytest.raises(InvalidInput) as caught:
        analyse_gaps(["", "pricing", "of the"], PORTFOLIO)
    assert [d["field"] for d in caught.value.details] == ["required[0]", "required[2]"]


def test_the_report_renders_as_text_for_people() -> None:
    text = analyse_gaps(["pricing", "installation scheduling", "invoicing"], PORTFOLIO).to_text()
    assert text.splitlines()[0].startswith("3 capabilities against 6 apps")
    assert "COVERED: pricing" in text and "PLANNED, NOT LIVE: installation scheduling" in text
    assert "  - quote-engine (active, score 1.00): capability 'Quote generation with margin checks'" in text
    assert text.endswith("Nothing covers: invoicing")


def test_a_changed_app_is_analysed_afresh_after_a_cached_analysis() -> None:
    """Analyses of an unchanged registry reuse one index; any change to an app's texts or status shows."""
    apps = [app(f"filler-{i}", "active", capabilities=[f"widget polishing {i}"]) for i in range(50)]
    apps.append(app("ledger", "active", capabilities=["stock control"]))
    first = analyse_gaps(["stock control", "credit checks"], apps)
    assert first.covered == ["stock control"] and first.gaps == ["credit checks"]
    assert analyse_gaps(["stock control", "credit checks"], apps) == first  # the cached index, same answer
    # A record changed as the registry changes it: a new object (the registry never mutates in place)
    changed = [*apps[:-1], app("ledger", "active", capabilities=["credit checks"])]
    second = analyse_gaps(["stock control", "credit checks"], changed)
    assert second.covered == ["credit checks"] and second.gaps == ["stock control"]
    suspended = [*changed[:-1], changed[-1].model_copy(update={"status": AppStatus.suspended})]
    third = analyse_gaps(["credit checks"], suspended)
    assert third.gaps == ["credit checks"]
    assert [m.slug for m in third.capabilities[0].not_counted] == ["ledger"]
    fewer = analyse_gaps(["widget polishing"], apps[5:10])  # a subset: only those apps, not the cached 51
    assert [m.slug for m in fewer.capabilities[0].live] == [f"filler-{i}" for i in range(5, 10)]
    assert fewer.apps_considered == 5
