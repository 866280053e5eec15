"""Job history pages at scale: 10,000,000 outcomes in PostgreSQL (`--quick`: 1,000,000), every page < 50 ms.

    python benchmarks/history.py [--quick] [--rows N]

1. creates a database of its own on the PostgreSQL server of BENCH_DATABASE_URL or TEST_DATABASE_URL
   (default postgresql://127.0.0.1:5432/test, trust auth) and builds the schema from
   dashboard/history/models.py's metadata: the same tables and indexes the migration creates;
2. loads the outcomes with COPY (psycopg), the indexes built after the load as a restore would:
   ~20 queues and ~200 functions (each function on one queue, popularity skewed), 5 % failed (+ a few
   retried, stopped, abandoned) over ~100 error fingerprints, 40 workers, ended_at spread over 30 days
   in roughly the order a collector writes them, 1 % with a promoted attribute (tenant); then VACUUM ANALYZE;
3. times pages through dashboard.history.queries.history_page (the page's own code): the first page, deep
   keyset pages (a cursor 20 days back; page 201 after following 200 cursors) and filter combinations,
   each run several times (median per page), and checks with EXPLAIN that each page reads one index range
   with no sort of the window;
4. prints a table, and last `RESULT rows=<n> worst_page_ms=<ms>` (the slowest page's median).

The database is dropped at the end, on every exit path.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402
import sqlalchemy as sa  # noqa: E402
import support  # noqa: E402
from sqlalchemy.dialects import postgresql  # noqa: E402

from dashboard.history import models  # noqa: E402
from dashboard.history.queries import Filters, encode_cursor, history_page, page_statement, resolve_window  # noqa: E402

DEFAULT_SERVER = "postgresql://127.0.0.1:5432/test"
QUEUE_NAMES = (  # noqa: SIM905 - twenty names read better as one string
    "default high low mail reports billing imports exports webhooks search images cleanup sync "
    "notifications payments analytics media archive crawler ml"
).split()
MODULES = ("mail", "reports", "billing", "imports", "exports", "hooks", "search", "images", "cleanup", "sync")
VERBS = ("send", "build", "charge", "load", "render", "index", "resize", "purge", "pull", "push")
NOUNS = ("invoice", "digest", "report", "batch", "feed", "thumbnail", "page", "order", "user", "event")
EXCEPTIONS = ("ValueError", "KeyError", "TimeoutError", "ConnectionError", "RuntimeError", "PermissionError")
COLUMNS = (  # noqa: SIM905 - the COPY's column list, in the order generate() writes them
    "id job_id attempt queue function status enqueued_at started_at ended_at wait_us run_us worker "
    "exc_type exc_message fingerprint source"
).split()
RUNS = 7
PLAN_WORDS = {"ordered": "index range in order", "bitmap": "index range, top-N of its matches"}
CHUNK = 50_000
DAYS = 30


class Data:
    """The vocabulary of the load (functions with their queue, fingerprints, workers, tenants), seeded."""

    def __init__(self, rng: random.Random) -> None:
        self.functions = [
            f"tasks.{MODULES[j % 10]}.{VERBS[(j // 10) % 10]}_{NOUNS[(j // 100 + j) % 10]}_{j:03d}" for j in range(200)
        ]
        self.function_queue = [QUEUE_NAMES[j % len(QUEUE_NAMES)] for j in range(200)]
        self.function_weights = _cumulative([1 / (j + 1) ** 0.9 for j in range(200)])
        self.run_median_us = [int(2_000 * 1.04**j) for j in range(200)]
        self.fingerprints = [f"{rng.getrandbits(128):032x}" for _ in range(100)]
        self.fingerprint_weights = _cumulative([1 / (k + 1) for k in range(100)])
        self.exc = [(EXCEPTIONS[k % len(EXCEPTIONS)], f"failure kind {k} for record") for k in range(100)]
        self.workers = [f"worker-{k:02d}.{rng.getrandbits(32):08x}" for k in range(40)]
        self.tenants = [f"tenant-{k:03d}" for k in range(50)]


def _cumulative(weights: list[float]) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


def server_url() -> sa.URL:
    raw = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL") or DEFAULT_SERVER
    return sa.make_url(raw).set(drivername="postgresql+psycopg")


def build_schema(engine: sa.Engine) -> list[sa.schema.DDLElement]:
    """The history tables from the models' metadata, with their indexes and unique constraint dropped
    for the load; returns the DDL that creates them again (the very objects of models.py)."""
    tables = [models.job_outcomes, models.job_outcome_attributes]
    models.metadata.create_all(engine, tables=tables)
    later: list[sa.schema.DDLElement] = []
    with engine.begin() as conn:
        for table in tables:
            for index in table.indexes:
                conn.execute(sa.schema.DropIndex(index))
                later.append(sa.schema.CreateIndex(index))
            for constraint in table.constraints:
                if isinstance(constraint, sa.UniqueConstraint):
                    conn.execute(sa.schema.DropConstraint(constraint))
                    later.append(sa.schema.AddConstraint(constraint))
    return later


def generate(rows: int, now: datetime, data: Data, rng: random.Random):
    """COPY text chunks of job_outcomes and of job_outcome_attributes, in ended_at order (with jitter)."""
    start = now - timedelta(days=DAYS)
    step = timedelta(days=DAYS) / rows
    for first in range(0, rows, CHUNK):
        count = min(CHUNK, rows - first)
        funcs = rng.choices(range(200), cum_weights=data.function_weights, k=count)
        outcomes, attributes = [], []
        for n, j in enumerate(funcs):
            row_id = first + n + 1
            ended = start + step * (first + n) + timedelta(microseconds=rng.randrange(-2_000_000, 2_000_000))
            run_us = int(rng.lognormvariate(0, 1) * data.run_median_us[j])
            wait_us = int(rng.lognormvariate(0, 1.5) * 50_000)
            started = ended - timedelta(microseconds=run_us)
            enqueued = started - timedelta(microseconds=wait_us)
            roll = rng.random()
            status = (
                "finished"
                if roll >= 0.063
                else "failed"
                if roll < 0.05
                else "retried"
                if roll < 0.06
                else "stopped"
                if roll < 0.062
                else "abandoned"
            )
            exc_type = exc_message = fingerprint = r"\N"
            if status in ("failed", "retried"):
                k = rng.choices(range(100), cum_weights=data.fingerprint_weights)[0]
                fingerprint = data.fingerprints[k]
                exc_type, message = data.exc[k]
                exc_message = f"{message} {rng.randrange(10**6)}"
            attempt = int(started.replace(tzinfo=UTC).timestamp() * 1000)
            outcomes.append(
                f"{row_id}\t{rng.getrandbits(128):032x}\t{attempt}\t{data.function_queue[j]}\t{data.functions[j]}\t"
                f"{status}\t{enqueued}\t{started}\t{ended}\t{wait_us}\t{run_us}\t{rng.choice(data.workers)}\t"
                f"{exc_type}\t{exc_message}\t{fingerprint}\tstream\n"
            )
            if rng.random() < 0.01:
                attributes.append(f"{row_id}\ttenant\t{rng.choice(data.tenants)}\t{ended}\n")
        yield "".join(outcomes), "".join(attributes)


def load(engine: sa.Engine, rows: int, now: datetime, data: Data) -> tuple[int, float]:
    started = time.perf_counter()
    attribute_rows = 0
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        with driver.cursor() as cur:
            columns = ", ".join(f'"{c}"' for c in COLUMNS)
            for outcomes, attributes in generate(rows, now, data, random.Random(14)):  # noqa: S311 - data, not secrets
                with cur.copy(f"COPY job_outcomes ({columns}) FROM STDIN") as copy:
                    copy.write(outcomes)
                if attributes:
                    attribute_rows += attributes.count("\n")
                    with cur.copy("COPY job_outcome_attributes (outcome_id, name, value, ended_at) FROM STDIN") as copy:
                        copy.write(attributes)
            cur.execute("SELECT setval(pg_get_serial_sequence('job_outcomes', 'id'), %s)", (rows,))
        driver.commit()
    finally:
        raw.close()
    return attribute_rows, time.perf_counter() - started


def finish_schema(engine: sa.Engine, ddl: list[sa.schema.DDLElement]) -> float:
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.exec_driver_sql("SET maintenance_work_mem = '512MB'")
        for statement in ddl:
            conn.execute(statement)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE) job_outcomes")
        conn.exec_driver_sql("VACUUM (ANALYZE) job_outcome_attributes")
    return time.perf_counter() - started


def pages(data: Data, now: datetime) -> list[tuple[str, object, Filters, str | None, int]]:
    """(label, window, filters, cursor, pages to follow first) of each timed page."""
    day30, day7, day1 = resolve_window("30d", now=now), resolve_window("7d", now=now), resolve_window("24h", now=now)
    deep = encode_cursor((now - timedelta(days=20)).replace(tzinfo=None), 2**62)
    small_queue = data.function_queue[19]
    return [
        ("first page, last hour", resolve_window("1h", now=now), Filters(), None, 0),
        ("first page, 30 d", day30, Filters(), None, 0),
        ("deep: cursor 20 d back, 30 d", day30, Filters(), deep, 0),
        ("deep: page 201 by cursors, 30 d", day30, Filters(), None, 200),
        ("queue + failed, 24 h", day1, Filters(queue=QUEUE_NAMES[0], status="failed"), None, 0),
        ("small queue + failed, 24 h", day1, Filters(queue=small_queue, status="failed"), None, 0),
        ("function + failed, 7 d", day7, Filters(function=data.functions[30], status="failed"), None, 0),
        ("queue + failed, deep 20 d, 30 d", day30, Filters(queue=QUEUE_NAMES[0], status="failed"), deep, 0),
        ("function, 7 d", day7, Filters(function=data.functions[50]), None, 0),
        ("rare function, 30 d", day30, Filters(function=data.functions[199]), None, 0),
        ("queue + function, 7 d", day7, Filters(queue=data.function_queue[100], function=data.functions[100]), None, 0),
        ("fingerprint, 30 d", day30, Filters(fingerprint=data.fingerprints[40]), None, 0),
        ("status failed, 30 d", day30, Filters(status="failed"), None, 0),
        ("worker, 24 h", day1, Filters(worker=data.workers[7]), None, 0),
        ("attribute tenant, 30 d", day30, Filters(attribute=("tenant", data.tenants[3])), None, 0),
        ("attribute + failed, 30 d", day30, Filters(attribute=("tenant", data.tenants[3]), status="failed"), None, 0),
    ]


def _plan_nodes(doc: dict) -> tuple[set[str], str]:
    nodes, stack = [], [doc["Plan"]]
    while stack:
        node = stack.pop()
        nodes.append(node)
        stack.extend(node.get("Plans", []))
    return {n["Node Type"] for n in nodes}, ",".join(sorted({n["Index Name"] for n in nodes if "Index Name" in n}))


def _kind(kinds: set[str], indexes: str) -> str:
    """ "ordered": index ranges read in order, no sort at all; "bitmap": PostgreSQL collects the exact
    matches of an index range and sorts only those (top-N; it does so when they are few); "CHECK":
    anything else (a sequential scan, no index, a sort over something else)."""
    if not indexes or "Seq Scan" in kinds:
        return "CHECK"
    if "Sort" in kinds:
        return "bitmap" if "Bitmap Index Scan" in kinds else "CHECK"
    return "ordered"


def plan(conn: sa.Connection, statement: sa.Select) -> tuple[str, str, float, int]:
    """EXPLAIN ANALYZE of the page's own statement: its kind (see _kind), the indexes used, the server's
    own time (planning + execution) and the buffers touched."""
    compiled = statement.compile(dialect=conn.dialect)
    sql = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + compiled.string
    (doc,) = conn.exec_driver_sql(sql, compiled.params).scalar()
    kinds, indexes = _plan_nodes(doc)
    server_ms = doc.get("Planning Time", 0.0) + doc.get("Execution Time", 0.0)
    buffers = doc["Plan"].get("Shared Hit Blocks", 0) + doc["Plan"].get("Shared Read Blocks", 0)
    shown = indexes if _kind(kinds, indexes) != "CHECK" else f"{indexes or 'no index'} ({' + '.join(sorted(kinds))})"
    return _kind(kinds, indexes), shown, server_ms, buffers


def generic_plan(conn: sa.Connection, statement: sa.Select) -> str:
    """The kind of plan PostgreSQL would cache for the statement prepared (psycopg prepares a query run
    five times on a connection): the plan for unknown values, forced with plan_cache_mode. Shown for the
    record: history_page forbids such plans (SET LOCAL plan_cache_mode = force_custom_plan)."""
    compiled = statement.compile(dialect=postgresql.psycopg.dialect(paramstyle="numeric_dollar"))
    values = [compiled.params[name] for name in compiled.positiontup or ()]
    raw = conn.connection.driver_connection
    with psycopg.ClientCursor(raw) as cur:
        cur.execute("PREPARE bench_page AS " + compiled.string)
        try:
            cur.execute("SET plan_cache_mode = force_generic_plan")
            placeholders = ", ".join(["%s"] * len(values))
            cur.execute(f"EXPLAIN (FORMAT JSON) EXECUTE bench_page({placeholders})", values)
            (doc,) = cur.fetchone()[0]
        finally:
            cur.execute("DEALLOCATE bench_page")
            cur.execute("RESET plan_cache_mode")
    return _kind(*_plan_nodes(doc))


def time_pages(engine: sa.Engine, data: Data, now: datetime) -> list[tuple]:
    """(label, rows, median ms, max ms, plan kind, indexes, server ms, buffers, generic plan kind) per page."""
    results = []
    with engine.connect() as conn:
        for label, window, filters, cursor, follow in pages(data, now):
            for _ in range(follow):
                cursor = history_page(conn, window, filters, after=cursor).next_cursor
            times, count = [], 0
            for _ in range(RUNS + 1):  # the first run warms the cache and is not counted
                started = time.perf_counter()
                page = history_page(conn, window, filters, after=cursor)
                times.append((time.perf_counter() - started) * 1000)
                count = len(page.rows)
            statement = page_statement(window, filters, cursor)
            kind, used, server_ms, buffers = plan(conn, statement)
            generic = generic_plan(conn, statement)
            median, worst = statistics.median(times[1:]), max(times[1:])
            results.append((label, count, median, worst, kind, used, server_ms, buffers, generic))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000,000 outcomes instead of 10,000,000")
    parser.add_argument("--rows", type=int, help="this many outcomes instead")
    args = parser.parse_args()
    rows = args.rows or (1_000_000 if args.quick else 10_000_000)
    support.handle_signals()
    server = server_url()
    name = f"rqconsole_bench_history_{os.getpid()}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine = sa.create_engine(server.set(database=name))
    try:
        now = datetime.now(UTC).replace(tzinfo=None)
        data = Data(random.Random(14))  # noqa: S311 - data, not secrets
        print(f"PostgreSQL {server.render_as_string(hide_password=True)}, database {name}: {rows:,} outcomes")
        ddl = build_schema(engine)
        attribute_rows, load_s = load(engine, rows, now, data)
        index_s = finish_schema(engine, ddl)
        with engine.connect() as conn:
            loaded = conn.execute(sa.select(sa.func.count()).select_from(models.job_outcomes)).scalar_one()
            size = conn.exec_driver_sql("SELECT pg_size_pretty(pg_database_size(current_database()))").scalar()
        print(
            f"loaded {loaded:,} outcomes (+ {attribute_rows:,} attributes) by COPY in {load_s:.1f} s "
            f"({loaded / load_s:,.0f} rows/s); indexes + VACUUM ANALYZE {index_s:.1f} s; database {size}"
        )
        results = time_pages(engine, data, now)
        print(f"\n{'page':<36} {'rows':>5} {'median ms':>10} {'max ms':>8} {'server ms':>10} {'buffers':>8}  plan")
        for label, count, median, worst, kind, used, server_ms, buffers, generic in results:
            words = f"{PLAN_WORDS.get(kind, kind)}: {used}; generic: {generic}"
            print(f"{label:<36} {count:>5} {median:>10.2f} {worst:>8.2f} {server_ms:>10.2f} {buffers:>8}  {words}")
        bad = [r[0] for r in results if "CHECK" in (r[4], r[8])]
        print(
            "\nplans: every page reads index ranges, none sorts the window"
            if not bad
            else f"\nplans to check (not an index range): {', '.join(bad)}"
        )
        worst_page = max(r[2] for r in results)
        print(f"\nRESULT rows={loaded} worst_page_ms={worst_page:.2f}")
        return 0
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
