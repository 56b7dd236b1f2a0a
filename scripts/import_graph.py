"""Print the imports between ``satellite_template`` and ``nexus_agent``, read from the source with ``ast``.

    python scripts/import_graph.py [ROOT]

``ROOT`` is a checkout (default: the current directory); any commit can be read with
``git archive COMMIT | tar -x -C /tmp/old`` first. Every ``import`` and ``from ... import``
counts, at any depth (inside functions and ``TYPE_CHECKING`` blocks too), relative ones
resolved. ``satellite_template/project/`` (the files ``nexus satellite`` renders into a new
satellite's folder) is left out: the kit package never imports it.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

PACKAGES = ("satellite_template", "nexus_agent")


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(root: Path, path: Path) -> set[str]:
    """Every module ``path`` imports (``from a import b`` counts as ``a.b`` when ``a.b`` is a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = module_name(root, path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1] if node.level else [])
            target = ".".join(p for p in (base, node.module or "") if p)
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names if _is_module(root, f"{target}.{a.name}"))
    return found


def _is_module(root: Path, name: str) -> bool:
    path = root.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def cross_imports(root: Path) -> dict[str, dict[str, set[str]]]:
    """{importing package: {imported module of the other package: {importing modules}}}."""
    graph: dict[str, dict[str, set[str]]] = {p: defaultdict(set) for p in PACKAGES}
    for package in PACKAGES:
        other = next(p for p in PACKAGES if p != package)
        for path in sorted((root / package).rglob("*.py")):
            if "project" in path.relative_to(root / package).parts[:1]:
                continue
            source, found = module_name(root, path), imports_of(root, path)
            for target in found:
                ours = target == other or target.startswith(other + ".")
                deeper = any(t != target and t.startswith(target + ".") for t in found)  # `from a import b`: a.b
                if ours and not deeper:
                    graph[package][target].add(source)
    return graph


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else ".").resolve()
    for package, targets in cross_imports(root).items():
        print(f"{package} imports:" if targets else f"{package} imports nothing of the other package")
        for target in sorted(targets):
            users = sorted(targets[target])
            shown = ", ".join(users[:3]) + (f" (+{len(users) - 3})" if len(users) > 3 else "")
            print(f"  {target:<40} <- {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
