"""Replays (rqlayer/replay.py, web/replay.py): which jobs one covers (function, window, states), the
paced batches and the touched set, cancellation, the confirmed count, roles, CSRF, the audit, and the
job lists' "touched by this operation" filter. Real Redis, real RQ jobs failed by a real worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from rq import Queue

from dashboard.extensions import db
from dashboard.models import AuditEvent
from dashboard.rqlayer import bulk, keys, replay
from dashboard.rqlayer.errors import InvalidInput
from dashboard.rqlayer.operations import Operation
from tests.fixtures import FMT
from tests.helpers import csrf_token, post, wait_until, work_in_process

FAIL = "tests.jobfuncs.fail"


def _incident(conn):
    """Five failures of FAIL now, one of FAIL two days ago, two of another function, one canceled FAIL."""
    queue = Queue("mail", connection=conn)
    ids = [queue.enqueue(FAIL, f"boom {n}").id for n in range(6)]
    other = [queue.enqueue("tests.jobfuncs.add", "x").id for n in range(2)]  # TypeError: another function
    work_in_process(conn, ["mail"])
    old = (datetime.now(UTC) - timedelta(days=2)).strftime(FMT)
    conn.hset(keys.job(ids[5]), "ended_at", old)
    assert all(conn.hget(keys.job(i), "status") == b"failed" for i in other)
    canceled = queue.enqueue(FAIL, "later")
    canceled.cancel()
    conn.hset(keys.job(canceled.id), "ended_at", datetime.now(UTC).strftime(FMT))
    return ids[:5], ids[5], canceled.id


def _spec(**overrides):
    now = datetime.now(UTC)
    values = {
        "name": "incident 42",
        "function": FAIL,
        "since": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "until": (now + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"),
        "per_second": "2",
        "states": "failed",
    }
    values.update(overrides)
    return values


def test_matching_takes_the_function_in_the_window_and_the_chosen_states(conn, monkeypatch):
    recent, old, canceled = _incident(conn)
    spec = replay.parse_spec(_spec())
    assert sorted(replay.matching(conn, spec).ids) == sorted(recent)
    both = replay.parse_spec(_spec(states="failed,canceled"))
    assert sorted(replay.matching(conn, both).ids) == sorted([*recent, canceled])
    wide = replay.parse_spec(_spec(since=(datetime.now(UTC) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")))
    assert old in replay.matching(conn, wide).ids
    assert replay.matching(conn, replay.parse_spec(_spec(queue="nosuch"))).ids == []
    windows = []
    assert not replay.matching(conn, spec, on_window=lambda: windows.append(1)).more and windows  # a heartbeat
    monkeypatch.setattr(replay, "MAX_SCANNED", 1)  # a count stops walking, and says more may match
    bounded = replay.matching(conn, spec)
    assert bounded.more and len(bounded.ids) <= len(recent)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("function", ""),
        ("since", "yesterday"),
        ("until", "2000-01-01T00:00"),
        ("per_second", "0"),
        ("per_second", "9999"),
        ("states", "finished"),
    ],
)
def test_a_bad_field_is_refused_naming_it(field, value):
    with pytest.raises(InvalidInput) as caught:
        replay.parse_spec(_spec(**{field: value}))
    assert field in caught.value.fields or (field == "since" and "until" in caught.value.fields)


def test_work_retries_in_paced_batches_records_the_touched_ids_and_stops_when_cancelled(conn):
    recent, _, _ = _incident(conn)
    spec = replay.parse_spec(_spec())
    op = replay.start(conn, spec, "oscar", 5)
    bulk.begin(conn, op.id)
    pauses: list[float] = []
    replay.work(conn, Operation(conn, op.id), spec, 5, sleep=pauses.append)
    assert len(pauses) == 2 and all(0 < p <= 1 for p in pauses)  # 2 + 2 + 1: a pause between batches
    assert replay.touched(conn, op.id) == frozenset(recent)
    assert all(conn.hget(keys.job(i), "status") == b"queued" for i in recent)
    status = bulk.read(conn, op.id)
    assert (status.total, status.processed, status.succeeded, status.skipped) == (5, 5, 5, 0)
    assert conn.ttl(keys.bulk_operation(op.id)) > 6 * 24 * 3600  # kept a week for the history page
    assert [r.op.id for r in replay.history(conn)] == [op.id]

    work_in_process(conn, ["mail"])  # they fail again: a second replay, cancelled after its first batch
    again = replay.start(conn, spec, "oscar", 5)
    bulk.begin(conn, again.id)
    replay.work(conn, Operation(conn, again.id), spec, 3, sleep=lambda _: bulk.request_cancel(conn, again.id))
    status = bulk.read(conn, again.id)
    assert status.status == "cancelled" and status.succeeded == 2 and len(replay.touched(conn, again.id)) == 2
    assert replay.touched(conn, "0" * 32) is None


def _audit(app):
    with app.app_context():
        rows = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "bulk.replay"))
        return [(e.actor, e.outcome, e.job_count) for e in rows]


def test_web_preview_confirm_start_and_the_touched_filter(app, client_as, conn):
    recent, _, _ = _incident(conn)
    viewer, operator = client_as("viewer"), client_as("operator")
    assert viewer.get("/replays").status_code == 200
    assert post(viewer, "/replays/preview", **_spec()).status_code == 403
    assert operator.post("/replays", data={**_spec(), "confirmed": "5"}).status_code == 400  # no CSRF token

    bad = post(operator, "/replays/preview", **_spec(per_second="abc"))
    assert bad.status_code == 422 and "per_second" in bad.get_data(as_text=True)
    shown = post(operator, "/replays/preview", **_spec())
    page = shown.get_data(as_text=True)
    assert shown.status_code == 200 and 'name="confirmed" value="5"' in page and "Replay 5 jobs" in page
    assert all(conn.hget(keys.job(i), "status") == b"failed" for i in recent)  # a preview writes nothing
    assert post(operator, "/replays", **_spec()).status_code == 422  # no confirmed count

    started = post(operator, "/replays", **_spec(per_second="500"), confirmed="3")  # confirmed 3 of 5
    assert started.status_code == 303
    op_id = started.headers["Location"].rsplit("/", 1)[1]
    wait_until(lambda: bulk.read(conn, op_id).finished, timeout=10, message="the replay ends")
    assert bulk.read(conn, op_id).succeeded == 3
    wait_until(lambda: ("oscar", "done", 3) in _audit(app), timeout=5, message="its end audited")
    assert ("oscar", "started", 3) in _audit(app)

    detail = operator.get(f"/replays/{op_id}").get_data(as_text=True)
    assert "incident 42" in detail and f"/queues/mail/queued?op={op_id}" in detail
    listed = operator.get(f"/queues/mail/queued?op={op_id}&fragment=scan", headers={"HX-Request": "true"})
    touched = replay.touched(conn, op_id)
    assert len(touched) == 3 and all(i in listed.get_data(as_text=True) for i in touched)
    assert not any(i in listed.get_data(as_text=True) for i in set(recent) - touched)
    assert operator.get("/queues/mail/queued?op=xyz").status_code == 400
    assert operator.get(f"/queues/mail/queued?op={'0' * 32}").status_code == 404
    assert operator.get(f"/replays/{'0' * 32}").status_code == 404
    assert "incident 42" in operator.get("/replays").get_data(as_text=True)
    assert csrf_token(operator)
