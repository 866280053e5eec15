"""The per-minute metrics store: what the worker's writer puts in Redis and what the reader gives back
(real Redis; the writer is the one the worker adds to RQ's transactions)."""

from __future__ import annotations

import random
import re
import time

import pytest

from dashboard.rqlayer import keys
from dashboard.rqlayer.telemetry import events, layout, metrics, series
from dashboard.rqlayer.telemetry.metrics import MetricsWriter
from dashboard.settings import SettingsError, TelemetrySettings, load_telemetry_settings

NOW = 1_790_000_000.0  # a fixed clock, mid-minute: 29833333 * 60 + 20
MINUTE = layout.minute_of(NOW)


def write(conn, writer, n, **kwargs):
    pipe = conn.pipeline()
    for _ in range(n):
        writer.record_end(pipe, **kwargs)
    pipe.execute()


def test_counters_sums_max_and_buckets_are_exact(conn):
    writer = MetricsWriter()
    write(conn, writer, 7, queue="q", function="f", outcome="finished", ended_at=NOW, run_s=0.003, wait_s=0.2)
    write(conn, writer, 2, queue="q", function="f", outcome="failed", ended_at=NOW, run_s=0.7, wait_s=0.2)
    write(conn, writer, 1, queue="q", function="f", outcome="retried", ended_at=NOW, run_s=12.0, wait_s=4000)
    write(conn, writer, 1, queue="q", function="f", outcome="stopped", ended_at=NOW)
    write(conn, writer, 3, queue="q", function="g", outcome="finished", ended_at=NOW, run_s=0.05, wait_s=0)

    pair = series.read_series(conn, "q", "f", minutes=3, now=NOW)
    assert [p.minute for p in pair.points] == [(MINUTE - 2) * 60, (MINUTE - 1) * 60, MINUTE * 60]
    point = pair.points[-1]
    assert (point.finished, point.failed, point.retried, point.stopped) == (7, 2, 1, 1)
    assert pair.points[0].ended == 0 and pair.has_data
    run = point.run
    assert run.count == 10  # the stopped execution had no run time
    assert run.counts[layout.bucket(0.003, layout.RUN_EDGES)] == 7
    assert run.counts[layout.RUN_EDGES.index(1.0)] == 2  # 0.7 s: in (0.5, 1]
    assert run.counts[layout.RUN_EDGES.index(30.0)] == 1  # 12 s: in (10, 30]
    assert run.sum_us == 7 * 3000 + 2 * 700_000 + 12_000_000
    assert run.max_us == 12_000_000 and run.max == 12.0
    assert point.wait.counts[-1] == 1 and point.wait.max_us == 4_000_000_000  # beyond the last edge
    assert point.wait.counts[layout.WAIT_EDGES.index(0.25)] == 9

    total = series.read_series(conn, "q", None, minutes=1, now=NOW).points[-1]
    assert (total.finished, total.failed, total.retried, total.stopped) == (10, 2, 1, 1)
    assert total.run.count == 13 and total.run.max_us == 12_000_000
    other = series.read_series(conn, "q", "g", minutes=1, now=NOW).points[-1]
    assert other.run.counts[layout.RUN_EDGES.index(0.05)] == 3 and other.wait.counts[0] == 3


def test_percentiles_come_from_the_buckets_and_never_pass_the_max():
    edges = layout.RUN_EDGES
    counts = [0] * (len(edges) + 1)
    counts[edges.index(0.1)] = 90  # (0.05, 0.1]
    counts[edges.index(1.0)] = 10  # (0.5, 1]
    hist = series.Histogram(edges, tuple(counts), sum_us=0, max_us=800_000)
    assert hist.quantile(0.5) == pytest.approx(0.05 + 0.05 * (50 / 90))
    assert hist.quantile(0.95) == pytest.approx(0.5 + 0.5 * 0.5)
    assert hist.quantile(1.0) == pytest.approx(0.8)  # capped at the observed max, not the bucket edge
    assert series.empty_histogram(edges).quantile(0.5) is None
    merged = hist + hist
    assert merged.count == 200 and merged.quantile(0.5) == hist.quantile(0.5)


