"""Real jobs in every state, planted through RQ's own API and a real worker."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from rq import Queue, SimpleWorker


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
