"""Saved views and the built-in ones (rqlayer/views.py, web/views.py): per user, only console paths,
capped, audited; stuck jobs (started longer ago than their timeout, RQ's default when none is set);
failures since midnight / in the last hour. Real Redis and RQ jobs."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from rq import Queue

from dashboard.rqlayer import keys, views
from dashboard.rqlayer.errors import InvalidInput
from tests.fixtures import FMT
from tests.helpers import csrf_token, post, work_in_process


def _running(conn, queue, job_id, started_ago: float, timeout: int | None):
    """A job as a worker leaves it while it runs: started status and time, in the started registry."""
    job = Queue(queue, connection=conn).enqueue("tests.jobfuncs.add", 1, 2, job_id=job_id)
    conn.lrem(keys.queue(queue), 0, job.id)
    started = (datetime.now(UTC) - timedelta(seconds=started_ago)).strftime(FMT)
    conn.hset(keys.job(job.id), mapping={"status": "started", "started_at": started, "worker_name": "w1"})
    if timeout is None:
        conn.hdel(keys.job(job.id), "timeout")
    else:
        conn.hset(keys.job(job.id), "timeout", timeout)
    conn.zadd(keys.registry("started", queue), {f"{job.id}:exec1": time.time() + 600})


def test_stuck_lists_running_jobs_past_their_timeout_most_overdue_first(conn):
    _running(conn, "mail", "late", 100, 30)
    _running(conn, "mail", "fine", 100, 600)
    _running(conn, "reports", "later", 400, None)  # no timeout saved: RQ's 180 s
    found = views.stuck(conn)
    assert [(s.queue, s.row.id, s.timeout) for s in found] == [("reports", "later", 180), ("mail", "late", 30)]
    assert 215 < found[0].overdue < 230


def test_saving_is_per_user_and_takes_only_console_paths(conn):
    views.save(conn, "oscar", "  mail   failures ", "/queues/mail/failed?func=send")
    assert views.saved(conn, "oscar") == [views.SavedView("mail failures", "/queues/mail/failed?func=send")]
    assert views.saved(conn, "vera") == []
    for url in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)", "/x\\y", "/a\nb", ""):
        with pytest.raises(InvalidInput):
            views.save(conn, "oscar", "bad", url)
    for n in range(views.MAX_VIEWS - 1):
        views.save(conn, "oscar", f"v{n}", "/")
    with pytest.raises(InvalidInput):
        views.save(conn, "oscar", "one too many", "/")
    views.save(conn, "oscar", "v1", "/failed")  # replacing one is fine at the cap
    assert views.delete(conn, "oscar", "v1") and not views.delete(conn, "oscar", "v1")


def test_pages_save_share_delete_and_the_built_in_views(client_as, conn):
    queue = Queue("mail", connection=conn)
    failed = queue.enqueue("tests.jobfuncs.fail", "today")
    old = queue.enqueue("tests.jobfuncs.fail", "two hours ago")
    work_in_process(conn, ["mail"])
    conn.hset(keys.job(old.id), "ended_at", (datetime.now(UTC) - timedelta(hours=2)).strftime(FMT))
    _running(conn, "mail", "late", 100, 30)
    oscar, vera = client_as("operator"), client_as("viewer")

    assert 'value="/failed?window=week"' in oscar.get("/views?url=/failed?window=week").get_data(as_text=True)
    assert oscar.post("/views", data={"name": "x", "url": "/"}).status_code == 400  # no CSRF token
    token = {"X-CSRFToken": csrf_token(oscar)}
    bad = oscar.post("/views", data={"name": "x", "url": "https://evil.example/"}, headers=token)
    assert bad.status_code == 422 and "a page of this console" in bad.get_data(as_text=True)
    saved = oscar.post("/views", data={"name": "mail failures", "url": "/queues/mail/failed?func=fail"}, headers=token)
    assert saved.status_code == 303
    page = oscar.get("/views").get_data(as_text=True)
    assert 'href="/queues/mail/failed?func=fail"' in page and "mail failures" not in vera.get("/views").get_data(
        as_text=True
    )
    assert vera.get("/queues/mail/failed?func=fail").status_code == 200  # shared by its link
    assert post(oscar, "/views/delete", name="mail failures").status_code == 303
    assert post(oscar, "/views/delete", name="mail failures").status_code == 404

    stuck = vera.get("/views/stuck").get_data(as_text=True)
    assert 'data-job="late"' in stuck
    hour = vera.get("/views/last-hour").get_data(as_text=True)
    assert f'data-job="{failed.id}"' in hour and f'data-job="{old.id}"' not in hour
    today = vera.get("/views/failed-today").get_data(as_text=True)
    assert f'data-job="{failed.id}"' in today
    two_hours_ago_was_today = (datetime.now(UTC) - timedelta(hours=2)).date() == datetime.now(UTC).date()
    assert (f'data-job="{old.id}"' in today) == two_hours_ago_was_today
