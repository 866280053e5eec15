"""Per-queue flow state on a real Redis: what is stored and read back, the take script's decisions (pause,
GCRA tokens shared by every caller), the put-back that loses no job and keeps its place, hostile values,
and the worker-side gate that costs no round trip for queues with no pause and no limit."""

from __future__ import annotations

import json
import time

import pytest
from rq import Queue

from dashboard.rqlayer import keys
from dashboard.rqlayer.errors import Conflict, InvalidInput
from dashboard.rqlayer.flow import model, state
from dashboard.rqlayer.flow.gate import FlowGate
from dashboard.rqlayer.overview import read_overview


def enqueue(conn, queue: str, count: int) -> list[str]:
    q = Queue(queue, connection=conn)
    return [q.enqueue("tests.jobfuncs.add", 1, i).id for i in range(count)]


def pop_like_a_worker(conn, queue: str, one_queue: bool) -> str:
    """What RQ's dequeue does: BLMOVE into the intermediate list (a worker on one queue) or LPOP."""
    if one_queue:
        return conn.lmove(keys.queue(queue), keys.intermediate_queue(queue)).decode()
    return conn.lpop(keys.queue(queue)).decode()


def test_pause_and_limit_are_stored_per_queue_and_read_back_in_one_hash(conn):
    enqueue(conn, "mail", 1)
    change = state.pause(conn, "mail", "oscar", until=time.time() + 3600)
    assert change.changed and change.told == 0  # no extension worker listens
    state.set_limit(conn, "mail", 600, "minute", "alice")
    book = state.read_book(conn)
    flow = book.get("mail")
    assert flow.paused(time.time()) and flow.pause.by == "oscar"
    assert flow.limit.per_second == 10 and flow.limit.words == "600/min" and flow.limit.by == "alice"
    assert set(conn.hkeys(keys.flow_state())) == {b"pause:mail", b"limit:mail"}
    # A pause whose end passed counts as resumed, without anything waking up to end it.
    assert not flow.paused(time.time() + 7200)
    assert state.resume(conn, "mail").changed and not state.resume(conn, "mail").changed
    assert state.clear_limit(conn, "mail").changed and not state.read_book(conn).queues


@pytest.mark.parametrize(
    ("per_second", "per_minute", "field"),
    [
        (None, None, "per_second"),
        (1, 60, "per_second"),
        (0, None, "per_second"),
        (-3, None, "per_second"),
        (True, None, "per_second"),
        ("ten", None, "per_second"),
        (float("inf"), None, "per_second"),
        (1001, None, "per_second"),
        (None, 0.001, "per_minute"),
        (None, 60_001, "per_minute"),
    ],
)
def test_limits_are_validated_with_the_field_named(per_second, per_minute, field):
    with pytest.raises(InvalidInput) as refused:
        model.limit_from(per_second, per_minute)
    assert field in refused.value.fields


def test_a_pause_end_must_be_in_the_future_and_within_a_year():
    now = time.time()
    for until in (now - 1, now + 400 * 86400):
        with pytest.raises(InvalidInput):
            model.pause_value("oscar", now, until)
    assert json.loads(model.pause_value("oscar", now, None))["until"] is None


def test_hostile_values_read_as_absent_and_are_named(conn):
    conn.hset(
        keys.flow_state(),
        mapping={
            "pause:a": "not json",
            "pause:b": json.dumps({"at": "yesterday"}),
            "limit:c": json.dumps({"per_second": -1, "amount": 1, "unit": "second"}),
            "limit:d": json.dumps([1, 2]),
            "other": "x",
            "pause:ok": json.dumps({"by": "x" * 500, "at": 1.0, "until": None}),
        },
    )
    book = state.read_book(conn)
    assert list(book.queues) == ["ok"] and len(book.queues["ok"].pause.by) == model.MAX_ACTOR
    assert set(book.unreadable) == {"pause:a", "pause:b", "limit:c", "limit:d", "other"}
    conn.delete(keys.flow_state())
    conn.set(keys.flow_state(), "planted")
    assert state.read_book(conn).queues == {}
    with pytest.raises(Conflict):
        state.pause(conn, "a", "oscar")
    overview = read_overview(conn)
    assert keys.flow_state() in overview.broken_keys and not overview.flow.queues