def test_every_maximum_is_exact_in_each_series_and_the_queue_total(conn):
    """The script reads the total's maxima only after a value raised its series' maxima."""
    rng = random.Random(7)
    writer, seen = MetricsWriter(), {}
    for _ in range(60):
        function, run_s, wait_s = rng.choice("fgh"), rng.randint(1, 10_000) / 1000, rng.randint(1, 10_000) / 1000
        write(
            conn, writer, 1, queue="q", function=function, outcome="finished", ended_at=NOW, run_s=run_s, wait_s=wait_s
        )
        run_max, wait_max = seen.get(function, (0.0, 0.0))
        seen[function] = (max(run_max, run_s), max(wait_max, wait_s))
    for function, (run_max, wait_max) in seen.items():
        point = series.read_series(conn, "q", function, minutes=1, now=NOW).points[-1]
        assert (point.run.max, point.wait.max) == (run_max, wait_max)
    total = series.read_series(conn, "q", None, minutes=1, now=NOW).points[-1]
    assert total.run.max == max(r for r, _ in seen.values()) and total.wait.max == max(w for _, w in seen.values())


def test_every_minute_key_expires_within_the_retention(conn):
    settings = TelemetrySettings(metrics_retention=600)
    write(conn, MetricsWriter(settings), 1, queue="q", function="f", outcome="finished", run_s=0.01, wait_s=0.01)
    minute_keys = list(conn.scan_iter(match=keys.metrics_minute(0, "*").replace(":0:", ":*:")))
    assert len(minute_keys) == 2  # the pair and the queue's total
    for key in minute_keys:
        assert 0 < conn.ttl(key) <= 600


def test_a_minute_hash_gets_its_ttl_whichever_execution_creates_it(conn):
    """The script sets the TTL only when an outcome field is new; a hash lost mid-minute (a Redis
    restart, a flush) and recreated by a later execution, one that skips the once-a-minute upkeep,
    still expires."""
    settings = TelemetrySettings(metrics_retention=600)
    writer = MetricsWriter(settings)
    now = time.time()
    for outcome in ("failed", "finished", "finished", "retried", "stopped", "finished"):
        plan = writer.plan("job", "q", "f", "w", now=now)
        writer.add_end(conn, plan, "f", outcome, ended_at=now, run_us="10", wait_us="10")
        writer.written(plan)
        minute_keys = list(conn.scan_iter(match=keys.metrics_minute(0, "*").replace(":0:", ":*:")))
        assert len(minute_keys) == 2
        assert all(0 < conn.ttl(key) <= 600 for key in minute_keys)
        for key in minute_keys:  # the next execution finds them gone, as after a restart
            conn.delete(key)


def test_the_series_index_forgets_old_minutes_and_is_capped(conn, monkeypatch):
    writer = MetricsWriter(TelemetrySettings(metrics_retention=600))  # 10 minutes
    write(conn, writer, 1, queue="old", function="f", outcome="finished", ended_at=NOW - 3600)
    write(conn, writer, 1, queue="new", function="f", outcome="finished", ended_at=NOW)
    assert set(series.known_series(conn)) == {("new", None), ("new", "f")}

    monkeypatch.setattr(layout, "SERIES_CAP", 6)
    capped = MetricsWriter(TelemetrySettings(metrics_retention=600))
    for n in range(10):
        write(conn, capped, 1, queue="q", function=f"f{n}", outcome="finished", ended_at=NOW + n)
    assert conn.zcard(keys.metrics_series()) == 6


HOSTILE = [
    "x" * 100_000,
    "x" * 100_000 + "y",
    'a"b\\c',
    '["q",null]',
    "tab\x1fsep\x1fcolon:star*?[",
    "new\nline\r\x00nul",
    "émoji 🚀 ünïcode",
    "",
]


def test_upkeep_runs_once_a_minute_per_series_and_counting_never_skips(conn):
    """After the worker marks a series written in a minute, its later executions in that minute leave
    the indexes alone (the script's once-a-minute upkeep) but are counted; the next minute does it again."""
    writer = MetricsWriter()
    plan = writer.plan("j1", "q", "f", "w", now=NOW)
    writer.add_end(conn, plan, "f", "finished", ended_at=NOW, run_us="10", event="finished")
    writer.written(plan)
    member = layout.series_member("q", "f")
    assert conn.zscore(keys.metrics_series(), member) == layout.minute_of(NOW)
    conn.delete(keys.metrics_series(), keys.metrics_totals_index())  # upkeep would write them again
    for n in range(3):
        later = writer.plan(f"j{n + 2}", "q", "f", "w", now=NOW + 1)
        writer.add_end(conn, later, "f", "finished", ended_at=NOW + 1, run_us="10", event="finished")
    assert not conn.exists(keys.metrics_series(), keys.metrics_totals_index())
    assert series.read_series(conn, "q", "f", minutes=2, now=NOW).total().finished == 4
    assert conn.xlen(keys.events()) == 4
    # A new minute: the first execution does the upkeep again (also when the plan is from the old one).
    stale = writer.plan("j9", "q", "f", "w", now=NOW + 1)
    writer.add_end(conn, stale, "f", "finished", ended_at=NOW + 60, run_us="10", event="finished")
    assert conn.zscore(keys.metrics_series(), member) == layout.minute_of(NOW + 60)
    assert conn.zscore(keys.metrics_totals_index(), member) == layout.minute_of(NOW + 60)


