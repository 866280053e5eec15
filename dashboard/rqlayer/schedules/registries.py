"""Reader for RQ's own scheduled registries (`<prefix>:scheduled:<queue>`): one-off delayed jobs
and retry backoffs, run by workers started with --with-scheduler. Shown and rescheduled, never edited.
"""

from __future__ import annotations

from typing import Any

import redis

from dashboard.rqlayer import keys
from dashboard.rqlayer.decode import integer, text
from dashboard.rqlayer.payloads import decode_job_data
from dashboard.rqlayer.schedules.model import (
    NEXT_DUE_PER_QUEUE,
    QueueScheduled,
    RawHash,
    Schedule,
    call_preview,
    epoch,
)
from tasks.registry import get_task


def builtin_row(job_id: str, raw: RawHash | None, score: float, unsafe: bool) -> Schedule:
    """One job of RQ's scheduled registry as a one-off row (a retry backoff says so). No Redis;
    never raises on odd data."""
    if not raw:
        return Schedule(
            id=job_id,
            source="rq",
            kind="one-off",
            next_run=epoch(score),
            exists=False,
            note="its job data is gone (expired or deleted)",
        )
    f = {text(k): v for k, v in raw.items()}
    call = decode_job_data(f.get("data"), unsafe=unsafe, pretty=False)
    preview, safe = (
        (call_preview(call.args.value, call.kwargs.value), True)
        if call.args.safe
        else (call.args.note or "not displayable safely", False)
    )
    retries = integer(f.get("number_of_retries")) or 0
    func_name = call.func_name or text(f.get("description")).split("(", 1)[0]
    return Schedule(
        id=job_id,
        source="rq",
        kind="one-off",
        func_name=func_name,
        registered=get_task(func_name) is not None,
        args_preview=preview,
        args_safe=safe,
        description=text(f.get("description")),
        words="retry backoff" if retries else "once",
        timezone="UTC",
        next_run=epoch(score),
        status=text(f.get("status")),
        queue=text(f.get("origin")),
        note=f"retry #{retries}" if retries else "",
    )


def queue_head(pipe: redis.client.Pipeline, queue: str) -> None:
    """Queue onto `pipe` the three reads `queues_scheduled` needs for one queue: the registry's size,
    its next few due, and the lock of the worker scheduler that runs it."""
    pipe.zcard(keys.registry("scheduled", queue))
    pipe.zrange(keys.registry("scheduled", queue), 0, NEXT_DUE_PER_QUEUE - 1, withscores=True)
    pipe.get(keys.builtin_scheduler_lock(queue))


def queues_scheduled(
    connection: redis.Redis, heads: list[tuple[str, Any, Any, Any]], unsafe: bool = False
) -> list[QueueScheduled]:
    """Each queue's scheduled registry from the replies of `queue_head` (queue, count, due, lock).
    Cost: one pipelined round trip for the hashes of the jobs due next, none when no job waits."""
    due_ids = [(index, text(member), score) for index, (_, _, due, _) in enumerate(heads) for member, score in due]
    due_by_queue: dict[int, list[Schedule]] = {}
    if due_ids:
        pipe = connection.pipeline(transaction=False)
        for _, job_id, _ in due_ids:
            pipe.hgetall(keys.job(job_id))
        for (index, job_id, score), raw in zip(due_ids, pipe.execute(), strict=True):
            due_by_queue.setdefault(index, []).append(builtin_row(job_id, raw, score, unsafe))
    return [
        QueueScheduled(queue, int(count), due_by_queue.get(i, []), text(lock))
        for i, (queue, count, _, lock) in enumerate(heads)
    ]
