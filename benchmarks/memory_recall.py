"""Recall latency of ``SqliteMemoryStore.search`` against bare FTS5 BM25 at scale.

    python benchmarks/memory_recall.py                      # builds 1,000,000 notes in a temp dir
    python benchmarks/memory_recall.py --db /tmp/recall.db  # builds once, reuses afterwards

The notes read like an aluminium glazing business's (quotes, enquiries,
invoices, fabrication, installs, credit checks, margins, customers, £ amounts,
apps and tags), spread over three years, with a Zipf-Mandelbrot distribution of
content words: the commonest is in ~40% of the notes, the 50th in ~7%. The
database is built in bulk (large transactions), not through ``add_note``.

For each 2-3 word query it times, in rotating order on one connection:
``await store.search(...)`` (validation, thread hop, recency ranking, hydration
and snippets included), the same search without the thread hop
(``run_search``), and the bare ``SELECT rowid, bm25(fts) FROM fts WHERE fts
MATCH ? ORDER BY bm25(fts) LIMIT 10`` with the same terms. Query sets:
``common`` (top-50 content words), ``rare`` (words ranked 1,000+ of a stored
note), ``recall`` (any content words of a stored note); the filtered rows
compare a filtered search with the unfiltered bare query. ``--busy N`` keeps N
other processes spinning on the CPU throughout (``--busy 1`` on two cores: the
other core busy), so a thread hop's cost under load shows on a quiet machine too.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from memory.database import Database
from memory.models import SearchQuery
from memory.search import RecencyKnots, facet_text, run_search, safe_match, search_terms
from memory.store import MIGRATIONS, SqliteMemoryStore


def _words(text: str) -> list[str]:
    return text.split()


FUNCTION_WORDS = _words(
    "the a to for and of on with in is was we they at by from as be has have it this that will are our their "
    "need needs next week after before about not but can should all any per into up out new still also please"
)
DOMAIN_WORDS = _words(
    "quote quotes quoted enquiry enquiries invoice invoices invoiced fabrication fabricate installation install "
    "installed fitter fitters credit check checks margin margins aluminium glazing glazed window windows door doors "
    "curtain wall walling bifold bifolds sliding slider casement frame frames profile profiles powder coating coated "
    "ral anodised thermal break glass double triple toughened laminated survey surveyed site delivery delivered lead "
    "time supplier suppliers order orders ordered purchase deposit payment paid overdue balance account terms discount "
    "price priced pricing cost costs labour materials schedule scheduled drawing drawings specification tender "
    "contractor architect developer commercial residential retail school office warehouse shopfront rooflight "
    "lantern skylight spandrel panel panels mullion transom sill gasket sealant bracket fixings hardware handle lock "
    "hinge threshold remedial snagging warranty callback complaint damaged breakage replacement resealing reglaze "
    "measure measured template cill flashing cladding louvre louvres vent trickle acoustic fire rated secured "
    "approval approved signed variation extra retention valuation application certificate handover sub contract "
    "crane scaffold access permit method statement risk assessment cdm week monday tuesday wednesday thursday friday "
    "urgent chased reminder statement aged debtor creditsafe limit insurer experian rating pass fail referred "
    "director accounts manager estimator surveyor foreman van stock extrusion billet cut machined punched assembled "
    "crimped glazed packed dispatched loaded returned credit-note remake shortfall"
)
SURNAMES = _words(
    "hartley patel smith jones taylor brown williams wilson johnson davies robinson wright thompson evans walker "
    "white roberts green hall wood jackson clarke hughes edwards turner hill moore cooper ward morris king watson "
    "harrison morgan baker young allen mitchell anderson lewis bell kelly shaw fletcher hussain khan ahmed singh "
    "begum ali murphy oconnor byrne doyle mccarthy campbell stewart scott reid ross fraser grant graham mclean "
    "barker dixon palmer pearson holmes mills webb lloyd griffiths rees price owen hale nash fox lynch riley lowe"
)
COMPANY = _words("glazing construction developments builders homes properties joinery windows contracts group")
PLACES = _words(
    "leeds bradford wakefield huddersfield halifax york harrogate sheffield doncaster rotherham barnsley hull "
    "manchester salford bolton wigan oldham rochdale stockport liverpool preston blackburn burnley lancaster "
    "newcastle sunderland durham middlesbrough darlington nottingham derby leicester birmingham coventry"
)
APPS = _words("quote-engine credit-check fabrication-tracker install-planner invoice-hub crm supplier-portal")
TAGS = _words("sales finance production install urgent follow-up pricing credit complaint warranty")
YEARS = 3.0
ZIPF_SHIFT = 10


def vocabulary(rng: random.Random, size: int = 20_000) -> list[str]:
    """Content words by rank: domain words first (shuffled), then names and places, then rare codes."""
    domain = DOMAIN_WORDS[:]
    rng.shuffle(domain)
    names = [*SURNAMES, *PLACES, *COMPANY]
    rng.shuffle(names)
    ranked = list(dict.fromkeys(domain[:40] + names[:20] + domain[40:] + names[20:]))
    letters = "bcdfghjklmnprstvwxz"
    while len(ranked) < size:  # product codes, job refs, supplier part names
        ranked.append(rng.choice(letters) + rng.choice("aeiou") + rng.choice(letters) + str(rng.randint(10, 9999)))
        ranked = list(dict.fromkeys(ranked))
    return ranked


class NoteGenerator:
    """Content words follow Zipf-Mandelbrot, p(rank) ~ 1 / (rank + ZIPF_SHIFT), like real text once the
    function words (drawn separately) are set aside: the top word is in about a quarter of the notes."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.words = vocabulary(self.rng)
        self.cum = list(itertools.accumulate(1.0 / (r + 1 + ZIPF_SHIFT) for r in range(len(self.words))))

    def content(self, k: int) -> list[str]:
        return self.rng.choices(self.words, cum_weights=self.cum, k=k)

    def note(self) -> tuple[str, str]:
        rng = self.rng
        n = rng.randint(12, 45)
        words = self.content(n) + rng.choices(FUNCTION_WORDS, k=n * 2 // 3)
        rng.shuffle(words)
        if rng.random() < 0.6:
            words.insert(rng.randrange(len(words)), f"£{rng.randint(80, 95_000):,}")
        if rng.random() < 0.5:
            words.insert(0, f"{rng.choice(SURNAMES).title()} {rng.choice(COMPANY).title()}:")
        title = " ".join(self.content(rng.randint(3, 6))).capitalize() if rng.random() < 0.3 else ""
        return title, " ".join(words).capitalize() + "."


def build(path: Path, notes: int, seed: int = 7) -> None:
    """Bulk-load ``notes`` notes exactly as ``add_note`` would store them, in big transactions."""
    database = Database(path, sync="normal")
    database.migrate([MIGRATIONS])
    conn = database.conn
    conn.execute("PRAGMA synchronous = OFF")
    gen = NoteGenerator(seed)
    start_ts = time.time() - YEARS * 365 * 86_400
    step = YEARS * 365 * 86_400 / notes
    t0 = time.perf_counter()
    batch = 50_000
    for first in range(1, notes + 1, batch):
        ids = range(first, min(first + batch, notes + 1))
        rows, index_rows, fts_rows = [], [], []
        for i in ids:
            title, text = gen.note()
            ts = start_ts + i * step
            apps = gen.rng.sample(APPS, gen.rng.choice((0, 0, 1, 1, 2)))
            tags = gen.rng.sample(TAGS, gen.rng.choice((0, 1, 1, 2)))
            facets = facet_text("note", apps, tags)
            rows.append((i, title, text, "owner", ts))
            index_rows.append((i, "note", i, json.dumps(apps), json.dumps(tags), facets, ts))
            fts_rows.append((i, title, text, facets))
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO notes (id, title, text, author, created_at) VALUES (?, ?, ?, ?, ?)", rows)
        conn.executemany(
            "INSERT INTO memory_index (id, kind, ref_id, apps, tags, facets, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            index_rows,
        )
        conn.executemany("INSERT INTO memory_fts (rowid, title, body, facets) VALUES (?, ?, ?, ?)", fts_rows)
        conn.execute("COMMIT")
        print(f"  built {ids[-1]:,} notes in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    database.close()


def query_sets(gen: NoteGenerator, n: int, db: Database) -> dict[str, list[str]]:
    """``common``: top-50 words; ``rare``: words ranked 1,000+ of a stored note; ``recall``: any words of a note."""
    rng = random.Random(11)
    rank = {w: r for r, w in enumerate(gen.words)}
    (count,) = db.conn.execute("SELECT count(*) FROM notes").fetchone()

    def pick(pool: Sequence[str]) -> str:
        return " ".join(rng.sample(list(pool), rng.choice((2, 3))))

    def from_notes(keep: Callable[[str], bool]) -> list[str]:
        out: list[str] = []
        while len(out) < n:
            (text,) = db.conn.execute("SELECT text FROM notes WHERE id = ?", (rng.randint(1, count),)).fetchone()
            words = list(dict.fromkeys(w for w in re.findall(r"[^\W_]+", text.lower()) if w in rank and keep(w)))
            if len(words) >= 3:
                out.append(pick(words))
        return out

    return {
        "common": [pick(gen.words[:50]) for _ in range(n)],
        "rare": from_notes(lambda w: rank[w] >= 1000),
        "recall": from_notes(lambda w: True),
    }


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def measure(store: SqliteMemoryStore, db: Database, queries: list[str], **filters: Any) -> dict[str, float]:
    """Median and p95 (ms) of: the store (``await store.search``), the same search run in the calling
    thread (``run_search``, no thread hop), and bare BM25. The three run in rotating order per query,
    so none always finds the query's pages freshly cached by another."""
    bare_sql = (
        "SELECT rowid, bm25(memory_fts) FROM memory_fts WHERE memory_fts MATCH ? ORDER BY bm25(memory_fts) LIMIT 10"
    )
    conn = db.conn
    knots = RecencyKnots()

    async def store_search(q: str) -> object:
        return await store.search(SearchQuery(query=q, **filters))

    async def in_thread(q: str) -> object:
        return run_search(conn, SearchQuery(query=q, **filters), knots=knots)

    async def bare(q: str) -> object:
        return conn.execute(bare_sql, (safe_match(search_terms(q)),)).fetchall()

    runners = {"store": store_search, "thread": in_thread, "bare": bare}
    for q in queries[:20]:  # warm up
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


def report(name: str, r: dict[str, float]) -> None:
    print(
        f"{name:<22} store p50 {r['store_p50']:6.2f} ms p95 {r['store_p95']:6.2f} | "
        f"no hop p50 {r['thread_p50']:6.2f} | bare FTS p50 {r['bare_p50']:6.2f} ms p95 {r['bare_p95']:6.2f} | "
        f"ratio {r['ratio_p50']:.2f} | hits {r['with_hits']:.0%}"
    )


async def run(args: argparse.Namespace) -> None:
    path = Path(args.db) if args.db else Path(tempfile.mkdtemp()) / "recall.db"
    if not path.exists():
        print(f"building {args.notes:,} notes in {path} …", file=sys.stderr)
        t = time.perf_counter()
        build(path, args.notes)
        print(f"built in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    db = Database(path)
    db.migrate([MIGRATIONS])
    if args.optimize:
        t = time.perf_counter()
        db.conn.execute("INSERT INTO memory_fts (memory_fts) VALUES ('optimize')")
        print(f"FTS5 optimize took {time.perf_counter() - t:.0f} s", file=sys.stderr)
    store = SqliteMemoryStore(db)
    stats = await store.stats()
    size_mb = path.stat().st_size / 1e6
    print(f"database: {path} ({stats['notes']:,} notes, {size_mb:,.0f} MB), {args.queries} queries per set")
    gen = NoteGenerator()
    shares = []
    for rank in (1, 10, 50, 1000):
        match = safe_match(search_terms(gen.words[rank - 1]))
        (hits,) = db.conn.execute("SELECT count(*) FROM memory_fts WHERE memory_fts MATCH ?", (match,)).fetchone()
        shares.append(f"#{rank} {gen.words[rank - 1]!r} {hits / max(stats['notes'], 1):.1%}")
    print("share of notes containing the content word ranked " + ", ".join(shares))
    sets = query_sets(gen, args.queries, db)
    spin = "while True: pass"
    burners = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(args.busy)]
    if burners:
        print(f"{len(burners)} other process(es) spinning on the CPU; load average now {os.getloadavg()[0]:.1f}")
    try:
        await _measure_sets(store, db, sets)
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    db.close()


async def _measure_sets(store: SqliteMemoryStore, db: Database, sets: dict[str, list[str]]) -> None:
    for name, queries in sets.items():
        report(name, await measure(store, db, queries))
    everything = [q for qs in sets.values() for q in qs]
    report("all", await measure(store, db, everything))
    report("recall + app filter", await measure(store, db, sets["recall"], app="quote-engine"))
    report("recall + last 90 days", await measure(store, db, sets["recall"], since=_days_ago(90)))


def _days_ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notes", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300, help="queries per set")
    parser.add_argument("--db", help="database path; built when missing, reused when present")
    parser.add_argument("--optimize", action="store_true", help="run FTS5 'optimize' (merge segments) first")
    parser.add_argument("--busy", type=int, default=0, help="processes kept spinning on the CPU while measuring")
    anyio.run(run, parser.parse_args())


if __name__ == "__main__":
    main()
