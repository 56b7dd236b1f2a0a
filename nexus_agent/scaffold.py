"""``nexus satellite new SLUG``: render a new satellite project from the kit's template.

The template lives in ``satellite_template/project/`` (files ending ``.tmpl``, a
``module`` folder standing for the project's Python package, ``{{key}}`` marks).
The rendered project has its own ``pyproject.toml`` (depending on ``nexus-agent``),
an app module with one example tool, a README with its two commands, and tests
that pass as generated.

    render_satellite("quote-engine", Path("quote-engine"), nexus_source=find_nexus_source())
"""

from __future__ import annotations

import importlib.util
import json
import keyword
import re
import shutil
import sys
import tempfile
import tomllib
from pathlib import Path

from nexus_agent.wire.errors import Conflict, InvalidInput
from nexus_agent.wire.models import SLUG_PATTERN, is_slug

__all__ = ["find_nexus_source", "module_name", "render_satellite", "template_root"]

_MARK = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
_PLAIN_TEXT = re.compile(r'^[^"\\\x00-\x1f\x7f]*$')
# Top-level names a generated package must not shadow: the kit's own distribution and its dependencies.
_TAKEN = {
    "anyio", "httpx", "httpx2", "mcp", "memory", "nexus_agent", "prompts", "pydantic", "pytest",
    "satellite_template", "starlette", "tests", "tools", "uvicorn",
}  # fmt: skip


def template_root() -> Path:
    """The ``project/`` folder of the installed ``satellite_template`` package (found without importing it)."""
    spec = importlib.util.find_spec("satellite_template")
    if spec is None or not spec.submodule_search_locations:
        raise InvalidInput(
            "the satellite kit (package satellite_template) is not installed",
            hint="Reinstall nexus-agent; the kit ships in the same distribution.",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "project"


def find_nexus_source() -> Path | None:
    """The Nexus source checkout this code runs from, or None when installed from a wheel."""
    root = Path(__file__).resolve().parent.parent
    pyproject = root / "pyproject.toml"
    try:
        name = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["name"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return None
    return root if name == "nexus-agent" else None


def module_name(slug: str) -> str:
    """The Python package name of a satellite: 'quote-engine' -> 'quote_engine'."""
    name = slug.replace("-", "_")
    if name[0].isdigit():
        name = f"sat_{name}"
    if keyword.iskeyword(name) or name in _TAKEN or name in sys.stdlib_module_names:
        name = f"{name}_app"
    return name


def render_satellite(
    slug: str,
    dest: Path,
    *,
    nexus_source: Path | None = None,
    name: str | None = None,
    description: str | None = None,
) -> Path:
    """Render the project of satellite ``slug`` into ``dest`` (created; must not exist or be empty).

    ``nexus_source`` is a Nexus checkout to depend on by direct reference
    (``nexus-agent @ file:///...``), so ``pip install -e .`` needs no release of
    ``nexus-agent``; pass :func:`find_nexus_source()`. Returns ``dest``, absolute.
    """
    if not is_slug(slug):
        raise InvalidInput(
            f"{slug!r} is not a valid satellite slug",
            hint=f"Use lower-case letters, digits and single hyphens, at most 64 characters ({SLUG_PATTERN}).",
        )
    name = (name or slug.replace("-", " ").title()).strip()
    description = (description or f"{name}: a satellite app of SFG Aluminium's Nexus.").strip()
    for label, text, limit in (("name", name, 200), ("description", description, 1000)):
        if not text or len(text) > limit or not _PLAIN_TEXT.match(text):
            raise InvalidInput(
                f"the satellite {label} must be 1 to {limit} characters without quotes, backslashes or line breaks"
            )
    dest = dest.expanduser().absolute()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise Conflict(
            f"{dest} already exists and is not an empty folder",
            hint="Choose another folder with --dir, or remove that one first.",
        )
    requirement = "nexus-agent"
    if nexus_source is not None:
        source = nexus_source.expanduser().resolve()
        if not (source / "pyproject.toml").is_file():
            raise InvalidInput(f"{source} is not a Nexus source checkout (it has no pyproject.toml)")
        requirement = f"nexus-agent @ {source.as_uri()}"
    module = module_name(slug)
    values = {
        "slug": slug,
        "module": module,
        "name": name,
        "description": description,
        # JSON strings are valid Python literals here (no quotes, backslashes or control characters).
        "name_py": json.dumps(name, ensure_ascii=False),
        "description_py": json.dumps(description, ensure_ascii=False),
        "description_toml": json.dumps(description, ensure_ascii=False),
        "nexus_requirement_toml": json.dumps(requirement),
    }

    root = template_root()
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{slug}-", dir=dest.parent))
    try:
        for template in sorted(root.rglob("*.tmpl")):
            relative = template.relative_to(root).with_suffix("")  # drop .tmpl
            parts = [module if p == "module" else p for p in relative.parts]
            if parts[-1] == "gitignore":
                parts[-1] = ".gitignore"
            target = staging.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(_render(template.read_text(encoding="utf-8"), values, template), encoding="utf-8")
        if dest.exists():
            dest.rmdir()  # empty, checked above
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dest


def _render(text: str, values: dict[str, str], source: Path) -> str:
    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"template {source} uses unknown mark {{{{{key}}}}}")
        return values[key]

    return _MARK.sub(replace, text)
