"""The event stream: append_event (workers and, later, console actions) and read_events (cursor pages),
capped by length and by age. Real Redis."""

from __future__ import annotations

import threading
import time

import pytest

from dashboard.rqlayer import keys
from dashboard.rqlayer.telemetry import events
from dashboard.rqlayer.telemetry.events import append_event, latest_cursor, read_events
from dashboard.settings import TelemetrySettings


def test_an_appended_event_reads_back_with_every_field(conn):
    append_event(conn, "retry", job_id="j1", queue="default", function="tasks.a", worker="", extra={"actor": "alice"})
    pipe = conn.pipeline()
    append_event(pipe, "failed", job_id="j2", queue="low", function="tasks.b", worker="w1", exc_type="KeyError")
    assert conn.xlen(keys.events()) == 1  # nothing is sent before the pipeline runs
    pipe.execute()

    page = read_events(conn)
    assert [e.type for e in page.events] == ["retry", "failed"]
    first, second = page.events
    assert (first.job_id, first.queue, first.function, first.extra) == ("j1", "default", "tasks.a", {"actor": "alice"})
    assert (second.worker, second.exc_type) == ("w1", "KeyError")
    assert abs(second.at - time.time() * 1000) < 60_000
    assert page.cursor == second.id and page.more is False


def test_cursor_pages_continue_where_the_last_one_stopped(conn):
    for n in range(25):
        append_event(conn, "started", job_id=f"j{n}", queue="q")
    seen, cursor = [], None
    for _ in range(3):
        page = read_events(conn, after=cursor, count=10)
        seen += [e.job_id for e in page.events]
        cursor = page.cursor
    assert seen == [f"j{n}" for n in range(25)]
    assert read_events(conn, after=cursor).events == []
    assert latest_cursor(conn) == cursor
    assert read_events(conn, after=latest_cursor(conn)).events == []


def test_filters_by_type_queue_and_function(conn):
    for n in range(30):
        kind = ("started", "finished", "failed")[n % 3]
        append_event(conn, kind, job_id=f"j{n}", queue=("high", "low")[n % 2], function=f"f{n % 5}")
    failed = read_events(conn, types=["failed"])
    assert {e.type for e in failed.events} == {"failed"} and len(failed.events) == 10
    low_f1 = read_events(conn, queue="low", function="f1")
    assert [e.job_id for e in low_f1.events] == ["j1", "j11", "j21"]
    both = read_events(conn, types={"started", "finished"}, queue="high")
    assert all(e.type in ("started", "finished") and e.queue == "high" for e in both.events)


def test_a_filtered_read_scans_a_bounded_number_of_entries(conn):
    for n in range(50):
        append_event(conn, "started", job_id=f"j{n}")
    append_event(conn, "failed", job_id="the-one")
    page = read_events(conn, types=["failed"], count=5, scan=20)
    assert page.events == [] and page.more is True  # 20 scanned, none matched: the cursor moved on
    while not page.events:
        page = read_events(conn, after=page.cursor, types=["failed"], count=5, scan=20)
    assert [e.job_id for e in page.events] == ["the-one"]


def test_bad_input_is_refused_with_value_errors(conn):
    for cursor in ("abc", "1-2-3", "-", "$", "(1-0"):
        with pytest.raises(ValueError, match="cursor"):
            read_events(conn, after=cursor)
    for kind in ("", "Started", "x" * 40, "a b", "a:b"):
        with pytest.raises(ValueError, match="event type"):
            append_event(conn, kind)
    with pytest.raises(ValueError, match="extra"):
        append_event(conn, "retry", extra={"type": "forged"})
    with pytest.raises(ValueError, match="extra"):
        append_event(conn, "bulk", extra={f"k{n}": n for n in range(20)})
    assert conn.xlen(keys.events()) == 0


def test_values_are_bounded(conn):
    append_event(conn, "retry", job_id="j" * 10_000, function="f" * 10_000, extra={"note": "n" * 10_000})
    event = read_events(conn).events[0]
    assert len(event.job_id) == 200 and len(event.function) == 200 and len(event.extra["note"]) == 1000


def test_the_stream_is_capped_by_length(conn):
    settings = TelemetrySettings(events_maxlen=100)
    pipe = conn.pipeline(transaction=False)
    for n in range(2000):
        append_event(pipe, "started", settings, job_id=str(n))
    pipe.execute()
    length = conn.xlen(keys.events())
    # MAXLEN ~ trims whole nodes (100 entries each by default): a little over the cap may remain.
    assert 100 <= length <= 200
    assert read_events(conn, count=1).events[0].job_id != "0"


def test_old_entries_are_trimmed_by_age(conn):
    stream = keys.events()
    hour_ago = int((time.time() - 3600) * 1000)
    for n in range(250):
        conn.xadd(stream, {"type": "started", "job_id": f"old{n}"}, id=f"{hour_ago}-{n}")
    append_event(conn, "finished", TelemetrySettings(events_max_age=600), job_id="new")
    remaining = [e.job_id for e in read_events(conn, count=1000).events]
    # XTRIM MINID ~ removes whole nodes: the nodes holding only old entries went.
    assert remaining[-1] == "new" and len(remaining) <= 51
    assert events.min_id(TelemetrySettings(events_max_age=600), now=1000.0) == "400000-0"


def test_a_read_can_wait_for_the_next_event(conn):
    cursor = latest_cursor(conn)
    assert read_events(conn, after=cursor, block_ms=50).events == []

    def later():
        time.sleep(0.3)
        append_event(conn, "finished", job_id="late")

    writer = threading.Thread(target=later)
    writer.start()
    started = time.monotonic()
    page = read_events(conn, after=cursor, block_ms=5000)
    writer.join()
    assert [e.job_id for e in page.events] == ["late"] and time.monotonic() - started < 4
