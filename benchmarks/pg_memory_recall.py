"""Recall latency of ``PgMemoryStore.search`` vs the bare PostgreSQL full-text query, and vs SQLite.

    python benchmarks/pg_memory_recall.py                          # 1,000,000 notes, throwaway cluster
    python benchmarks/pg_memory_recall.py --notes 200000 --sqlite /tmp/recall-200k.db
    python benchmarks/pg_memory_recall.py --url postgresql://me@127.0.0.1/bench   # your server (dropped+created)

The notes are ``memory_recall.py``'s (same generator, same seed): the SQLite database is built
first (or reused with ``--sqlite``) and PostgreSQL is loaded from it with COPY, so both engines
hold the same rows. The search documents are computed in SQL the way the trigger computes them,
then the GIN index is built, then ``VACUUM ANALYZE``.

Per 2-3 word query, in rotating order: ``await store.search`` (validation, thread hop, pool
checkout, prefix terms, recency ranking, hydration, snippets), the same without the thread hop
(``pg_search`` in a read transaction), and the bare ``SELECT id, ts_rank(document, q) ... WHERE
document @@ q ORDER BY rank DESC LIMIT 10`` on a plain connection, ``q`` being the store's own
match expression (every word as itself or as a prefix), as ``memory_recall.py``'s bare FTS5
query uses the store's ``safe_match``. The
SQLite store is measured on the same query sets by ``memory_recall.measure``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from memory_recall import NoteGenerator, build, percentile, query_sets
from memory_recall import measure as measure_sqlite

from memory.database import Database
from memory.models import SearchQuery
from memory.pg.database import PgDatabase
from memory.pg.search import pg_search, tsquery_sql
from memory.pg.store import PgMemoryStore
from memory.search import search_terms
from memory.store import MIGRATIONS, SqliteMemoryStore
from nexus_agent.services_pg import PG_MIGRATIONS
from nexus_agent.testing.postgres import ThrowawayCluster, create_database

_DOCUMENT = (
    "UPDATE memory_index m SET document = setweight(to_tsvector('nexus_text', n.title), 'A') "
    "|| setweight(to_tsvector('nexus_text', n.text), 'B') FROM notes n WHERE n.id = m.ref_id AND m.kind = 'note'"
)


def load(sqlite_path: Path, url: str) -> None:
    """Copy the SQLite benchmark database's notes into a migrated PostgreSQL database."""
    database = PgDatabase(url)
    database.migrate(PG_MIGRATIONS)
    database.close()
    src = Database(sqlite_path)
    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP INDEX memory_index_document")
        for table, cols in (
            ("notes", "id, title, text, author, created_at"),
            ("memory_index", "id, kind, ref_id, apps, tags, facets, created_at"),
        ):
            with conn.cursor().copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in src.conn.execute(f"SELECT {cols} FROM {table} ORDER BY id"):
                    copy.write_row(row)
            print(f"  copied {table} in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        conn.execute(_DOCUMENT)
        print(f"  documents computed at {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("CREATE INDEX memory_index_document ON memory_index USING GIN (document)")
        for table in ("notes", "memory_index"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.execute("VACUUM ANALYZE")
        print(f"  GIN index + VACUUM ANALYZE done at {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    src.close()


async def measure_pg(store: PgMemoryStore, database: PgDatabase, url: str, queries: list[str]) -> dict[str, float]:
    def bare_sql(q: str) -> tuple[str, list[str]]:
        """The same match expression as the store's (every word, or its prefix), ranked by bare ts_rank."""
        tsquery, params = tsquery_sql(search_terms(q))
        sql = (
            f"SELECT id, ts_rank(document, q) AS rank FROM memory_index, (SELECT {tsquery} AS q) s "
            "WHERE document @@ q ORDER BY rank DESC LIMIT 10"
        )
        return sql.replace("?", "%s"), params

    with psycopg.connect(url, autocommit=True, options="-c jit=off") as conn:  # as the store's pool

        async def store_search(q: str) -> object:
            return await store.search(SearchQuery(query=q))

        async def no_hop(q: str) -> object:
            with database.read() as db:
                return pg_search(db, SearchQuery(query=q))

        async def bare(q: str) -> object:
            sql, params = bare_sql(q)
            return conn.execute(sql, params).fetchall()

        runners = {"store": store_search, "thread": no_hop, "bare": bare}
        for q in queries[:20]:
            for fn in runners.values():
                await fn(q)
        times: dict[str, list[float]] = {name: [] for name in runners}
        hits = 0
        for i, q in enumerate(queries):
            names = list(runners)
            for name in names[i % 3 :] + names[: i % 3]:
                start = time.perf_counter()
                await runners[name](q)
                times[name].append((time.perf_counter() - start) * 1000)
            hits += bool(await bare(q))
    out = {f"{name}_p50": statistics.median(ms) for name, ms in times.items()}
    out |= {f"{name}_p95": percentile(ms, 0.95) for name, ms in times.items()}
    return out | {"ratio_p50": out["store_p50"] / out["bare_p50"], "with_hits": hits / len(queries)}


def report(name: str, r: dict[str, float], bare: str) -> None:
    print(
        f"{name:<26} store p50 {r['store_p50']:7.2f} ms p95 {r['store_p95']:7.2f} | "
        f"no hop p50 {r['thread_p50']:7.2f} | {bare} p50 {r['bare_p50']:7.2f} ms p95 {r['bare_p95']:7.2f} | "
        f"ratio {r['ratio_p50']:.2f} | hits {r['with_hits']:.0%}"
    )


async def run(args: argparse.Namespace) -> None:
    sqlite_path = Path(args.sqlite) if args.sqlite else Path(tempfile.mkdtemp()) / "recall.db"
    if not sqlite_path.exists():
        print(f"building {args.notes:,} notes in {sqlite_path} …", file=sys.stderr)
        build(sqlite_path, args.notes)
    cluster = None if args.url else ThrowawayCluster.start()
    try:
        if args.url and args.reuse:
            url = args.url  # a database this benchmark loaded before
        else:
            url = create_database(args.url or cluster.url, "nexus_recall_bench")  # type: ignore[union-attr]
            t = time.perf_counter()
            load(sqlite_path, url)
            print(f"PostgreSQL loaded in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        await compare(sqlite_path, url, args.queries)
    finally:
        if cluster is not None:
            cluster.stop()


async def compare(sqlite_path: Path, url: str, per_set: int) -> None:
    sqlite_db = Database(sqlite_path)
    sqlite_db.migrate([MIGRATIONS])
    sqlite_store = SqliteMemoryStore(sqlite_db)
    pg_db = PgDatabase(url)
    pg_store = PgMemoryStore(pg_db)
    count = (await pg_store.stats())["notes"]
    print(f"{count:,} notes in both engines, {per_set} queries per set")
    sets: dict[str, Any] = query_sets(NoteGenerator(), per_set, sqlite_db)
    for name, queries in sets.items():
        report(f"PostgreSQL {name}", await measure_pg(pg_store, pg_db, url, queries), "bare tsquery")
        report(f"SQLite     {name}", await measure_sqlite(sqlite_store, sqlite_db, queries), "bare FTS5   ")
    pg_db.close()
    sqlite_db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notes", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200, help="queries per set")
    parser.add_argument("--sqlite", help="the SQLite benchmark database; built when missing, reused when present")
    parser.add_argument("--url", help="a PostgreSQL server to use instead of a throwaway cluster")
    parser.add_argument("--reuse", action="store_true", help="--url is a database loaded by an earlier run: measure")
    anyio.run(run, parser.parse_args())


if __name__ == "__main__":
    main()
