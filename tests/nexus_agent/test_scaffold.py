"""nexus_agent.scaffold: `nexus satellite new SLUG` renders a project whose own tests pass as generated."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import nexus_agent.scaffold as scaffold
from nexus_agent.scaffold import find_nexus_source, module_name, render_satellite
from nexus_agent.wire.errors import Conflict, InvalidInput

REPO = Path(__file__).resolve().parents[2]


def test_a_project_is_rendered_with_its_files(tmp_path) -> None:
    dest = render_satellite("quote-engine", tmp_path / "quote-engine", nexus_source=REPO)
    files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert files == [
        ".gitignore",
        "README.md",
        "pyproject.toml",
        "src/quote_engine/__init__.py",
        "src/quote_engine/__main__.py",
        "src/quote_engine/app.py",
        "tests/conftest.py",
        "tests/test_app.py",
    ]
    for path in dest.rglob("*"):
        if path.is_file():
            assert "{{" not in path.read_text(), path
    for path in dest.rglob("*.py"):
        compile(path.read_text(), str(path), "exec")


def test_the_pyproject_depends_on_the_nexus_checkout_and_names_the_command(tmp_path) -> None:
    dest = render_satellite("quote-engine", tmp_path / "q", nexus_source=REPO)
    project = tomllib.loads((dest / "pyproject.toml").read_text())["project"]
    assert project["name"] == "quote-engine"
    assert project["dependencies"] == [f"nexus-agent @ {REPO.as_uri()}"]
    assert project["scripts"] == {"quote-engine": "quote_engine.app:main"}
    readme = (dest / "README.md").read_text()
    assert "pip install -e . && quote-engine serve --http 127.0.0.1:8800" in readme
    assert "pip install -e '.[test]' && pytest" in readme


def test_without_a_checkout_it_depends_on_the_released_package(tmp_path) -> None:
    dest = render_satellite("quote-engine", tmp_path / "q")
    assert tomllib.loads((dest / "pyproject.toml").read_text())["project"]["dependencies"] == ["nexus-agent"]


def test_names_with_quotes_and_accents_render_valid_toml_and_python(tmp_path) -> None:
    dest = render_satellite("obrien", tmp_path / "o", name="O'Brien Façades", description="Façades for O'Brien & Co.")
    assert tomllib.loads((dest / "pyproject.toml").read_text())["project"]["description"] == "Façades for O'Brien & Co."
    compile((dest / "src/obrien/app.py").read_text(), "app.py", "exec")


@pytest.mark.slow
def test_the_generated_tests_pass_out_of_the_box(tmp_path) -> None:
    dest = render_satellite("quote-engine", tmp_path / "quote-engine", nexus_source=REPO)
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(dest / "src"), str(REPO)])}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=dest,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "5 passed" in run.stdout


@pytest.mark.slow
def test_the_generated_code_is_lint_clean_under_its_own_settings(tmp_path) -> None:
    pytest.importorskip("ruff")
    dest = render_satellite("quote-engine", tmp_path / "quote-engine", nexus_source=REPO)
    for command in (["check", "--select", "E,F,W,I,UP,B,SIM,RUF", "."], ["format", "--check", "."]):
        run = subprocess.run([sys.executable, "-m", "ruff", *command], cwd=dest, capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr


def test_a_non_empty_folder_is_never_overwritten(tmp_path) -> None:
    (tmp_path / "quote-engine").mkdir()
    (tmp_path / "quote-engine" / "keep.txt").write_text("mine")
    with pytest.raises(Conflict, match="not an empty folder"):
        render_satellite("quote-engine", tmp_path / "quote-engine")
    assert [p.name for p in (tmp_path / "quote-engine").iterdir()] == ["keep.txt"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(Conflict):
        render_satellite("quote-engine", tmp_path / "file")


def test_an_empty_folder_is_filled(tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    assert (render_satellite("quote-engine", tmp_path / "empty") / "pyproject.toml").is_file()


@pytest.mark.parametrize("slug", ["Quote Engine", "quote_engine", "-quote", "quote-", "", "x" * 65])
def test_an_invalid_slug_is_refused(tmp_path, slug) -> None:
    with pytest.raises(InvalidInput, match="not a valid satellite slug"):
        render_satellite(slug, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_a_name_that_would_break_the_files_is_refused(tmp_path) -> None:
    with pytest.raises(InvalidInput):
        render_satellite("quotes", tmp_path / "x", name='Quote "Engine"')


def test_a_failed_render_leaves_nothing_behind(tmp_path, monkeypatch) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "a.txt.tmpl").write_text("ok")
    (templates / "b.txt.tmpl").write_text("{{unknown}}")
    monkeypatch.setattr(scaffold, "template_root", lambda: templates)
    with pytest.raises(KeyError):
        render_satellite("quotes", tmp_path / "out" / "quotes")
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize(
    ("slug", "module"),
    [("quote-engine", "quote_engine"), ("3d-viewer", "sat_3d_viewer"), ("tools", "tools_app"), ("json", "json_app")],
)
def test_the_package_name_never_shadows_another_module(slug, module) -> None:
    assert module_name(slug) == module


def test_the_checkout_is_found_when_running_from_source() -> None:
    assert find_nexus_source() == REPO
