"""TruthLayout paths, path validation and the package's public names."""

from __future__ import annotations

import inspect
import subprocess

import pytest

import nexus_agent.truth as truth
from nexus_agent.truth import NEXUS_SCOPE, TruthLayout, blob_sha, check_path
from nexus_agent.wire.errors import InvalidInput


def test_the_documented_paths() -> None:
    assert TruthLayout.app("quote-engine") == "registry/apps/quote-engine.json"
    assert (
        TruthLayout.instruction("quote-engine", "2025-11-03-restock")
        == "instructions/quote-engine/2025-11-03-restock.json"
    )
    assert TruthLayout.instruction(NEXUS_SCOPE, "weekly") == "instructions/_nexus/weekly.json"
    assert TruthLayout.report("quote-engine", "r1") == "reports/quote-engine/r1.json"
    assert TruthLayout.backups("quote-engine") == "backups/quote-engine"
    assert TruthLayout.backup("quote-engine", "2025-11-03.sqlite.gz") == "backups/quote-engine/2025-11-03.sqlite.gz"
    assert TruthLayout.analysis("gaps.md") == "analysis/gaps.md"
    assert TruthLayout.doc("satellites.md") == "docs/satellites.md"


def test_slug_of_reads_back_registry_paths_only() -> None:
    assert TruthLayout.slug_of("registry/apps/quote-engine.json") == "quote-engine"
    assert TruthLayout.slug_of("registry/apps/Quote.json") is None
    assert TruthLayout.slug_of("registry/apps/sub/quote.json") is None
    assert TruthLayout.slug_of("instructions/quote/1.json") is None


@pytest.mark.parametrize(
    "call",
    [
        lambda: TruthLayout.app("../etc"),
        lambda: TruthLayout.app("Quote Engine"),
        lambda: TruthLayout.instruction("quote", "../../x"),
        lambda: TruthLayout.report("quote", ".hidden"),
        lambda: TruthLayout.backup("quote", "a/b"),
        lambda: TruthLayout.analysis(""),
    ],
)
def test_layout_arguments_are_validated(call: object) -> None:
    with pytest.raises(InvalidInput):
        call()  # type: ignore[operator]


def test_check_path_accepts_ordinary_nested_paths() -> None:
    assert check_path("registry/apps/quote-engine.json") == "registry/apps/quote-engine.json"
    assert check_path("docs/Über uns.md") == "docs/Über uns.md"
    assert check_path(".nexus/issues/1.json", allow_reserved=True) == ".nexus/issues/1.json"


def test_blob_sha_is_gits_object_id() -> None:
    done = subprocess.run(["git", "hash-object", "--stdin"], input=b"hello\n", capture_output=True, check=True)
    assert blob_sha(b"hello\n") == done.stdout.decode().strip()


def test_all_lists_every_public_name() -> None:
    public = {name for name, value in vars(truth).items() if not name.startswith("_") and not inspect.ismodule(value)}
    lazy = {"GitHubTruthSource"}  # loaded on first use, so PyGithub stays out of start-up
    assert public | lazy == set(truth.__all__)
    assert all(getattr(truth, name) is not None for name in truth.__all__)
