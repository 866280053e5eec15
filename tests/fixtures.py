"""Planting test data: real jobs in every state (RQ's own API and a real worker), jobs written the way
RQ writes them (pipelined, for big registries), decode bombs and wrong-type keys, and users."""

from __future__ import annotations

import functools
import pickle
import struct
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from rq import Queue, SimpleWorker
from werkzeug.security import generate_password_hash

from dashboard import audit
from dashboard.extensions import db
from dashboard.models import User
from dashboard.rqlayer import keys

# RQ's own timestamp format in job hashes.
FMT = "%Y-%m-%dT%H:%M:%S.%fZ"
PASSWORD = "correct-horse-battery"
ROLE_USERS = {"admin": "alice", "operator": "oscar", "viewer": "vera"}
RECORD = zlib.compress(pickle.dumps(("tests.jobfuncs.record_run", None, (), {})))
DATA = zlib.compress(pickle.dumps(("tasks.reports.generate_sales_report", None, (), {"days": 3})))
BOMB_QUEUE = "bombs"


@dataclass
class Planted:
    queue: str
    ids: dict[str, list[str]] = field(default_factory=dict)

    def add(self, state: str, job_id: str) -> None:
        self.ids.setdefault(state, []).append(job_id)

    def count(self, state: str) -> int:
        return len(self.ids.get(state, []))


def plant_every_state(connection, queue_name: str = "default") -> Planted:
    """Finished, failed, canceled, deferred, scheduled and queued jobs on one queue."""
    queue = Queue(queue_name, connection=connection)
    planted = Planted(queue_name)

    planted.add("finished", queue.enqueue("tests.jobfuncs.add", 1, 2).id)
    planted.add("finished", queue.enqueue("tests.jobfuncs.add", 2, 3).id)
    planted.add("failed", queue.enqueue("tests.jobfuncs.fail", "boom").id)
    SimpleWorker([queue], connection=connection).work(burst=True)

    canceled = queue.enqueue("tests.jobfuncs.add", 3, 4)
    canceled.cancel()
    planted.add("canceled", canceled.id)

    parent = queue.enqueue("tests.jobfuncs.add", 5, 6)
    planted.add("queued", parent.id)
    planted.add("deferred", queue.enqueue("tests.jobfuncs.add", 7, 8, depends_on=parent).id)
    planted.add("queued", queue.enqueue("tests.jobfuncs.add", 9, 10).id)
    planted.add("scheduled", queue.enqueue_in(timedelta(hours=1), "tests.jobfuncs.add", 1, 1).id)
    return planted


# ---------------------------------------------------------------- jobs written as RQ writes them


def plant_failed(conn, count: int, queue: str = "default", prefix: str = "f") -> list[str]:
    """Failed jobs of tests.jobfuncs.record_run, written as RQ writes them (fast, pipelined)."""
    now = datetime.now(UTC).strftime(FMT)
    ids = [f"{prefix}{n:06d}" for n in range(count)]
    pipe = conn.pipeline(transaction=False)
    for n, job_id in enumerate(ids):
        pipe.hset(
            keys.job(job_id),
            mapping={
                "status": "failed",
                "origin": queue,
                "data": RECORD,
                "created_at": now,
                "enqueued_at": now,
                "ended_at": now,
                "description": "tests.jobfuncs.record_run()",
                "timeout": 60,
            },
        )
        pipe.expire(keys.job(job_id), 3600)
        pipe.zadd(keys.registry("failed", queue), {job_id: time.time() + 3600 + n})
        if n % 5000 == 4999:
            pipe.execute()
    pipe.sadd(keys.queues(), keys.queue(queue))
    pipe.execute()
    return ids


def places(conn, job_id: str, queue: str = "default") -> list[str]:
    found = [
        state
        for state in ("failed", "finished", "canceled", "deferred", "scheduled")
        if conn.zscore(keys.registry(state, queue), job_id) is not None
    ]
    found += ["queued"] * conn.lpos(keys.queue(queue), job_id, count=0).__len__()
    return found