def test_hostile_names_cannot_break_the_layout(conn):
    writer = MetricsWriter()
    for name in HOSTILE:
        write(conn, writer, 2, queue=name, function=name, outcome="finished", ended_at=NOW, run_s=0.01)
    pattern = re.compile(re.escape(keys.metrics_minute(MINUTE, "")) + r"[0-9a-f]{16}$")
    minute_keys = [k.decode() for k in conn.scan_iter(match=keys.metrics_minute(MINUTE, "*"))]
    assert len(minute_keys) == 2 * len(HOSTILE) and all(pattern.match(k) for k in minute_keys)
    for key in minute_keys:
        assert set(conn.hkeys(key)) <= {b"f", b"rs", b"rm", b"b1"}
    known = series.known_series(conn)
    assert len(known) == 2 * len(HOSTILE)
    assert all(len(q) <= layout.NAME_LIMIT and (f is None or len(f) <= layout.NAME_LIMIT) for q, f in known)
    for name in HOSTILE:
        point = series.read_series(conn, name, name, minutes=1, now=NOW).points[-1]
        assert point.finished == 2, repr(name[:40])
    # Two huge names that differ only past the limit stay two series.
    assert layout.bound(HOSTILE[0]) != layout.bound(HOSTILE[1])
    assert len(layout.bound(HOSTILE[0])) == layout.NAME_LIMIT


def test_a_telemetry_key_of_the_wrong_type_fails_nothing(conn):
    member = layout.series_member("q", "f")
    conn.set(keys.metrics_minute(MINUTE, layout.series_id(member)), "not a hash")
    conn.set(keys.events(), "not a stream")
    pipe = conn.pipeline()
    pipe.set("other", "1")
    MetricsWriter().record_end(pipe, queue="q", function="f", outcome="finished", ended_at=NOW, event="finished")
    assert pipe.execute() == [True, 1]
    assert series.read_series(conn, "q", None, minutes=1, now=NOW).points[-1].finished == 1
    assert series.read_series(conn, "q", "f", minutes=1, now=NOW).points[-1].finished == 0  # unreadable: zeros


def test_readers_say_no_data_on_a_redis_without_telemetry(conn):
    assert series.telemetry_present(conn) is False
    assert series.read_queues(conn) == [] and series.read_function(conn, "tasks.x") == []
    empty = series.read_series(conn, "default", minutes=60)
    assert empty.has_data is False and len(empty.points) == 60 and empty.total().run.quantile(0.95) is None


def test_reads_are_bounded_by_the_retention(conn):
    settings = TelemetrySettings(metrics_retention=300)
    assert len(series.read_series(conn, "q", minutes=10_000, settings=settings).points) == 5
    assert len(series.read_series(conn, "q", minutes=0).points) == 1


def test_queue_and_function_discovery(conn):
    writer = MetricsWriter()
    now = time.time()
    for queue, function in (("high", "a"), ("low", "a"), ("low", "b")):
        write(conn, writer, 1, queue=queue, function=function, outcome="finished", ended_at=now)
    assert [s.queue for s in series.read_queues(conn, minutes=2)] == ["high", "low"]
    found = series.read_function(conn, "a", minutes=2)
    assert [(s.queue, s.function, s.total().finished) for s in found] == [("high", "a", 1), ("low", "a", 1)]
    assert [s.queue for s in series.read_function(conn, "a", queue="low", minutes=2)] == ["low"]


def test_the_lua_script_writes_the_fields_layout_names():
    for field in (layout.RUN_SUM, layout.RUN_MAX, layout.WAIT_SUM, layout.WAIT_MAX):
        assert f"'{field}'" in metrics.RECORD_END


def test_retention_settings_are_validated():
    assert load_telemetry_settings({}) == TelemetrySettings(7200, 100_000, 86_400)
    assert load_telemetry_settings({"METRICS_RETENTION": "3600"}).metrics_retention == 3600
    for name, bad in (("METRICS_RETENTION", "5"), ("EVENTS_MAXLEN", "lots"), ("EVENTS_MAX_AGE", "-1")):
        with pytest.raises(SettingsError, match=name):
            load_telemetry_settings({name: bad})


