"""Durable write throughput: ``await store.add_note(...)``, one writer and several concurrent writers.

    python benchmarks/durable_writes.py --count 5000 --writers 8

Every call returns only after the COMMIT that holds its note, so every note
counted here was on disk when its call returned. Writes go through the
database's group-commit writer: one caller gets one transaction per note;
concurrent callers share commits (one fsync for several notes), each note in
its own savepoint.
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


async def write_notes(folder: Path, count: int, sync: Literal["full", "normal"], writers: int = 1) -> float:
    rng = random.Random(1)
    notes = [
        NoteIn(
            text=" ".join(rng.choices(WORDS, k=30)) + f" £{rng.randint(100, 90_000):,}",
            apps=["quote-engine"] if i % 3 == 0 else [],
            tags=["sales"] if i % 2 == 0 else [],
        )
        for i in range(count)
    ]
    database = Database(folder / f"{sync}-{writers}.db", sync=sync)
    database.migrate([MIGRATIONS])
    store = SqliteMemoryStore(database)

    async def writer(share: list[NoteIn]) -> None:
        for note in share:  # each add_note returns only once its note is committed
            await store.add_note(note)

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for w in range(writers):
            tg.start_soon(writer, notes[w::writers])
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
        for writers in (1, args.writers):
            for sync in ("full", "normal"):
                rate = await write_notes(Path(tmp), args.count, sync, writers)
                print(
                    f"sync={sync:<6} {writers:>2} writer(s)  {args.count:,} notes, each durable when its add_note "
                    f"returns: {rate:,.0f} notes/s"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=5_000)
    parser.add_argument("--writers", type=int, default=8, help="concurrent writers (group commit shares fsyncs)")
    parser.add_argument("--dir", help="folder for the temporary databases (default: system temp)")
    anyio.run(run, parser.parse_args())


if __name__ == "__main__":
    main()