@pytest.mark.parametrize("one_queue", [True, False])
def test_a_job_popped_from_a_paused_queue_goes_back_to_the_head_and_nothing_is_lost(conn, one_queue):
    ids = enqueue(conn, "q", 5)
    gate = FlowGate(conn)  # its book is empty: the pause below happened after this worker looked
    popped = pop_like_a_worker(conn, "q", one_queue)
    state.pause(conn, "q", "oscar")
    gate.notice()  # what the pub/sub thread does on the change message
    assert gate.admit("q", popped) is False
    assert [i.decode() for i in conn.lrange(keys.queue("q"), 0, -1)] == ids  # same jobs, same order
    assert conn.llen(keys.intermediate_queue("q")) == 0
    assert conn.hget(keys.job(popped), "status") == b"queued"
    assert "q" in gate.held(["q", "other"]) and "other" not in gate.held(["q", "other"])
    state.resume(conn, "q")
    gate.notice()
    gate.refresh()
    assert gate.held(["q"]) == {}
    popped = pop_like_a_worker(conn, "q", one_queue)
    assert gate.admit("q", popped) is True and popped == ids[0]


def test_the_token_bucket_is_shared_by_every_worker_and_puts_back_what_it_refuses(conn):
    ids = enqueue(conn, "limited", 6)
    state.set_limit(conn, "limited", 2, "second", "oscar")  # one token every 500 ms
    gates = [FlowGate(conn) for _ in range(3)]
    verdicts = []
    for gate in gates:
        popped = pop_like_a_worker(conn, "limited", one_queue=True)
        verdicts.append(gate.admit("limited", popped))
    assert verdicts == [True, False, False]  # three workers, one token between them
    assert conn.llen(keys.queue("limited")) == 5 and conn.llen(keys.intermediate_queue("limited")) == 1
    waits = [gate.held(["limited"])["limited"] - time.monotonic() for gate in gates[1:]]
    assert all(0.3 < wait <= 0.5 for wait in waits), waits  # told when the next token is due (less tolerance)
    assert gates[1].throttled() == ["limited"]
    view = state.read_queue(conn, "limited")
    assert view.stats.taken == 1 and view.stats.throttled and view.waiting == 5
    assert sorted(i.decode() for i in conn.lrange(keys.queue("limited"), 0, -1)) == sorted(ids[1:])


def test_the_gate_costs_no_round_trip_for_queues_without_state(conn):
    enqueue(conn, "free", 3)
    gate = FlowGate(conn)
    gate.refresh()
    before = conn.info("stats")["total_commands_processed"]
    for _ in range(3):
        popped = conn.lpop(keys.queue("free")).decode()
        gate.refresh()
        assert gate.held(["free"]) == {} and gate.admit("free", popped)
    after = conn.info("stats")["total_commands_processed"]
    assert after - before == 3 + 1  # the three pops and the first INFO: nothing of the gate's


def test_a_broken_limiter_key_lets_the_job_run(conn):
    enqueue(conn, "limited", 1)
    state.set_limit(conn, "limited", 1, "second", "oscar")
    conn.set(keys.flow_limiter("limited"), "planted")
    gate = FlowGate(conn)
    popped = pop_like_a_worker(conn, "limited", one_queue=True)
    assert gate.admit("limited", popped) is True  # fail open: a popped job is never lost
    assert conn.llen(keys.queue("limited")) == 0


def test_the_overview_reads_the_state_in_its_pipeline_and_knows_extension_workers(conn):
    enqueue(conn, "mail", 2)
    state.pause(conn, "mail", "oscar")
    conn.sadd(keys.workers(), keys.worker("w1"), keys.worker("w2"))
    now = "2030-01-01T00:00:00.000000Z"
    conn.hset(keys.worker("w1"), mapping={"queues": "mail", "birth": now, "last_heartbeat": now, "console_flow": "1"})
    conn.hset(keys.worker("w2"), mapping={"queues": "mail", "birth": now, "last_heartbeat": now})
    overview = read_overview(conn)
    assert overview.flow.get("mail").pause.by == "oscar"
    assert overview.honouring("mail") == 1
