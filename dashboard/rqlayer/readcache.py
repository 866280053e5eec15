"""Short-lived shared reads: many operators asking the same thing within a second get one answer.

Fifty operators polling the overview every 2 seconds ask for the same read model 25 times a second; each
read is three pipelined round trips and their parsing in the console's process. `ReadCache` keeps one
answer per key for `ttl` seconds and lets one thread compute it while the others wait for that answer
(single flight), so a console process computes a given read at most once per `ttl` however many threads
ask. It lives in the process's memory: reading never writes to Redis, and nothing is (un)pickled.

`OverviewReads` adds what makes a cached overview safe to show after an action: a generation counter in
Redis (keys.overview_generation) that every successful console action bumps (`invalidate`). A cached
overview is served only while the counter still reads the value it was computed under, so the operator's
next poll — in this process or any other console process on the same Redis — reads afresh. Staleness is
therefore bounded by `ttl` for changes made by workers (they do not bump the counter) and zero for the
console's own actions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import redis

from dashboard.rqlayer import keys
from dashboard.rqlayer import overview as overview_reads

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class _Entry(Generic[T]):
    value: T
    expires: float
    tag: Hashable


@dataclass
class _Flight:
    done: threading.Event = field(default_factory=threading.Event)
    entry: _Entry[Any] | None = None  # None after `done`: the leader failed, each waiter computes itself


class ReadCache(Generic[T]):
    """Answers by key, each kept `ttl` seconds and only while its tag matches the caller's.

    Guarantee: an answer is never older than `ttl` seconds; concurrent misses for one key compute once.
    Cost: a dictionary lookup under a lock on a hit. Bounded: expired entries go on every store."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._entries: dict[Hashable, _Entry[T]] = {}
        self._flights: dict[Hashable, _Flight] = {}

    def get(self, key: Hashable, compute: Callable[[], T], tag: Hashable = None) -> T:
        if self.ttl <= 0:
            return compute()
        with self._lock:
            hit = self._entries.get(key)
            if hit and hit.expires > time.monotonic() and hit.tag == tag:
                return hit.value
            flight = self._flights.get(key)
            leading = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        if not leading:
            flight.done.wait()
            if flight.entry is not None and flight.entry.tag == tag:
                shared: T = flight.entry.value
                return shared
            return compute()  # the leader failed (its caller sees why), or it read another generation
        try:
            value = compute()
            entry = _Entry(value, time.monotonic() + self.ttl, tag)
            flight.entry = entry
            with self._lock:
                now = time.monotonic()
                for stale in [k for k, e in self._entries.items() if e.expires <= now]:
                    del self._entries[stale]
                self._entries[key] = entry
            return value
        finally:
            with self._lock:
                self._flights.pop(key, None)
            flight.done.set()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class OverviewReads:
    """The overview read model of one Redis, shared by this process's threads for `ttl` seconds and
    dropped at once after any console action (in any console process): see the module docstring."""

    def __init__(self, ttl: float) -> None:
        self.cache: ReadCache[Any] = ReadCache(ttl)

    def read(self, connection: redis.Redis) -> overview_reads.Overview:
        """Cost on a hit: one GET (the generation); on a miss, read_overview's three round trips as well."""
        if self.cache.ttl <= 0:
            return overview_reads.read_overview(connection)
        try:
            generation = connection.get(keys.overview_generation())
        except redis.ResponseError:  # a planted key of another type: no sharing, never a broken page
            return overview_reads.read_overview(connection)
        found: overview_reads.Overview = self.cache.get(
            "overview", lambda: overview_reads.read_overview(connection), generation
        )
        return found

    def alongside(self, name: str, compute: Callable[[], T]) -> T:
        """Another read every overview poll makes (its charts: per-minute metrics), shared the same way for
        `ttl` seconds; console actions do not change it, so no generation."""
        value: T = self.cache.get(("alongside", name), compute)
        return value

    def invalidate(self, connection: redis.Redis) -> None:
        """After a console action: every process's cached overview of this Redis is dropped. One INCR;
        never raises (the action has happened; at worst the overview lags `ttl` seconds)."""
        if self.cache.ttl <= 0:
            return
        self.cache.clear()
        try:
            connection.incr(keys.overview_generation())
        except (redis.RedisError, OSError):
            log.warning("could not bump the overview generation", exc_info=True)