def plant_raw(conn, queue: str, state: str, count: int, prefix: str = "j", func: str | None = None, **extra):
    """Many jobs written the way RQ writes them, pipelined: fast enough for big registries."""
    now = datetime.now(UTC)
    data = DATA if func is None else zlib.compress(pickle.dumps((func, None, (), {})))
    pipe = conn.pipeline(transaction=False)
    ids = []
    for n in range(count):
        job_id = f"{prefix}{n:07d}"
        ids.append(job_id)
        fields = {
            "status": state,
            "origin": queue,
            "data": data,
            "description": "tasks.reports.x()",
            "created_at": (now - timedelta(seconds=count - n)).strftime(FMT),
            "enqueued_at": (now - timedelta(seconds=count - n)).strftime(FMT),
        }
        fields.update(extra)
        pipe.hset(keys.job(job_id), mapping=fields)
        if state == "queued":
            pipe.rpush(keys.queue(queue), job_id)
        else:
            pipe.zadd(keys.registry(state, queue), {job_id: now.timestamp() + n})
        if n % 5000 == 4999:
            pipe.execute()
    pipe.sadd(keys.queues(), keys.queue(queue))
    pipe.execute()
    return ids


# ---------------------------------------------------------------- decode bombs


def pickle_str(text: str) -> bytes:
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def shared_list_body(levels: int = 21) -> bytes:
    """x = [x, x], `levels` deep, through the memo: 2**levels leaves when expanded."""
    body = b"]\x94"
    for level in range(1, levels + 1):
        previous = bytes([level - 1])
        body += b"0]\x94(h" + previous + b"h" + previous + b"e"
    return body


def colliding_dict_body(count: int = 40_000) -> bytes:
    """A dict whose int keys all have the same hash (k * (2**61 - 1) hashes to 0)."""
    body = b"}("
    for k in range(1, count + 1):
        encoded = pickle.encode_long(k * (2**61 - 1))
        body += b"\x8a" + bytes([len(encoded)]) + encoded + b"K\x00"
    return body + b"u"


def deep_list_body(depth: int) -> bytes:
    return b"]" * depth + b"a" * (depth - 1)


BODIES = {
    "shared-refs": shared_list_body(),
    "fraction": b"cfractions\nFraction\n" + pickle_str("1e10000000") + b"\x85R",
    "colliding-keys": colliding_dict_body(),
    "deep-pickle": deep_list_body(100_000),
    "deep-in-budget": deep_list_body(20_000),
    "int-long4": b"\x8b" + struct.pack("<i", len(pickle.encode_long(10**100_000))) + pickle.encode_long(10**100_000),
    "int-text": b"L" + b"1" * 100_000 + b"L\n",
    "self-cycle": b"]\x94h\x00a",
}
JSON_BOMBS = {
    "deep-json": "[" * 100_000 + "]" * 100_000,
    "int-json": "1" * 100_000,
}


def whole_pickle(body: bytes) -> bytes:
    return b"\x80\x04" + body + b"."


def job_data(body: bytes) -> bytes:
    """zlib of the (func, instance, (bomb,), {}) tuple RQ writes into a job's data."""
    return zlib.compress(b"\x80\x04(" + pickle_str("tests.jobfuncs.add") + b"N" + body + b"\x85}t.")


def json_job_data(text: str) -> bytes:
    return zlib.compress(('["tests.jobfuncs.add", null, [' + text + "], {}]").encode())


def plant_bombs(conn, wrong_types: bool = True) -> list[str]:
    """One failed job per bomb (bomb in data and in meta), a JSON one, and wrong-type keys."""
    now = datetime.now(UTC).strftime(FMT)
    tb = zlib.compress(b'Traceback (most recent call last):\n  File "x.py", line 1, in f\nValueError: boom')
    ids = []
    bombs = {name: (job_data(body), whole_pickle(body)) for name, body in BODIES.items()}
    bombs.update({name: (json_job_data(text), text.encode()) for name, text in JSON_BOMBS.items()})
    for index, (name, (data, meta)) in enumerate(sorted(bombs.items())):
        job_id = f"bomb-{name}"
        conn.hset(
            keys.job(job_id),
            mapping={
                "status": "failed",
                "origin": BOMB_QUEUE,
                "created_at": now,
                "enqueued_at": now,
                "started_at": now,
                "ended_at": now,
                "data": data,
                "meta": meta,
                "exc_info": tb,
                "description": f"bomb {name}",
            },
        )
        conn.zadd(keys.registry("failed", BOMB_QUEUE), {job_id: time.time() + 10_000 + index})
        conn.rpush(keys.queue(BOMB_QUEUE), job_id)
        ids.append(job_id)
    conn.sadd(keys.queues(), keys.queue(BOMB_QUEUE))
    if not wrong_types:
        return ids
    # Wrong-type keys: a job key that is a string, listed in the queue and the failed registry.
    conn.set(keys.job("bomb-string-key"), "not a hash")
    conn.rpush(keys.queue(BOMB_QUEUE), "bomb-string-key")
    conn.zadd(keys.registry("failed", BOMB_QUEUE), {"bomb-string-key": time.time() + 20_000})
    ids.append("bomb-string-key")
    # A queue whose key is a hash, a registry that is a list, a worker key of the wrong type.
    conn.hset(keys.queue("hashq"), "x", "y")
    conn.sadd(keys.queues(), keys.queue("hashq"))
    conn.rpush(keys.registry("finished", BOMB_QUEUE), "x")
    conn.sadd(keys.workers(), keys.worker("w-broken"))
    conn.set(keys.worker("w-broken"), "not a hash")
    return ids


