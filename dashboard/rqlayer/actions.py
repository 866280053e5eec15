"""Actions on jobs, queues and workers, written as raw Redis commands in atomic Lua scripts.

RQ's own `requeue`/`cancel` re-save the whole job (which would corrupt data the safe decoder could
not read) and run O(N) LREMs per call; here each script moves a chunk of jobs in one atomic step,
checks that every job is still where the operator saw it, and respects RQ 3's concurrency limits.
Each call returns one outcome per job: "ok", or why the job was left alone.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis

from dashboard.rqlayer import catalogue, feed, keys
from dashboard.rqlayer.catalogue import ANY_STATUS, CANCELABLE, DELETABLE, RETRYABLE, RUNNABLE_NOW, statuses_of
from dashboard.rqlayer.decode import text
from dashboard.rqlayer.errors import Conflict, InvalidInput, NotFound
from dashboard.rqlayer.jobs import read_rows
from dashboard.rqlayer.scripts import Scripts, args
from dashboard.rqlayer.vocabulary import ACTION_CHUNK, QUEUE_NAME_RULE, rq_time, valid_queue_name

__all__ = ["ANY_STATUS", "CANCELABLE", "DELETABLE", "RETRYABLE", "RUNNABLE_NOW", "statuses_of"]

CHUNK = ACTION_CHUNK
# The statuses a job must still be in to be acted on: a tuple, or ANY_STATUS ("*", delete only).
Expected = tuple[str, ...] | str


def _statuses(expected: Expected) -> str:
    return expected if isinstance(expected, str) else ",".join(expected)


class ActionError(InvalidInput):
    """An action refused before touching anything (bad target, bad name): 422."""


@dataclass
class ActionResult:
    action: str
    outcomes: dict[str, str] = field(default_factory=dict)

    @property
    def succeeded(self) -> list[str]:
        return [i for i, o in self.outcomes.items() if o.startswith("ok")]

    @property
    def skipped(self) -> dict[str, str]:
        return {i: o for i, o in self.outcomes.items() if not o.startswith("ok")}

    def merge(self, other: ActionResult) -> None:
        self.outcomes.update(other.outcomes)


def _now() -> tuple[str, str]:
    moment = datetime.now(UTC)
    return repr(moment.timestamp()), rq_time(moment)


def _run(connection: redis.Redis, script: str, option: str, job_ids: list[str], chunk: int = CHUNK) -> ActionResult:
    result = ActionResult(script)
    for start in range(0, len(job_ids), chunk):
        part = job_ids[start : start + chunk]
        now_ts, now_iso = _now()
        replies = Scripts.get(connection, script)(keys=[], args=args(now_ts, now_iso, option, part, connection))
        result.outcomes.update(zip(part, (text(r) for r in replies), strict=True))
    return result


def retry(
    connection: redis.Redis, job_ids: list[str], expected: Expected = RETRYABLE, at_front: bool = False
) -> ActionResult:
    """Back onto the origin queue (front or back): failed, stopped and canceled jobs, and finished
    ones to run again. Through the job's concurrency limit when it has one. Cost: one atomic script
    per 500 ids, O(1) per job; guarantee: a job no longer in `expected` (or not where its status says)
    is left alone with its outcome saying why, and each job ends in exactly one place."""
    return _run(connection, "retry", f"{_statuses(expected)}|{'front' if at_front else 'back'}", job_ids)


def cancel(connection: redis.Redis, job_ids: list[str], expected: Expected = CANCELABLE) -> ActionResult:
    """Move jobs that have not started to the canceled registry; their slot in a concurrency limit
    is given back. Dependents stay deferred, as with RQ's own cancel. Cost and guarantee: retry's."""
    return _run(connection, "cancel", _statuses(expected), job_ids)


def delete(connection: redis.Redis, job_ids: list[str], expected: Expected = DELETABLE) -> ActionResult:
    """Delete jobs and every key they own (hash, results stream, dependency sets, executions), and
    every trace of them: queue, registries (ready included), rq-scheduler's zset, group set, and
    the slot or place in line of a concurrency limit (promoting the next held-back job). The only
    deletion path: every caller goes through this script. Running jobs are refused: stop them first.
    Cost: one atomic script per 500 ids, O(1) per job (an LREM for a queued one)."""
    return _run(connection, "delete", _statuses(expected), job_ids)


def delete_in_transaction(
    connection: redis.Redis, pipe: redis.client.Pipeline, job_ids: list[str], expected: Expected = DELETABLE
) -> None:
    """Queue the delete script on the caller's MULTI pipeline, so a check made under its WATCH and
    the deletion are one step; the outcomes come back as one list in the pipeline's results.
    Cost: O(1) per job besides its keys."""
    now_ts, now_iso = _now()
    script = _statuses(expected)
    Scripts.get(connection, "delete")(keys=[], args=args(now_ts, now_iso, script, job_ids, connection), client=pipe)


def empty_queue_chunk(connection: redis.Redis, queue: str, count: int = CHUNK) -> tuple[int, int]:
    """Take up to `count` ids from the head of a queue in one atomic step and delete their jobs;
    stale leftover ids are dropped without touching their jobs. Returns (ids taken, jobs deleted)."""
    now_ts, now_iso = _now()
    replies = Scripts.get(connection, "delete")(
        keys=[], args=args(now_ts, now_iso, f"queue-head:{queue}:{count}", (), connection)
    )
    outcomes = [text(r) for r in replies]
    return len(outcomes), outcomes.count("ok")


def requeue(connection: redis.Redis, job_ids: list[str], front: bool) -> ActionResult:
    """Queued jobs to the front or the back of their own queue. Cost: one script per 500 ids, an LREM
    (O(queue length)) per job; guarantee: a job no longer queued is left alone."""
    return _run(connection, "requeue", "front" if front else "back", job_ids)


def move(
    connection: redis.Redis, job_ids: list[str], target_queue: str, front: bool = False, create: bool = False
) -> ActionResult:
    """Queued jobs to another queue; the worker then uses that queue's registries. A queue nobody
    knows (a typo) is created only with `create`, else UnknownQueue is raised and nothing moves.
    Cost: requeue's, plus one round trip to check the target."""
    target_queue = target_queue_name(connection, target_queue, create)
    return _run(connection, "requeue", f"move|{'front' if front else 'back'}|{target_queue}", job_ids)


