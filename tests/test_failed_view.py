"""The dead-letter view across queues: cursors over tied scores, nonsense cursors, exception lines;
and exports of queues with non-Latin names."""

from __future__ import annotations

import pickle
import time
import zlib

import pytest

from dashboard.rqlayer import jobs, keys
from dashboard.rqlayer.jobs import Failure
from tests.fixtures import plant_failed, plant_raw


def test_failed_view_pages_one_queue_with_tied_scores(conn):
    now = int(time.time()) + 3600
    pipe = conn.pipeline()
    for n in range(300):
        job_id = f"tie{n:04d}"
        pipe.hset(
            keys.job(job_id),
            mapping={"status": "failed", "origin": "default", "data": zlib.compress(pickle.dumps(("f", None, (), {})))},
        )
        pipe.zadd(keys.registry("failed", "default"), {job_id: now})  # RQ 3: whole seconds, all tied
    pipe.sadd(keys.queues(), keys.queue("default"))
    pipe.execute()
    seen, cursor = [], None
    while True:
        page = jobs.read_failed_across_queues(conn, cursor=cursor, size=50)
        seen += [row.id for _, row in page.rows]
        cursor = page.next_cursor
        assert cursor is None or len(cursor) < 100, "the cursor stays small"
        if cursor is None:
            break
    assert len(seen) == 300 and len(set(seen)) == 300


def test_failed_view_cursor_nonsense_is_not_a_500(client, conn):
    plant_failed(conn, 3)
    for cursor in ("nan", "NaN|x", "inf|", "abc", "1|default=notanumber"):
        assert client.get(f"/failed?cursor={cursor}").status_code == 200


@pytest.mark.parametrize(
    "tb, expected",
    [
        (
            'Traceback (most recent call last):\n  File "x.py", line 1, in f\n    raise ValueError("a\\nb")\n'
            "ValueError: bad input\nrow42",
            ("ValueError", "bad input"),
        ),
        (
            "Traceback (most recent call last):\n  File \"x.py\", line 1, in f\n    raise e\nKeyError: 'k'\n"
            "a note added later",
            ("KeyError", "'k'"),
        ),
        (
            'Traceback (most recent call last):\n  File "x.py", line 1, in f\n    raise RuntimeError()\nRuntimeError',
            ("RuntimeError", ""),
        ),
    ],
)
def test_exception_line_is_found_after_the_last_frame(tb, expected):
    failure = Failure.from_traceback(tb)
    assert (failure.exc_type, failure.message) == expected


def test_export_of_a_non_latin_queue_name(client, conn):
    plant_raw(conn, "队列", "queued", 2)
    response = client.get("/queues/%E9%98%9F%E5%88%97/queued/export.csv")
    assert response.status_code == 200
    header = response.headers["Content-Disposition"]
    header.encode("latin-1")
    assert "filename*=UTF-8''%E9%98%9F%E5%88%97-queued.csv" in header
