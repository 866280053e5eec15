"""Hostile data reaching issue 14's code: poisoned event-stream entries (garbage, huge or non-UTF-8 fields,
NUL characters PostgreSQL refuses, numbers out of every range) are skipped and acknowledged while the good
entries around them are written, so the group never stays blocked; wrong-type collector keys, out-of-range
rollups and minute hashes, non-ASCII digits and impossible event times give pages, not 500s; an error group's
live poll reads no history."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from dashboard.history.collector import Collector
from dashboard.history.models import job_outcomes
from dashboard.rqlayer import keys
from dashboard.rqlayer.telemetry.consumer import GROUP, collector_status


def _end(conn, job_id: str, **extra: object) -> None:
    fields: dict[str, object] = {
        "type": "finished",
        "job_id": job_id,
        "queue": "default",
        "function": "tests.jobfuncs.add",
        "at": int(time.time() * 1000),
        "worker": "w1",
        "started_at": int(time.time() * 1000) - 5,
    }
    fields.update(extra)
    conn.xadd(keys.events(), {k: v for k, v in fields.items() if v is not None})


def test_poisoned_entries_are_skipped_and_acked(conn, engine):
    _end(conn, "good-1")
    _end(conn, "nul\x00id")  # PostgreSQL text refuses NUL
    _end(conn, "huge-at", at="9" * 30)  # beyond any datetime / BIGINT
    _end(conn, "huge-start", started_at="9" * 19)
    _end(conn, "sup-digit", at="\u00b2")  # isdigit() but not int()
    _end(conn, "bytes-\xff", queue=b"\xff\xfe", function=b"\x80" * 5000)
    _end(conn, "fail-garbage", type="failed", exc_type="X" * 10_000)
    conn.hset(keys.job("fail-garbage"), mapping={"exc_info": b"\x80\x04garbage", "started_at": "not a time"})
    _end(conn, "neg", started_at="-5", run_us="-1", wait_us="9" * 40)
    _end(conn, "good-2")
    collector = Collector(conn, engine, count=100)
    for _ in range(3):
        collector.collect_batch()
    with engine.connect() as sql:
        ids = set(sql.scalars(sa.select(job_outcomes.c.job_id)))
    assert {"good-1", "good-2"} <= ids
    assert conn.xpending(keys.events(), GROUP)["pending"] == 0
    assert collector.reader._own_pending_done
    assert "unreadable events skipped" in collector_status(conn).last_error


def test_a_row_sql_refuses_is_counted_not_retried(conn, engine):
    from dashboard.history.collector import write_batch
    from dashboard.rqlayer.telemetry.outcome import Outcome

    now = int(time.time() * 1000)
    good = Outcome("ok", now - 3, "default", "f", "finished", now)
    bad = Outcome("bad", 2**64, "default", "f", "finished", now)  # beyond BIGINT in both databases
    inserted, refused = write_batch(engine, [good, bad])
    assert [o.job_id for o in inserted] == ["ok"] and refused == 1


def test_collector_keys_of_another_type(conn, client):
    conn.set(keys.history_collector(), "planted")
    conn.set(keys.history_state(), "planted")
    page = client.get("/history")
    assert page.status_code == 200 and 'data-collector="stopped"' in page.get_data(as_text=True)
    status = collector_status(conn)
    assert status.seen and not status.running


def test_rollup_rows_beyond_any_sum_do_not_break_the_function_list(app, client):
    from dashboard.extensions import db
    from dashboard.history.models import metric_rollups

    bucket = int(time.time()) // 60 * 60
    with app.app_context(), db.engine.begin() as sql:  # SQLite's SUM raised "integer overflow"
        sql.execute(
            metric_rollups.insert(),
            [
                {"resolution": "m", "queue": "q", "function": "<b>f</b>", "bucket": bucket - 60 * k, "failed": 2**62}
                for k in range(4)
            ],
        )
    page = client.get("/functions")
    assert page.status_code == 200
    assert "&lt;b&gt;f&lt;/b&gt;" in page.get_data(as_text=True)


def one_group_and_its_statements(app, fingerprint: str) -> list[str]:
    """An error group in the app's database; the list it returns fills with every SQL statement run after."""
    from datetime import UTC, datetime

    from dashboard.extensions import db
    from dashboard.history.models import error_groups

    now = datetime.now(UTC).replace(tzinfo=None)
    row = {"fingerprint": fingerprint, "exc_type": "E", "message": "m", "first_seen": now, "last_seen": now}
    statements: list[str] = []
    with app.app_context():
        with db.engine.begin() as sql:
            sql.execute(error_groups.insert(), [{**row, "count": 1}])
        sa.event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    return statements


def test_an_error_group_pages_live_poll_reads_no_history(app, client):
    """The group's page polls its live jobs; its trends and 'where' read every failure of the group in 30
    days (~1 s at 1,000,000 failures on PostgreSQL) and ran again at each poll."""
    fingerprint = "0" * 32
    statements = one_group_and_its_statements(app, fingerprint)
    assert client.get(f"/errors/{fingerprint}").status_code == 200
    assert any("job_outcomes" in s for s in statements), "the page itself reads the history"
    statements.clear()
    poll = client.get(f"/errors/{fingerprint}?fragment=live", headers={"HX-Request": "true"})
    assert poll.status_code == 200 and 'id="no-live-jobs"' in poll.get_data(as_text=True)
    assert not [s for s in statements if "job_outcomes" in s or "error_groups" in s]


