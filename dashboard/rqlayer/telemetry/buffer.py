"""Per-minute counts kept in a SimpleWorker's memory and written once a second, instead of per job.

A SimpleWorker ends every job in its own process, so it can sum what record_end.lua would write per
execution (the series' and the queue's minute hashes, the monotonic totals, the indexes) and write the sums
in one EVAL of flush.lua. Per job it then sends only the end event, and the twenty-odd hash writes per job
become one call a second: the largest part of the extension's cost to the worker (see
benchmarks/worker_overhead.py). A forking worker ends jobs in work horses whose memory is thrown away, so it
keeps writing per job (record_end.lua).

Exactly once: the worker adds an execution only after RQ's transaction that ended it committed
(worker.py); each flush carries a number that the script keeps per worker (keys.metrics_flush), and a flush
whose reply never came is sent again verbatim, so it applies once whatever the network did. A worker that
is killed (SIGKILL) loses at most the last second of counts; the events, and the SQL history made from
them, are written per job and lose nothing. Thread-safe: the worker adds, its flusher thread writes.
"""

from __future__ import annotations

import threading
import time
import uuid
from bisect import bisect_left

from redis import Redis

from dashboard.rqlayer import keys
from dashboard.rqlayer.telemetry import layout
from dashboard.rqlayer.telemetry.events import min_id
from dashboard.rqlayer.telemetry.metrics import _lua
from dashboard.settings import TelemetrySettings

FLUSH = _lua("flush.lua")
MARKER_TTL = 3600  # a flush is re-sent within seconds of its failure; the marker outlives that by far
RUN_FIELDS = tuple(f"{layout.RUN_BUCKET}{i}" for i in range(len(layout.RUN_EDGES_US) + 1))
WAIT_FIELDS = tuple(f"{layout.WAIT_BUCKET}{i}" for i in range(len(layout.WAIT_EDGES_US) + 1))
Series = tuple[str, str, str]  # (index member, series id, totals prefix): MetricsWriter._series


class CountBuffer:
    """Counts of ended executions not yet in Redis, and the flush that writes them."""

    def __init__(self, settings: TelemetrySettings, token: str | None = None) -> None:
        self.settings = settings
        self.token = token or uuid.uuid4().hex
        self._lock = threading.Lock()  # the counts
        self._flushing = threading.Lock()  # one flush at a time: numbers go out in order
        self._reset()
        self._number = 0
        self._unsent: tuple[list[str], list[str]] | None = None  # keys, args of a flush whose reply never came
        self._keys: dict[tuple[int, str], str] = {}
        self._totals_key = keys.metrics_totals()

    def _reset(self) -> None:
        self._sums: dict[str, dict[str, int]] = {}  # hash key -> field -> increment
        self._maxima: dict[str, dict[str, int]] = {}  # minute hash key -> field -> maximum
        self._series_index: dict[str, int] = {}  # member -> last minute
        self._totals_index: dict[str, int] = {}

    @property
    def pending(self) -> bool:
        return bool(self._sums) or self._unsent is not None

    def add(
        self, series: Series, total: Series, outcome: str, run_us: int | None, wait_us: int | None, minute: int
    ) -> None:
        """One ended execution: what record_end.lua would have written for it. O(1), no I/O."""
        field = layout.OUTCOMES[outcome]
        names: list[tuple[str, int]] = [(field, 1)]
        if run_us is not None:
            names += [(layout.RUN_SUM, run_us), (RUN_FIELDS[bisect_left(layout.RUN_EDGES_US, run_us)], 1)]
        if wait_us is not None:
            names += [(layout.WAIT_SUM, wait_us), (WAIT_FIELDS[bisect_left(layout.WAIT_EDGES_US, wait_us)], 1)]
        prefix = series[2]
        with self._lock:
            sums = self._sums
            for key in (self._minute_key(minute, series[1]), self._minute_key(minute, total[1])):
                table = sums.get(key)
                if table is None:
                    table = sums[key] = {}
                for name, amount in names:
                    table[name] = table.get(name, 0) + amount
                maxima = self._maxima.setdefault(key, {})
                if run_us is not None and run_us > maxima.get(layout.RUN_MAX, -1):
                    maxima[layout.RUN_MAX] = run_us
                if wait_us is not None and wait_us > maxima.get(layout.WAIT_MAX, -1):
                    maxima[layout.WAIT_MAX] = wait_us
            totals = sums.get(self._totals_key)
            if totals is None:
                totals = sums[self._totals_key] = {}
            for name, amount in names:
                totals[prefix + name] = totals.get(prefix + name, 0) + amount
            self._index(series[0], total[0], minute)

    def _index(self, member: str, total: str, minute: int) -> None:
        index = self._series_index
        for name in (member, total):
            if index.get(name, -1) < minute:
                index[name] = minute
        if self._totals_index.get(member, -1) < minute:
            self._totals_index[member] = minute

    def _minute_key(self, minute: int, series_id: str) -> str:
        found = self._keys.get((minute, series_id))
        if found is None:
            if len(self._keys) > 2000:
                self._keys.clear()
            found = self._keys[(minute, series_id)] = keys.metrics_minute(minute, series_id)
        return found

    def flush(self, connection: Redis, now: float | None = None) -> bool:
        """Write what is pending in one EVAL (two after a failed flush: it first, as it was). False when there
        was nothing to write. Raises Redis's errors; what was not written stays for the next flush."""
        with self._flushing:
            if self._unsent is not None:
                self._send(connection, self._unsent)
            with self._lock:
                if not self._sums:
                    return False
                taken = (self._sums, self._maxima, self._series_index, self._totals_index)
                self._reset()
            self._number += 1
            self._unsent = self._payload(*taken, time.time() if now is None else now)
            self._send(connection, self._unsent)
            return True

    def _send(self, connection: Redis, flush: tuple[list[str], list[str]]) -> None:
        """Send a flush built earlier; it stays `_unsent` (to be sent as it is) if Redis does not answer."""
        script_keys, args = flush
        connection.execute_command("EVAL", FLUSH, len(script_keys), *script_keys, *args)  # type: ignore[no-untyped-call]
        self._unsent = None

    def _payload(
        self,
        sums: dict[str, dict[str, int]],
        maxima: dict[str, dict[str, int]],
        series_index: dict[str, int],
        totals_index: dict[str, int],
        now: float,
    ) -> tuple[list[str], list[str]]:
        totals = keys.metrics_totals()
        minute_keys = [key for key in sums if key != totals]
        script_keys = [keys.metrics_flush(self.token), keys.metrics_series(), keys.metrics_totals_index(), totals]
        script_keys += [keys.events(), *minute_keys]
        oldest = layout.minute_of(now) - max(1, self.settings.metrics_retention // 60)
        args = [str(self._number), str(MARKER_TTL), str(self.settings.metrics_retention), str(layout.SERIES_CAP)]
        args += [str(oldest), min_id(self.settings, now)]
        for key in (totals, *minute_keys):
            for table in (sums.get(key, {}), maxima.get(key, {})):
                args.append(str(len(table)))
                for field, value in table.items():
                    args += [field, str(value)]
        for index in (series_index, totals_index):
            args.append(str(len(index)))
            for member, minute in index.items():
                args += [str(minute), member]
        return script_keys, args
