"""Found while typing the schedules layer for mypy: `resume` promised a datetime but could answer None
(a remembered next run out of any calendar's range), which the resume view then turned into a 500."""

from __future__ import annotations

import json

import pytest

from dashboard.rqlayer import keys, schedules
from tasks.registry import get_task
from tests.helpers import csrf_token

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning:rq_scheduler")

CLEANUP = "tasks.maintenance.cleanup_old_files"


def _paused_with_impossible_time(conn) -> tuple[str, bytes]:
    sid = schedules.create_interval(conn, get_task(CLEANUP), {"dry_run": True}, 60, "default")
    schedules.pause(conn, sid)
    # Far beyond year 9999: a hand-written (or corrupted) entry, still a valid JSON number.
    conn.hset(keys.paused_schedules(), sid, json.dumps({"score": 1e300, "paused_at": 1}))
    return sid, conn.hget(keys.paused_schedules(), sid)


def test_resume_refuses_a_remembered_time_out_of_range_and_changes_nothing(conn):
    sid, entry = _paused_with_impossible_time(conn)
    with pytest.raises(schedules.ScheduleInvalid, match="not a valid time"):
        schedules.resume(conn, sid)
    assert conn.hget(keys.paused_schedules(), sid) == entry, "refused before anything changed: still paused"
    assert conn.zscore(keys.RQ_SCHEDULER_JOBS, sid) is None


def test_resume_view_answers_422_for_a_remembered_time_out_of_range(conn, client_as):
    sid, entry = _paused_with_impossible_time(conn)
    client = client_as("operator")
    response = client.post(f"/schedules/{sid}/resume", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 422
    assert "not a valid time" in response.get_data(as_text=True)
    assert conn.hget(keys.paused_schedules(), sid) == entry