# ---------------------------------------------------------------- users


@functools.cache
def password_hash() -> str:
    """The scrypt hash of PASSWORD, computed once: scrypt is slow on purpose (~0.1 s a hash)."""
    return generate_password_hash(PASSWORD)


def seed_users(app) -> None:
    """One user per role with PASSWORD, audited as user.create, sharing one scrypt hash (fast)."""
    with app.app_context():
        for role, name in ROLE_USERS.items():
            db.session.add(User(username=name, role=role, password_hash=password_hash()))
            audit.record("test", "user.create", target=name, detail=f"role={role}", commit=False)
        db.session.commit()


# ---------------------------------------------------------------- hostile-long data (layout tests)

LONG_FUNC = "tests.jobfuncs." + "a_function_with_a_name_nobody_should_write_" * 5  # over 200 characters
LONG_ARG = "x" * 5000
LONG_MESSAGE = "the upstream service answered with something nobody expected " * 20
LONG_QUEUE = "reports-for-the-finance-department-eu-west"
LONG_ID = "hostile-" + "0123456789abcdef" * 4
CLEANUP_TASK = "tasks.maintenance.cleanup_old_files"


def plant_hostile(conn) -> dict[str, str]:
    """One job per state on LONG_QUEUE with a 200-character function name, a 5000-character argument,
    a 120-character worker name and, when failed, a long exception message; written as RQ writes them.
    Returns {state: job id}."""
    now = datetime.now(UTC)
    stamp = (now - timedelta(minutes=3)).strftime(FMT)
    traceback = 'Traceback (most recent call last):\n  File "x.py", line 1, in <module>\nValueError: ' + LONG_MESSAGE
    data = zlib.compress(pickle.dumps((LONG_FUNC, None, (LONG_ARG,), {"note": "y" * 300})))
    ids = {}
    pipe = conn.pipeline(transaction=False)
    for state in ("queued", "started", "deferred", "scheduled", "finished", "failed", "canceled"):
        job_id = f"{LONG_ID}-{state}"
        ids[state] = job_id
        fields = {
            "status": state,
            "origin": LONG_QUEUE,
            "data": data,
            "description": LONG_FUNC + "(...)",
            "created_at": stamp,
            "enqueued_at": stamp,
            "timeout": 60,
        }
        if state in ("started", "finished", "failed", "canceled"):
            fields.update(started_at=stamp, worker_name="worker-" + "w" * 120)
        if state in ("finished", "failed"):
            fields["ended_at"] = now.strftime(FMT)
        if state == "failed":
            fields["exc_info"] = zlib.compress(traceback.encode())
        pipe.hset(keys.job(job_id), mapping=fields)
        if state == "queued":
            pipe.rpush(keys.queue(LONG_QUEUE), job_id)
        else:
            pipe.zadd(keys.registry(state, LONG_QUEUE), {job_id: now.timestamp() + 3600})
    pipe.sadd(keys.queues(), keys.queue(LONG_QUEUE))
    pipe.execute()
    return ids


def plant_schedules(conn) -> str:
    """A recurring schedule made by the console (returned), an rq-scheduler entry with a hostile
    function and arguments (unregistered), and a one-off: the Schedules page's three tables."""
    from rq_scheduler import Scheduler

    from dashboard.rqlayer import schedules
    from tasks.registry import get_task

    sid = schedules.create_cron(conn, get_task(CLEANUP_TASK), {"dry_run": True}, "0 8 * * 1-5", "Europe/Paris", "low")
    scheduler = Scheduler(connection=conn)
    scheduler.cron("*/5 * * * *", func=LONG_FUNC, args=[LONG_ARG], queue_name=LONG_QUEUE, id="hostile-schedule")
    scheduler.enqueue_in(timedelta(hours=2), CLEANUP_TASK, dry_run=True)
    return sid
