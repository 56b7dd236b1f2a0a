"""Durable write throughput: ``await store.add_note(...)`` one note at a time.

    python benchmarks/durable_writes.py --count 5000

Each call is its own ``BEGIN IMMEDIATE`` … ``COMMIT`` and returns only after
the commit, so every note counted here was on disk when its call returned.
Runs once with ``sync="full"`` (the default: survives power loss) and once
with ``sync="normal"`` (survives a killed process, may lose the last commits
on power loss), each on a fresh database, and checks every note is stored.
The disk's own fdatasync rate is printed first: with ``sync="full"`` no
individually committed write can beat it.
"""

from __future__ import annotations

import argparse
import os
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


def fdatasync_ceiling(folder: Path, count: int = 1_000) -> float:
    """Appends of 4 KiB, each followed by fdatasync: no committed write can be faster (sync="full")."""
    fd = os.open(folder / "ceiling.bin", os.O_CREAT | os.O_WRONLY | os.O_APPEND)
    try:
        start = time.perf_counter()
        for _ in range(count):
            os.write(fd, b"x" * 4096)
            os.fdatasync(fd)
        return count / (time.perf_counter() - start)
    finally:
        os.close(fd)


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        print(f"disk ceiling: {fdatasync_ceiling(Path(tmp)):,.0f} fdatasync/s (4 KiB appends)")
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
