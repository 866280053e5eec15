"""dashboard/history/queries.py on SQLite and PostgreSQL: windows, each filter, keyset pages, cursors."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from dashboard.history import models
from dashboard.history.queries import (
    BadQuery,
    Filters,
    any_outcomes,
    decode_cursor,
    encode_cursor,
    history_page,
    parse_filters,
    resolve_window,
)


def now() -> datetime:
    """Naive UTC now, read at each use: a module-level constant goes stale when the suite runs for minutes."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def outcome(job_id: str, minutes_ago: float, **fields) -> dict:
    ended = now() - timedelta(minutes=minutes_ago)
    row = {
        "job_id": job_id,
        "attempt": 0,
        "queue": "default",
        "function": "tasks.mail.send",
        "status": "finished",
        "enqueued_at": ended - timedelta(seconds=3),
        "started_at": ended - timedelta(seconds=1),
        "ended_at": ended,
        "wait_us": 2_000_000,
        "run_us": 1_000_000,
        "worker": "w1",
        "exc_type": None,
        "exc_message": None,
        "fingerprint": None,
        "source": "stream",
    }
    row.update(fields)
    return row


def insert(conn, rows: list[dict], attributes: dict[str, dict[str, str]] | None = None) -> dict[str, int]:
    """Rows in; returns job_id -> outcome id. `attributes`: job_id -> {name: value}."""
    conn.execute(models.job_outcomes.insert(), rows)
    table = models.job_outcomes
    ids = dict(conn.execute(sa.select(table.c.job_id, table.c.id)).all())
    ended = {r["job_id"]: r["ended_at"] for r in rows}
    extra = [
        {"outcome_id": ids[job_id], "name": name, "value": value, "ended_at": ended[job_id]}
        for job_id, pairs in (attributes or {}).items()
        for name, value in pairs.items()
    ]
    if extra:
        conn.execute(models.job_outcome_attributes.insert(), extra)
    return ids


@pytest.fixture
def conn(engine):
    with engine.connect() as connection:
        yield connection
        connection.rollback()


def job_ids(page) -> list[str]:
    return [r.id for r in page.rows]


def test_windows_newest_first_and_their_errors(conn):
    insert(conn, [outcome(name, m) for name, m in (("m10", 10), ("h2", 120), ("d3", 3 * 1440), ("d20", 20 * 1440))])
    insert(conn, [outcome("d40", 40 * 1440), outcome("future", -0.5)])  # a worker clock a little ahead
    seen = {w: job_ids(history_page(conn, resolve_window(w), Filters())) for w in ("15m", "1h", "6h", "7d", "30d")}
    assert seen == {
        "15m": ["future", "m10"],
        "1h": ["future", "m10"],
        "6h": ["future", "m10", "h2"],
        "7d": ["future", "m10", "h2", "d3"],
        "30d": ["future", "m10", "h2", "d3", "d20"],
    }
    assert resolve_window().name == "1h"
    span = resolve_window(
        start=(now() - timedelta(days=4)).isoformat(), end=(now() - timedelta(minutes=30)).isoformat()
    )
    assert job_ids(history_page(conn, span, Filters())) == ["h2", "d3"]
    # An offset is honoured; only `to`: the named window ending then.
    zoned = (now() - timedelta(minutes=60)).replace(tzinfo=UTC).astimezone(timezone(timedelta(hours=2))).isoformat()
    assert job_ids(history_page(conn, resolve_window("6h", end=zoned), Filters())) == ["h2"]
    only_from = resolve_window(start=(now() - timedelta(minutes=20)).isoformat() + "Z")
    assert only_from.end is None and job_ids(history_page(conn, only_from, Filters())) == ["future", "m10"]
    for bad in (
        {"window": "2h"},
        {"start": "yesterday"},
        {"start": "2026-12-02", "end": "2026-12-01"},
        {"end": "0001-01-01T00:10"},
        {"start": "2026-12-01T10:00" + "0" * 40},
    ):
        with pytest.raises(BadQuery):
            resolve_window(**bad)


