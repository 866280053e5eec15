"""One small pool per console process for work that outlives its request (bulk actions, batch enqueue).

A thread per request let a burst of bulk actions start any number of threads, each holding Redis
connections and CPU. The pool runs at most WORKERS tasks at once and queues the rest in submission
order; callers record queued work as "waiting" so operators see why it has not started.

Flask-free: a task that needs the app context enters it itself.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable

WORKERS = 2

log = logging.getLogger(__name__)
_lock = threading.Lock()
_tasks: queue.SimpleQueue[Callable[[], object]] = queue.SimpleQueue()
_threads: list[threading.Thread] = []
_owner_pid: int | None = None


def _loop() -> None:
    while True:
        task = _tasks.get()
        try:
            task()
        except Exception:  # a task's failure must not shrink the pool; tasks record their own outcome
            log.exception("background task failed")


def submit(task: Callable[[], object]) -> None:
    """Run `task()` on the shared pool. Cost: at most WORKERS threads per process, started on first use;
    guarantee: tasks start in submission order, and an exception is logged without stopping the pool.
    Threads are daemons: a stopping process abandons running work, which bulk records show as
    interrupted and which is safe to re-run."""
    global _owner_pid
    with _lock:
        # gunicorn forks workers after import: a forked child inherits the list but not the threads.
        if _owner_pid != os.getpid():
            global _tasks
            _tasks = queue.SimpleQueue()
            _threads.clear()
            _owner_pid = os.getpid()
        while len(_threads) < WORKERS:
            thread = threading.Thread(target=_loop, name=f"console-background-{len(_threads) + 1}", daemon=True)
            thread.start()
            _threads.append(thread)
        _tasks.put(task)
