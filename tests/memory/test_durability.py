"""What survives: reopening, two writers on one file, a killed process, bad files."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from memory.database import Database
from memory.store import MIGRATIONS, SqliteMemoryStore
from nexus_agent.wire.errors import DatabaseReadOnly, NotANexusDatabase, StorageError

ROOT = Path(__file__).resolve().parents[2]

# Opens its own Database on argv[1], says "ready", waits for "go", then adds
# argv[2] notes (0: until killed) printing each id once add_note has returned.
WRITER = """
import sys
import anyio
sys.path.insert(0, sys.argv[4])
from memory.database import Database
from memory.store import MIGRATIONS, SqliteMemoryStore

async def main() -> None:
    database = Database(sys.argv[1])
    database.migrate([MIGRATIONS])
    store = SqliteMemoryStore(database)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    count, name, i = int(sys.argv[2]), sys.argv[3], 0
    while count == 0 or i < count:
        note = await store.add_note({"text": f"{name} wrote note {i}", "tags": [name]})
        print(note.id, flush=True)
        i += 1

anyio.run(main)
"""


@pytest.fixture
def writers(db_path: Path) -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def start_writer(procs: list[subprocess.Popen[str]], db_path: Path, count: int, name: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db_path), str(count), name, str(ROOT)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    procs.append(proc)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def open_store(path: Path) -> tuple[Database, SqliteMemoryStore]:
    database = Database(path)
    database.migrate([MIGRATIONS])
    return database, SqliteMemoryStore(database)


@pytest.mark.anyio
async def test_everything_written_is_there_after_reopening(db_path: Path) -> None:
    database, store = open_store(db_path)
    note = await store.add_note({"text": "Hartley pays in 60 days", "apps": ["credit-check"], "tags": ["finance"]})
    decision = await store.log_decision({"decision": "Ask Hartley for a deposit", "decided_by": "owner"})
    conversation = await store.start_conversation({"title": "Credit"})
    await store.add_message(conversation.id, {"role": "user", "content": "Is Hartley good for credit?"})
    plan = await store.create_plan({"instruction": "Run a Hartley credit check", "steps": [{"tool": "credit.run"}]})
    database.close()

    database, store = open_store(db_path)
    try:
        assert await store.get_note(note.id) == note
        assert await store.get_decision(decision.id) == decision
        assert (await store.get_conversation(conversation.id)).messages[0].content == "Is Hartley good for credit?"
        assert await store.get_plan(plan.id) == plan
        assert {h.kind for h in (await store.search({"query": "hartley"})).hits} == {
            "note",
            "decision",
            "message",
            "plan",
        }
        database.conn.execute("INSERT INTO memory_fts (memory_fts) VALUES ('integrity-check')")
    finally:
        database.close()


@pytest.mark.slow
def test_two_processes_writing_one_database_lose_nothing(db_path: Path, writers: list) -> None:
    per_writer = 150
    procs = [start_writer(writers, db_path, per_writer, name) for name in ("alpha", "beta")]
    for proc in procs:  # both are open and waiting: start them together
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    printed = []
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        printed.append([int(line) for line in out.split()])
    assert [len(ids) for ids in printed] == [per_writer, per_writer]

    database, _ = open_store(db_path)
    try:
        stored = database.conn.execute("SELECT id, text FROM notes").fetchall()
        assert len(stored) == 2 * per_writer
        assert {i for i, _ in stored} == set(printed[0]) | set(printed[1])
        assert {t for _, t in stored} == {f"{n} wrote note {i}" for n in ("alpha", "beta") for i in range(per_writer)}
    finally:
        database.close()


@pytest.mark.anyio
async def test_two_database_objects_on_one_file_in_one_process_lose_nothing(db_path: Path) -> None:
    (db_a, store_a), (db_b, store_b) = open_store(db_path), open_store(db_path)

    async def write(store: SqliteMemoryStore, name: str) -> None:
        for i in range(100):
            await store.add_note({"text": f"{name} {i}"})

    try:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(write, store_a, "left")
                tg.start_soon(write, store_b, "right")
        assert (await store_a.stats())["notes"] == (await store_b.stats())["notes"] == 200
    finally:
        db_a.close()
        db_b.close()


@pytest.mark.slow
def test_a_killed_writer_loses_no_note_it_reported_written(db_path: Path, writers: list) -> None:
    proc = start_writer(writers, db_path, 0, "doomed")
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()
    printed = [int(proc.stdout.readline()) for _ in range(40)]
    proc.send_signal(signal.SIGKILL)
    rest, _ = proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    printed += [int(line) for line in rest.splitlines(keepends=True) if line.endswith("\n")]

    database, _ = open_store(db_path)
    try:
        stored = {row[0] for row in database.conn.execute("SELECT id FROM notes")}
        assert set(printed) <= stored
        assert len(stored) - len(printed) <= 1  # at most the one in flight when killed
        database.conn.execute("INSERT INTO memory_fts (memory_fts) VALUES ('integrity-check')")
    finally:
        database.close()


def test_a_database_of_another_application_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    conn.close()
    with pytest.raises(NotANexusDatabase) as err:
        Database(other)
    assert "invoices" in err.value.message and err.value.hint

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite at all" * 200)
    with pytest.raises(NotANexusDatabase):
        Database(garbage)


@pytest.mark.anyio
async def test_writing_to_a_read_only_database_says_so(db_path: Path) -> None:
    database, store = open_store(db_path)
    note = await store.add_note({"text": "kept"})
    database.close()
    # We run as root, for whom chmod does not stop writes; the immutable flag does.
    if subprocess.run(["chattr", "+i", str(db_path)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here")
    try:
        database, store = open_store(db_path)
        try:
            assert (await store.get_note(note.id)).text == "kept"
            with pytest.raises(DatabaseReadOnly) as err:
                await store.add_note({"text": "lost?"})
            assert err.value.hint
        finally:
            database.close()
    finally:
        subprocess.run(["chattr", "-i", str(db_path)], check=True)


def test_a_store_on_an_unmigrated_database_tells_how_to_fix_it(db_path: Path) -> None:
    with Database(db_path) as database, pytest.raises(StorageError) as err:
        SqliteMemoryStore(database)
    assert "migrate" in (err.value.hint or "")