def run_now(connection: redis.Redis, job_ids: list[str], expected: Expected = RUNNABLE_NOW) -> ActionResult:
    """Scheduled or deferred jobs onto their queue now (front when RQ's scheduler would put them
    there). Cost and guarantee: retry's."""
    return _run(connection, "run_now", _statuses(expected), job_ids)


def perform(
    connection: redis.Redis,
    name: str,
    job_ids: list[str],
    expected: Expected | None = None,
    *,
    position: str | None = None,
    target: str = "",
    create: bool = False,
    actor: str | None = None,
) -> ActionResult:
    """Apply the catalogue's action `name` to jobs still in one of the `expected` statuses (default:
    every status the action applies to). `position` (front / back) defaults to the action's own;
    `target` and `create` are the move's. The one entry point of single-job and bulk actions.
    With an `actor` (single-job actions), each job acted on gets one event in the event stream
    (feed.ACTION_TYPES); bulk chunks pass None: their operation appends one summary at its end.
    Cost and guarantee: those of the action's function below (one atomic script per 500 ids); with an
    actor, one pipelined read of the jobs' queue and function before, one append after a success."""
    action = catalogue.get(name)
    if action.script is None:
        raise ActionError(f"{action.name} is not a script action")
    expected = action.statuses if expected is None else expected
    front = (position or action.default_position) == "front"
    facts = feed.job_facts(read_rows(connection, job_ids)) if actor is not None else {}
    if action.name == "retry":
        result = retry(connection, job_ids, expected, at_front=front)
    elif action.name == "requeue":
        result = requeue(connection, job_ids, front=front)
    elif action.name == "move":
        target = target_queue_name(connection, target, create)
        result = move(connection, job_ids, target, front=front, create=True)
    else:
        result = _run(connection, action.script, _statuses(expected), job_ids)
    if actor is not None and result.succeeded:
        feed.record_job_action(connection, action.name, actor, result.succeeded, facts, target=target)
    return result


