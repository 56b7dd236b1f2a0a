"""Importing a large portfolio with build folders: time, and the findings a reader has to go through.

    python benchmarks/portfolio_import.py --apps 200 --runs 5

Generates a portfolio in a temporary folder: ``--apps`` app folders in the real shapes
(endpoints nested under ``webhook_configuration`` / ``message_handler_configuration`` /
``deployment``, a message-type list with parameters mixed in, a message-handlers page,
``package.json`` named ``"app"`` with ``jsonwebtoken``, a lock file, a ``tsbuildinfo``),
each with build output full of hashes (``node_modules/``, ``.next/``, ``dist/``); every
fourth app has a plaintext webhook secret, every tenth a staging password in its README,
and a root ``.env`` holds two more. Then it imports the portfolio into a fresh registry
``--runs`` times and prints the median time, and checks the findings are exactly the
planted secrets (no false alarm from build output or package names).
With ``--naive`` it also counts what scanning the build folders would have reported.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from memory.database import Database
from nexus_agent.portfolio import import_portfolio
from nexus_agent.registry import REGISTRY_MIGRATIONS, SqliteRegistry
from nexus_agent.wire.secret_guard import scan

BUILD = {"node_modules": 120, ".next": 40, "dist": 40}


def _hash(i: int, j: int) -> str:
    return f"{(i * 7919 + j * 104729) ** 3:x}".rjust(64, "a")[:64]


def _app(root: Path, i: int) -> int:
    """One app folder; returns how many secrets were planted in it."""
    slug = f"app-{i:03d}"
    folder = root / "apps" / slug
    (folder / "workflows").mkdir(parents=True)
    webhook = {
        "webhook_url": f"https://{slug}.example.test/api/webhooks/nexus",
        "signature_header": "x-nexus-signature",
    }
    planted = 0
    if i % 4 == 0:
        webhook["webhook_secret"] = f"{slug}-plaintext-secret-{i * 7919:x}"
        planted += 1
    registration = {
        "app_name": slug,
        "full_name": f"App {i:03d}",
        "status": "production",
        "purpose": f"Handles the work of department {i}.",
        "deployment": {"url": f"https://{slug}.example.test", "health_url": f"https://{slug}.example.test/api/health"},
        "webhook_configuration": webhook,
        "message_handler_configuration": {
            "handler_url": f"https://{slug}.example.test/api/messages/handle",
            "supported_message_types": [
                "query.status",
                "record_id",
                "The record to look up",
                "action.refresh",
                "test.ping",
            ],
        },
        "capabilities": [f"capability {i} a", f"capability {i} b"],
        "support": {"email": f"team-{i}@example.test"},
    }
    (folder / "registration-metadata.json").write_text(json.dumps(registration))
    page = "# Handlers\n\n## query.status\nThe status.\n\nParameters:\n- `record_id` (string, required): the record\n"
    (folder / "workflows" / "message-handlers.md").write_text(page)
    (folder / "package.json").write_text(json.dumps({"name": "app", "dependencies": {"jsonwebtoken": "9.0.2"}}))
    lock = {"name": "app", "packages": {"node_modules/jsonwebtoken": {"integrity": "sha512-" + _hash(i, 0) * 2}}}
    (folder / "package-lock.json").write_text(json.dumps(lock))
    (folder / "tsconfig.tsbuildinfo").write_text(json.dumps({"signature": _hash(i, 1)}))
    if i % 10 == 0:
        (folder / "README.md").write_text(f"# {slug}\n\nAdmin login for staging: admin / Staging-Pa55-{i:04d}x\n")
        planted += 1
    for build, count in BUILD.items():
        for j in range(count):
            path = folder / build / f"part-{j // 20}" / f"chunk-{j}.js"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(
                f'self.__M={{"hash":"{_hash(i, j)}","token":"{_hash(j, i)}","api_key":"{_hash(i, i + j)}"}};\n'
            )
    return planted


def generate(root: Path, apps: int) -> tuple[int, int]:
    """The portfolio; returns (secrets planted, files under build folders)."""
    planted = sum(_app(root, i) for i in range(apps))
    (root / ".env").write_text(
        'DATABASE_URL="postgresql://hub:hub-db-pw-2291x@db.example.test:5432/hub"\n'
        "STRIPE_SECRET_KEY=sk_live_51HbE2kLm9Qx7Vn3Rt8Yp4Zc6Wd1Fs0Gj\n"
    )
    return planted + 2, apps * sum(BUILD.values())


def naive_findings(root: Path) -> int:
    """What a scan of the build folders alone would have reported."""
    found = 0
    for build in BUILD:
        for path in root.glob(f"apps/*/{build}/**/*.js"):
            found += len(scan(path.read_text(), location=str(path)))
    return found


async def import_once(root: Path, work: Path, run: int) -> tuple[float, int, int]:
    database = Database(work / f"run-{run}.db", sync="normal")
    database.migrate([REGISTRY_MIGRATIONS])
    registry = SqliteRegistry(database)
    start = time.perf_counter()
    report = await import_portfolio(root, registry, "bench")
    elapsed = time.perf_counter() - start
    imported = sum(1 for a in report.apps if a.outcome == "imported")
    database.close()
    return elapsed, imported, report.secret_count()


def main() -> int:
    logging.getLogger("nexus.portfolio").setLevel(logging.ERROR)  # one line per secret and per folder otherwise
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--naive", action="store_true", help="also scan the build folders, to count false alarms")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root, work = Path(tmp) / "portfolio", Path(tmp) / "work"
        work.mkdir()
        start = time.perf_counter()
        planted, build_files = generate(root, args.apps)
        print(f"generated {args.apps} apps, {build_files} build-output files in {time.perf_counter() - start:.1f}s")
        results = [anyio.run(import_once, root, work, run) for run in range(args.runs)]
        times = [r[0] for r in results]
        imported, findings = results[-1][1], results[-1][2]
        print(
            f"import: median {statistics.median(times):.2f}s over {args.runs} runs "
            f"(min {min(times):.2f}s, max {max(times):.2f}s); {imported} apps imported"
        )
        print(f"findings: {findings} (planted secrets: {planted}); false alarms: {findings - planted}")
        if args.naive:
            print(f"a scan of the build folders alone would have reported {naive_findings(root)} findings")
        ok = imported == args.apps and findings == planted
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