def test_an_event_time_beyond_any_datetime_is_no_500(app, conn, client):
    from dashboard import accounts

    with app.app_context():
        token = accounts.create_token("review-events", "admin")[1]
    conn.xadd(keys.events(), {"type": "finished", "job_id": "j4", "queue": "default", "at": str(2**70)})
    assert client.get("/events").status_code == 200  # datetime.fromtimestamp raised OSError / OverflowError
    assert client.get("/events/poll?after=0-0").status_code == 200
    api = client.get("/api/v1/events?after=0-0", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200 and api.json["events"][0]["job_id"] == "j4"


def test_histogram_texts_with_non_ascii_digits(app, client):
    from datetime import UTC, datetime

    from dashboard.extensions import db
    from dashboard.history.models import metric_rollups
    from dashboard.history.rollups import roll_hours

    bucket = int(time.time()) // 60 * 60
    row = {
        "resolution": "m",
        "queue": "q",
        "function": "f",
        "finished": 1,
        "run_buckets": "\u00b2,1",
        "wait_buckets": "1,\u00b3",
    }
    with app.app_context(), db.engine.begin() as sql:  # '²'.isdigit() is True, int('²') raises
        sql.execute(metric_rollups.insert(), [{**row, "bucket": bucket - 60 * k} for k in range(3)])
        ended = datetime.now(UTC).replace(tzinfo=None)
        sql.execute(
            job_outcomes.insert(),
            [{"job_id": "j", "queue": "q", "function": "f", "status": "finished", "ended_at": ended}],
        )
        assert roll_hours(sql, [bucket // 3600 * 3600]) >= 0
    for window in ("1h", "24h"):
        assert client.get(f"/functions/f?window={window}").status_code == 200


def test_a_minute_hash_with_an_out_of_range_counter_does_not_block_the_copy(conn, engine):
    from dashboard.history.models import metric_rollups
    from dashboard.rqlayer.telemetry import layout

    minute = int(time.time()) // 60 - 2
    member = layout.series_member("default", "f")
    conn.zadd(keys.metrics_series(), {member: minute + 1})
    minute_key = keys.metrics_minute(minute, layout.series_id(member))
    conn.hset(
        minute_key, mapping={"f": "9" * 30, "x": "1", layout.RUN_SUM: "9" * 30, f"{layout.RUN_BUCKET}0": "9" * 25}
    )
    collector = Collector(conn, engine)
    errors: list[Exception] = []
    collector.report_error = lambda error, task="batch": errors.append(error)  # type: ignore[method-assign]
    collector.run_periodic(force=True, now=time.time())
    assert errors == []
    with engine.connect() as sql:
        finished = sql.scalar(sa.select(metric_rollups.c.finished).where(metric_rollups.c.function == "f"))
    assert finished == 2**63 - 1


def test_the_error_list_re_reads_trends_only_when_a_group_changed(app, client):
    """/errors refreshes every few seconds; its trends and 'where' read every failure of the page's groups
    in 24 h (~0.5 s per poll at 1,000,000 failures on PostgreSQL). They are remembered while no group of
    the page changed."""
    from datetime import UTC, datetime

    from dashboard.extensions import db
    from dashboard.history.models import error_groups

    fingerprint = "1" * 32
    statements = one_group_and_its_statements(app, fingerprint)

    def reads_outcomes() -> bool:
        statements.clear()
        assert client.get("/errors", headers={"HX-Request": "true"}).status_code == 200
        return any("job_outcomes" in s for s in statements)

    assert reads_outcomes(), "the first render reads the trends"
    assert not reads_outcomes(), "a poll with nothing new reads no history"
    with app.app_context(), db.engine.begin() as sql:
        sql.execute(error_groups.update().values(count=2, last_seen=datetime.now(UTC).replace(tzinfo=None)))
    assert reads_outcomes(), "a new failure of a shown group reads them again"


@pytest.mark.parametrize("planted", ["events", "metrics_series"])
def test_keys_of_another_type_where_telemetry_belongs_break_no_page(app, conn, client, planted):
    from dashboard import accounts

    with app.app_context():
        token = accounts.create_token(f"review-{planted}", "admin")[1]
    conn.set(getattr(keys, planted)(), "planted")
    for path in ("/", "/functions", "/events", "/events/poll?wait=0"):
        assert client.get(path).status_code == 200, path
    api = client.get("/api/v1/events?wait=0", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200 and api.get_json()["events"] == []


def test_an_event_time_of_unicode_digits_is_no_500(client, conn):
    conn.xadd(keys.events(), {"type": "finished", "job_id": "j5", "queue": "default", "at": "²"})
    assert client.get("/events").status_code == 200
    poll = client.get("/events/poll?after=0-0&wait=0")
    assert poll.status_code == 200 and [e["job_id"] for e in poll.get_json()["events"]] == ["j5"]