def validate_queue_name(name: str) -> str:
    """`name` stripped, when it passes the one queue-name rule (vocabulary.py); ActionError (422) else."""
    name = (name or "").strip()
    if not valid_queue_name(name):
        raise ActionError(QUEUE_NAME_RULE)
    return name


class UnknownQueue(Conflict, ActionError):
    """The target queue does not exist and no worker listens to it: jobs moved there would wait
    forever. The operator must confirm creating it."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        super().__init__(f"queue {queue!r} does not exist and no worker listens to it")


def queue_known(connection: redis.Redis, name: str) -> bool:
    """In RQ's set of queues, or listened to by a worker. Cost: one round trip, O(1)."""
    pipe = connection.pipeline(transaction=False)
    pipe.sismember(keys.queues(), keys.queue(name))
    pipe.scard(keys.workers_of_queue(name))
    member, listeners = pipe.execute()
    return bool(member) or int(listeners) > 0


def target_queue_name(connection: redis.Redis, name: str, create: bool = False) -> str:
    """A valid queue name that exists (or that the operator confirmed creating): raises ActionError
    for a bad name, UnknownQueue for an unknown one without `create`."""
    name = validate_queue_name(name)
    if not create and not queue_known(connection, name):
        raise UnknownQueue(name)
    return name


# ---------------------------------------------------------------- commands to workers


@dataclass(frozen=True)
class CommandResult:
    delivered: int  # how many workers were listening on the channel (PUBLISH's answer)
    worker: str


def _publish(connection: redis.Redis, worker: str, payload: dict[str, str]) -> int:
    return int(connection.publish(keys.worker_commands(worker), json.dumps(payload)))


def stop_job(connection: redis.Redis, job_id: str, actor: str | None = None) -> CommandResult:
    """Ask the worker running `job_id` to stop it (RQ's stop-job command, sent without unpickling
    the job). delivered == 0 means no worker received it. With an `actor`, a delivered command is
    recorded in the event stream (stop_requested; the worker's own `stopped` follows)."""
    status, worker = connection.hmget(keys.job(job_id), "status", "worker_name")
    if status is None:
        raise NotFound("no such job")
    if text(status) != "started":
        raise Conflict(f"not running: it is {text(status)}")
    worker = text(worker)
    if not worker:
        raise Conflict("the job records no worker to send the command to")
    result = CommandResult(_publish(connection, worker, {"command": "stop-job", "job_id": job_id}), worker)
    if actor is not None and result.delivered:
        facts = feed.job_facts(read_rows(connection, [job_id]))
        feed.record_job_action(connection, "stop", actor, [job_id], facts, worker=worker)
    return result


def shutdown_worker(connection: redis.Redis, worker: str) -> CommandResult:
    """Warm shutdown: the worker finishes its current job, then exits."""
    return CommandResult(_publish(connection, worker, {"command": "shutdown"}), worker)


def kill_horse(connection: redis.Redis, worker: str) -> CommandResult:
    """Kill the job the worker is running (it fails as 'work-horse terminated'); the worker goes on."""
    return CommandResult(_publish(connection, worker, {"command": "kill-horse"}), worker)


def suspend_workers(connection: redis.Redis) -> None:
    """RQ's suspension (the `rq:suspended` flag, as `rq suspend`). Guarantee, from RQ's worker loop:
    a worker checks the flag only at the top of its loop, before dequeueing. A running job finishes;
    a worker blocked waiting for a job (BLPOP, up to worker_ttl - 15 s) takes the next job that
    arrives and runs it before it sees the flag. A worker that has seen it sets its state to
    "suspended" (its acknowledgement) and heartbeats every second. Cost: one SET."""
    connection.set(keys.suspended(), 1)


def resume_workers(connection: redis.Redis) -> None:
    connection.delete(keys.suspended())


def job_status(connection: redis.Redis, job_id: str) -> str | None:
    value = connection.hget(keys.job(job_id), "status")
    return None if value is None else text(value)


def monotonic_ms(start: float) -> int:
    return int((time.monotonic() - start) * 1000)