def test_each_filter_and_the_attribute_filter(conn):
    rows = [
        outcome("plain", 1),
        outcome("q", 2, queue="mail"),
        outcome("f", 3, function="tasks.reports.build"),
        outcome("failed", 4, status="failed", exc_type="ValueError", exc_message="bad", fingerprint="fp1"),
        outcome("w", 5, worker="w2"),
        outcome("mix", 6, queue="mail", status="failed", exc_type="KeyError", fingerprint="fp2"),
        outcome("attr", 7, queue="mail"),
        outcome("attr-other", 8),
    ]
    insert(conn, rows, attributes={"attr": {"tenant": "acme", "region": "eu"}, "attr-other": {"tenant": "other"}})
    window = resolve_window("1h")

    def ids(**filters):
        return job_ids(history_page(conn, window, parse_filters(filters)))

    assert ids(queue="mail") == ["q", "mix", "attr"]
    assert ids(function="tasks.reports.build") == ["f"]
    assert ids(status="failed") == ["failed", "mix"]
    assert ids(fingerprint="fp1") == ["failed"]
    assert ids(worker="w2") == ["w"]
    assert ids(queue="mail", status="failed") == ["mix"]
    assert ids(attr="tenant:acme") == ["attr"]
    assert ids(attr="tenant:acme", queue="default") == []
    assert ids(attr="region:eu", queue="mail") == ["attr"]
    assert ids(queue="nope") == []
    failed = history_page(conn, window, parse_filters({"fingerprint": "fp1"})).rows[0]
    assert (failed.failure.exc_type, failed.failure.message, failed.origin, failed.status) == (
        "ValueError",
        "bad",
        "default",
        "failed",
    )
    assert (failed.wait_seconds, failed.duration_seconds, failed.worker_name) == (2.0, 1.0, "w1")
    assert history_page(conn, window, parse_filters({"queue": "q"})).rows == []
    assert parse_filters({"queue": "mail", "attr": "tenant:a:b"}).as_params() == {"queue": "mail", "attr": "tenant:a:b"}
    for bad in ({"status": "done"}, {"queue": "x" * 201}, {"attr": "novalue"}, {"attr": "bad name:x"}):
        with pytest.raises(BadQuery):
            parse_filters(bad)


def test_keyset_pages_never_repeat_or_skip_rows_with_equal_times(conn):
    # 23 rows on 4 distinct instants (several rows share each), plus an attribute on every other row.
    rows = [outcome(f"j{i:02d}", minutes_ago=i % 4, queue="mail" if i % 3 else "default") for i in range(23)]
    ids = insert(conn, rows, attributes={f"j{i:02d}": {"tenant": "acme"} for i in range(0, 23, 2)})
    ended = {r["job_id"]: r["ended_at"] for r in rows}
    window = resolve_window("1h")
    for filters, expected_ids in (
        (Filters(), set(ids)),
        (Filters(queue="mail"), {r["job_id"] for r in rows if r["queue"] == "mail"}),
        (Filters(attribute=("tenant", "acme")), {f"j{i:02d}" for i in range(0, 23, 2)}),
    ):
        seen, cursor, pages = [], None, 0
        while True:
            page = history_page(conn, window, filters, after=cursor, size=5)
            seen += job_ids(page)
            pages += 1
            cursor = page.next_cursor
            if cursor is None:
                break
        expected = sorted(expected_ids, key=lambda j: (ended[j], ids[j]), reverse=True)
        assert seen == expected  # newest first, every row once
        assert pages == -(-len(expected) // 5)  # the extra row: no empty last page
    assert history_page(conn, window, Filters(), size=23).next_cursor is None


def test_cursors_round_trip_and_tampered_ones_are_refused(conn):
    moment = datetime(2026, 12, 1, 9, 30, 0, 123456)
    assert decode_cursor(encode_cursor(moment, 42)) == (moment, 42)
    forged = base64.urlsafe_b64encode(b"1.99999999999999999999").decode()
    for bad in ("", "x", "!!!", "AAAA", "a" * 61, forged, encode_cursor(moment, 42)[:-3] + "%%%", "MTIz"):
        with pytest.raises(BadQuery):
            decode_cursor(bad)
    with pytest.raises(BadQuery):
        history_page(conn, resolve_window(), Filters(), after="not-a-cursor")
    with pytest.raises(BadQuery):
        history_page(conn, resolve_window(), Filters(), size=0)


def test_any_outcomes_tells_an_empty_store_from_an_empty_window(conn):
    assert not any_outcomes(conn)
    insert(conn, [outcome("old", 3 * 1440)])
    assert any_outcomes(conn)
    assert history_page(conn, resolve_window("1h"), Filters()).rows == []
