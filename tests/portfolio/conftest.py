from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from nexus_agent.wire.secret_guard import redact, scan

#: The shared fixture lives beside the repository clone: <repo>/../shared/fixtures/legacy-portfolio.
FIXTURE = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "legacy-portfolio"
#: The second shared fixture: the shapes real portfolios have (see its README for the traps).
REAL_SHAPES = FIXTURE.parent / "portfolio-real-shapes"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def legacy_portfolio() -> Path:
    if not (FIXTURE / "apps").is_dir():
        pytest.skip(f"the shared legacy-portfolio fixture is not at {FIXTURE} (clone shared/ beside the repository)")
    return FIXTURE


@pytest.fixture
def real_shapes() -> Path:
    if not (REAL_SHAPES / "apps").is_dir():
        pytest.skip(
            f"the shared portfolio-real-shapes fixture is not at {REAL_SHAPES} (clone shared/ beside the repository)"
        )
    return REAL_SHAPES


def _resolve(data: Any, path: str) -> Any:
    """Follow a finding's JSON path ('$.a[0]["odd key"].b') into parsed JSON."""
    for key, index, quoted in re.findall(r'\.([A-Za-z_][\w-]*)|\[(\d+)\]|\["([^"]*)"\]', path[1:]):
        data = data[int(index)] if index else data[key or quoted]
    return data


def secret_values(root: Path) -> list[str]:
    """Every secret in a portfolio, found by the guard itself and read back from the files by its location."""
    values: list[str] = []
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        text = file.read_bytes().decode("utf-8-sig", errors="replace")
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            for line in text.splitlines():
                if scan(line):  # the parts redact() takes out of the line are the secrets
                    ops = difflib.SequenceMatcher(None, line, redact(line)).get_opcodes()
                    values += [line[a:b] for tag, a, b, _, _ in ops if tag in {"replace", "delete"} and b - a >= 6]
            continue
        for finding in scan(data, location="$"):
            if finding.severity != "low":
                values.append(_resolve(data, finding.location))
    return values
