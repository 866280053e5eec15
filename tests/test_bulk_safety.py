"""Bulk operations over a state: refused when pointless, finishing over stale ids, and never skipping
a job when others leave the state meanwhile."""

from __future__ import annotations

import pytest
from rq import Queue

from dashboard.rqlayer import actions, bulk, keys
from tests.fixtures import plant_raw
from tests.helpers import work_in_process


def test_bulk_move_to_the_same_queue_is_refused(conn):
    Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 1, 1)
    with pytest.raises(actions.ActionError):
        bulk.create(conn, "move", bulk.Selection(state="queued", queue="default"), {"target": "default"}, "t")


def test_emptying_a_queue_with_stale_ids_at_its_head_finishes(conn):
    plant_raw(conn, "default", "queued", 300)
    finished = Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 1, 1)
    work_in_process(conn, ["default"])
    plant_raw(conn, "default", "queued", 300, prefix="k")
    conn.lpush(keys.queue("default"), finished.id)  # a stale leftover id of a finished job
    selection = bulk.Selection(state="queued", queue="default")
    op = bulk.create(conn, "empty", selection, {}, "t")
    final = bulk.run(conn, op.id, "empty", selection, {})
    assert final.status == "done" and final.succeeded == 300
    assert conn.llen(keys.queue("default")) == 0
    assert conn.exists(keys.job(finished.id)), "the finished job itself is kept"


def test_bulk_over_a_state_does_not_skip_jobs_when_others_leave_meanwhile(conn, monkeypatch):
    ids = plant_raw(conn, "default", "queued", 3000)
    monkeypatch.setattr(bulk, "CHUNK", 200)
    popped: list[str] = []
    windows_read = []
    real_ids_at = bulk.ids_at

    def ids_at_while_a_worker_takes_jobs(*args, **kwargs):
        # A deterministic interleaving: right after each window is read, before the chunk is acted on,
        # a "worker" takes 50 jobs from the head: the chunk holds ids that already left the queue.
        window = real_ids_at(*args, **kwargs)
        if len(popped) < 1000:
            popped.extend(value.decode() for value in conn.lpop(keys.queue("default"), 50) or [])
        windows_read.append(len(window))
        return window

    monkeypatch.setattr(bulk, "ids_at", ids_at_while_a_worker_takes_jobs)
    selection = bulk.Selection(state="queued", queue="default")
    op = bulk.create(conn, "cancel", selection, {}, "t")
    final = bulk.run(conn, op.id, "cancel", selection, {})
    assert len(popped) >= 500, "the worker took jobs between chunks"
    assert conn.llen(keys.queue("default")) == 0, "no job left behind"
    assert final.succeeded + len(popped) == len(ids)