def test_totals_are_monotonic_sums_without_a_ttl(conn):
    writer = MetricsWriter(TelemetrySettings(metrics_retention=600))
    write(conn, writer, 3, queue="q", function="f", outcome="finished", ended_at=NOW - 3600, run_s=0.003, wait_s=2)
    write(conn, writer, 2, queue="q", function="f", outcome="failed", ended_at=NOW, run_s=0.7)
    write(conn, writer, 1, queue="q", function="g", outcome="retried", ended_at=NOW, wait_s=0.01)
    write(conn, writer, 1, queue="q", function="g", outcome="stopped", ended_at=NOW)
    assert conn.ttl(keys.metrics_totals()) == -1 and conn.ttl(keys.metrics_totals_index()) == -1

    totals = {(q, f): p for q, f, p in series.read_totals(conn)}
    assert list(totals) == [("q", None), ("q", "f"), ("q", "g")]  # the queue's total first
    f, g, total = totals["q", "f"], totals["q", "g"], totals["q", None]
    assert (f.finished, f.failed, g.retried, g.stopped) == (3, 2, 1, 1)
    assert (total.finished, total.failed, total.retried, total.stopped) == (3, 2, 1, 1)
    assert f.run.count == 5 and f.run.sum_us == 3 * 3000 + 2 * 700_000 and f.run.max_us == 0  # no maxima
    assert f.run.counts[layout.bucket(0.003, layout.RUN_EDGES)] == 3 and f.wait.count == 3
    assert (
        total.wait.counts[layout.bucket(0.01, layout.WAIT_EDGES)] == 1 and total.wait.sum_us == 3 * 2_000_000 + 10_000
    )
    # The minute index forgot the hour-old minute (10 minutes' retention); the totals did not.
    assert series.read_series(conn, "q", "f", minutes=10, now=NOW).total().finished == 0


def test_the_totals_keep_at_most_series_cap_series(conn, monkeypatch):
    monkeypatch.setattr(layout, "SERIES_CAP", 6)
    writer = MetricsWriter()
    for n in range(10):
        write(conn, writer, 1, queue="q", function=f"f{n}", outcome="finished", ended_at=NOW + n, run_s=0.01)
    names = [(q, f) for q, f, _ in series.read_totals(conn)]
    assert conn.zcard(keys.metrics_totals_index()) == 6
    assert names == [("q", None)] + [("q", f"f{n}") for n in range(4, 10)]  # the newest six, and their sum
    prefixes = {name.split(b":")[0] for name in conn.hkeys(keys.metrics_totals())}
    assert prefixes == {layout.totals_id(layout.series_member(q, f)).encode() for q, f in names[1:]}


def test_read_totals_on_a_redis_without_telemetry_or_with_broken_keys(conn):
    assert series.read_totals(conn) == []
    conn.set(keys.metrics_totals(), "not a hash")
    write(conn, MetricsWriter(), 1, queue="q", function="f", outcome="finished", ended_at=NOW)
    assert series.read_totals(conn) == []  # unreadable, never an error
    assert series.read_series(conn, "q", "f", minutes=1, now=NOW).points[-1].finished == 1


def test_an_end_event_carries_what_a_history_row_needs(conn):
    writer = MetricsWriter()
    write(
        conn,
        writer,
        1,
        queue="q",
        function="f",
        outcome="failed",
        ended_at=NOW,
        run_s=1.5,
        wait_s=0.25,
        event="failed",
        job_id="j1",
        worker="w1",
        exc_type="KeyError",
        started_at=NOW - 1.5,
        enqueued_at=NOW - 1.75,
    )
    write(conn, writer, 1, queue="q", function="f", outcome="stopped", ended_at=NOW, event="stopped", job_id="j2")
    failed, stopped = events.read_events(conn).events
    assert (failed.type, failed.job_id, failed.queue, failed.function, failed.worker) == (
        "failed",
        "j1",
        "q",
        "f",
        "w1",
    )
    assert failed.exc_type == "KeyError" and failed.at == int(NOW * 1000)
    assert failed.extra == {
        "started_at": str(int((NOW - 1.5) * 1000)),
        "enqueued_at": str(int((NOW - 1.75) * 1000)),
        "run_us": "1500000",
        "wait_us": "250000",
    }
    assert stopped.extra == {}  # unknown times are left out
