"""Durable write throughput: ``await store.add_note(...)`` one note at a time.

    python benchmarks/durable_writes.py --count 5000

Each call is its own ``BEGIN IMMEDIATE`` … ``COMMIT`` and returns only after
the commit, so every note counted here was on disk when its call returned.
Runs once with ``sync="full"`` (the default: survives power loss) and once
with ``sync="normal"`` (survives a killed process, may lose the last commits
on power loss), each on a fresh database, and checks every note is stored.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Literal

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from memory.database import Database
from memory.models import NoteIn
from memory.store import MIGRATIONS, SqliteMemoryStore

WORDS = str.split(
    "quote enquiry invoice fabrication installation credit check margin aluminium glazing bifold curtain wall "
    "survey delivery supplier deposit overdue Hartley Patel Leeds Bradford powder coating thermal break"
)


async def write_notes(folder: Path, count: int, sync: Literal["full", "normal"]) -> float:
    rng = random.Random(1)
    notes = [
        NoteIn(
            text=" ".join(rng.choices(WORDS, k=30)) + f" £{rng.randint(100, 90_000):,}",
            apps=["quote-engine"] if i % 3 == 0 else [],
            tags=["sales"] if i % 2 == 0 else [],
        )
        for i in range(count)
    ]
    database = Database(folder / f"{sync}.db", sync=sync)
    database.migrate([MIGRATIONS])
    store = SqliteMemoryStore(database)
    start = time.perf_counter()
    for note in notes:
        await store.add_note(note)
    elapsed = time.perf_counter() - start
    stored = (await store.stats())["notes"]
    database.close()
    if stored != count:
        raise SystemExit(f"expected {count} notes, found {stored}")
    return count / elapsed


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for sync in ("full", "normal"):
            rate = await write_notes(Path(tmp), args.count, sync)
            print(f"sync={sync:<6} {args.count:,} notes, each committed by its own add_note: {rate:,.0f} notes/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=5_000)
    parser.add_argument("--dir", help="folder for the temporary databases (default: system temp)")
    anyio.run(run, parser.parse_args())


if __name__ == "__main__":
    main()
