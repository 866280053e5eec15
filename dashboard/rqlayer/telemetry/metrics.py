"""The per-minute metrics writer: the commands the worker adds to RQ's own pipelines.

One job execution that ends costs ONE extra command in the transaction RQ already sends (an EVAL of
record_end.lua: it updates the (queue, function) series and the queue's total for the minute, the
series index and the event stream, see layout.py for the fields). EVAL, not EVALSHA: a script cache
flushed by a Redis restart can never fail the worker's transaction with NOSCRIPT.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from redis import Redis
from redis.client import Pipeline

from dashboard.rqlayer import keys
from dashboard.rqlayer.telemetry import layout
from dashboard.rqlayer.telemetry.events import min_id
from dashboard.settings import TelemetrySettings


def _script() -> str:
    lines = Path(__file__).with_name("record_end.lua").read_text().splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("--"))


RECORD_END = _script()


class MetricsWriter:
    """Adds the commands for one ended execution to a pipeline (or sends them on a connection)."""

    def __init__(self, settings: TelemetrySettings | None = None) -> None:
        self.settings = settings or TelemetrySettings()
        self._ttl = str(self.settings.metrics_retention)
        self._keep_minutes = max(1, self.settings.metrics_retention // 60)
        self._maxlen = str(self.settings.events_maxlen)
        self._cap = str(layout.SERIES_CAP)
        self._members: dict[tuple[str, str | None], tuple[str, str]] = {}

    def _series(self, queue: str, function: str | None) -> tuple[str, str]:
        """(member, id) of a series, remembered for the most recent few hundred series."""
        found = self._members.get((queue, function))
        if found is None:
            member = layout.series_member(queue, function)
            found = (member, layout.series_id(member))
            if len(self._members) > 1000:
                self._members.clear()
            self._members[(queue, function)] = found
        return found

    def end_args(
        self,
        *,
        queue: str,
        function: str,
        outcome: str,
        ended_at: float | None = None,
        run_s: float | None = None,
        wait_s: float | None = None,
        event: Sequence[str] = (),
    ) -> list[str]:
        """The EVAL arguments after the script and numkeys (4 KEYS, then ARGV) for one ended execution.
        `outcome` is one of layout.OUTCOMES; `event` is an events.event_fields list (or nothing)."""
        ended_at = time.time() if ended_at is None else ended_at
        minute = layout.minute_of(ended_at)
        member, sid = self._series(queue, function)
        total_member, total_id = self._series(queue, None)
        run_us = wait_us = ""
        run_field = wait_field = ""
        if run_s is not None:
            run_us = str(layout.micros(run_s))
            run_field = layout.RUN_BUCKET + str(layout.bucket(run_s, layout.RUN_EDGES))
        if wait_s is not None:
            wait_us = str(layout.micros(wait_s))
            wait_field = layout.WAIT_BUCKET + str(layout.bucket(wait_s, layout.WAIT_EDGES))
        return [
            keys.metrics_minute(minute, sid),
            keys.metrics_minute(minute, total_id),
            keys.metrics_series(),
            keys.events(),
            self._ttl,
            str(minute),
            member,
            total_member,
            self._cap,
            str(minute - self._keep_minutes),
            layout.OUTCOMES[outcome],
            run_us,
            run_field,
            wait_us,
            wait_field,
            self._maxlen,
            min_id(self.settings, ended_at),
            *event,
        ]

    def record_end(
        self,
        target: Pipeline | Redis,
        *,
        queue: str,
        function: str,
        outcome: str,
        ended_at: float | None = None,
        run_s: float | None = None,
        wait_s: float | None = None,
        event: Sequence[str] = (),
    ) -> None:
        """Add (to a pipeline) or send (on a connection) the one EVAL for an ended execution;
        arguments as for `end_args`. O(1) in Redis (a few hash fields, one zset entry, one XADD)."""
        args = self.end_args(
            queue=queue, function=function, outcome=outcome, ended_at=ended_at, run_s=run_s, wait_s=wait_s, event=event
        )
        target.eval(RECORD_END, 4, *args)
