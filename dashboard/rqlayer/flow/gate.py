"""A worker's view of the flow state: which of its queues it may pop from now, and the take before a job runs.

The worker keeps the book (every queue's pause and limit) in memory and re-reads it — one HGETALL — when
the console published a change (`notice`, called from RQ's pub/sub thread) or when it is a second old,
whichever comes first; never per job. A queue with no pause and no limit costs nothing more per job: no
round trip, a dict lookup. A job popped from a queue the book says is paused or limited is decided by the
take script (take.lua: atomic, shared by every worker), which puts it back at the head when it may not
run; the worker then leaves that queue alone for the time the script said (the next token, the pause's
end) or until the state changes.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import redis

from dashboard.rqlayer import keys
from dashboard.rqlayer.flow.model import FlowBook
from dashboard.rqlayer.flow.state import LIMITER_TTL_MS, RATE_WINDOW_MS, TOLERANCE_MS, read_book

log = logging.getLogger(__name__)

REFRESH_SECONDS = 1.0  # the book is re-read at least this often while the worker dequeues
TAKE_LUA = Path(__file__).with_name("take.lua").read_text()
FOREVER = math.inf


class FlowGate:
    def __init__(self, connection: redis.Redis) -> None:
        self.connection = connection
        self.book = FlowBook()
        self.changed = threading.Event()  # set by the pub/sub thread: re-read the book now
        self._fetched = -FOREVER  # time.monotonic() of the last read
        # queue -> (time.monotonic() until which the take script said no, its reason: paused / limited)
        self._held: dict[str, tuple[float, str]] = {}
        self._take = connection.register_script(TAKE_LUA)

    # -- the book ------------------------------------------------------------------------------------
    def notice(self, message: Any = None) -> None:
        """A change was published (RQ's pub/sub thread calls this): refresh before the next pop."""
        self.changed.set()

    def refresh(self) -> None:
        """Re-read the book if a change was published or it is REFRESH_SECONDS old. A notice also drops
        the holds the take script set: they are learned again with the next take. Never raises: on a
        Redis error the worker goes on with the book it has (logged) and tries again a second later."""
        now = time.monotonic()
        noticed = self.changed.is_set()
        if not noticed and now - self._fetched < REFRESH_SECONDS:
            return
        self.changed.clear()
        self._fetched = now
        if noticed:
            self._held.clear()
        try:
            self.book = read_book(self.connection)
        except (redis.RedisError, OSError):
            log.warning("flow: could not read the queues' pause and limit state; keeping the last one", exc_info=True)

    # -- which queues are held ---------------------------------------------------------------------
    def held(self, names: Iterable[str]) -> dict[str, float]:
        """Of `names`, the queues not to pop from now: name -> time.monotonic() at which to look again
        (FOREVER: when the state changes). Empty, at once, when nothing is paused or throttled."""
        if not self.book.queues and not self._held:
            return {}
        now_m, now = time.monotonic(), time.time()
        held = {}
        for name in names:
            until = self._held.get(name, (0.0, ""))[0]
            if until > now_m:
                held[name] = until
                continue
            pause = self.book.queues[name].active_pause(now) if name in self.book.queues else None
            if pause is not None:
                held[name] = FOREVER if pause.until is None else now_m + (pause.until - now)
        return held

    # -- the take ----------------------------------------------------------------------------------
    def admit(self, queue: str, job_id: str) -> bool:
        """May the job just popped from `queue` run? True at once for a queue with no pause and no limit
        (no round trip). Else one EVAL of the take script, which takes a token or puts the job back at
        the head of its queue (False). On a Redis error the job runs (logged): a popped job is never lost."""
        self.refresh()
        flow = self.book.queues.get(queue)
        if flow is None or not flow.restricted(time.time()):
            return True
        try:
            reply = self._take(
                keys=[keys.flow_state(), keys.flow_limiter(queue), keys.queue(queue), keys.intermediate_queue(queue)],
                args=[queue, job_id, TOLERANCE_MS, RATE_WINDOW_MS, LIMITER_TTL_MS],
            )
            allowed, wait_ms, reason = int(reply[0]), int(reply[1]), reply[2]
        except (redis.RedisError, OSError, ValueError, TypeError, IndexError):
            log.exception("flow: the take for job %s of queue %s failed; the job runs", job_id, queue)
            return True
        if allowed:
            return True
        if wait_ms < 0:  # paused without an end, and our book did not know: read it again
            self.changed.set()
        until = time.monotonic() + (wait_ms / 1000 if wait_ms >= 0 else REFRESH_SECONDS)
        self._held[queue] = (until, "limited" if reason in (b"limited", "limited") else "paused")
        return False

    def throttled(self) -> list[str]:
        """Queues waiting for their next token right now (held by the limit, not by a pause)."""
        now_m = time.monotonic()
        return [name for name, (until, reason) in self._held.items() if reason == "limited" and until > now_m]
