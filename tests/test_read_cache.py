"""Shared reads (dashboard/rqlayer/readcache.py): one overview read serves many polls, never for longer than
its TTL, and never after a console action — in the process that acted or in any other on the same Redis."""

from __future__ import annotations

import threading
import time

import pytest

from dashboard.rqlayer import keys, readcache
from dashboard.rqlayer.console import Console
from dashboard.rqlayer.readcache import ReadCache
from tests.helpers import make_env, post, signed_in, wait_until


def test_concurrent_misses_compute_once_and_a_failed_leader_lets_the_others_compute():
    cache: ReadCache[int] = ReadCache(5)
    release, calls, answers = threading.Event(), [], []

    def slow():
        calls.append(1)
        release.wait(5)
        return 42

    threads = [threading.Thread(target=lambda: answers.append(cache.get("k", slow))) for _ in range(8)]
    for thread in threads:
        thread.start()
    wait_until(lambda: calls, timeout=5, message="the leader computing")
    time.sleep(0.05)  # let the other seven reach the flight (they must wait, not compute)
    release.set()
    for thread in threads:
        thread.join(5)
    assert answers == [42] * 8 and len(calls) == 1
    assert cache.get("k", lambda: 0) == 42  # served from the cache
    assert cache.get("k", lambda: 7, tag="other") == 7  # another generation is another answer

    def broken():
        raise ConnectionError("redis down")

    with pytest.raises(ConnectionError):
        cache.get("b", broken)
    assert cache.get("b", lambda: 3) == 3  # a failure is never cached


def test_the_overview_is_shared_for_at_most_its_ttl(conn, redis_url):
    console = Console(conn, read_cache_seconds=0.5)
    assert not console.overview.read().suspended
    conn.set(keys.suspended(), 1)  # a change made outside the console (`rq suspend`): no invalidation
    assert not console.overview.read().suspended  # served from the shared read
    changed = time.monotonic()
    wait_until(lambda: console.overview.read().suspended, timeout=3, interval=0.02, message="the change")
    assert time.monotonic() - changed < 0.5 + 0.3
    assert console.overview.read(now=None) is console.overview.read()  # one object for every poll


def test_many_threads_polling_read_redis_once(conn, monkeypatch):
    reads = []
    real = readcache.overview_reads.read_overview
    monkeypatch.setattr(readcache.overview_reads, "read_overview", lambda c: reads.append(1) or real(c))
    console = Console(conn, read_cache_seconds=5)
    threads = [threading.Thread(target=console.overview.read) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert len(reads) == 1


def test_an_action_in_any_console_process_is_seen_at_the_next_poll(redis_url, sqlite_url, data_dir, conn, accounts):
    # Two apps on one Redis and one database: two console processes behind a load balancer.
    from dashboard import create_app
    from dashboard.extensions import get_console
    from dashboard.settings import load_settings

    settings = load_settings(make_env(redis_url, sqlite_url, data_dir, OVERVIEW_CACHE_SECONDS="10"))
    first, second = (create_app(settings, TESTING=True) for _ in range(2))  # `accounts` migrated the database

    def suspended(app) -> bool:
        with app.app_context():
            return get_console().overview.read().suspended

    assert not suspended(first) and not suspended(second)  # both now hold a shared read
    admin = signed_in(second, accounts["admin"])
    assert post(admin, "/workers/suspend").status_code == 303
    assert suspended(second) and suspended(first)  # at once, in the process that acted and the other
    refused = signed_in(first, accounts["viewer"])
    assert post(refused, "/workers/resume").status_code == 403  # a refused request bumps nothing
    assert conn.get(keys.overview_generation()) == b"1"
    page = admin.get("/", headers={"HX-Request": "true"})
    assert page.status_code == 200 and "suspended" in page.get_data(as_text=True).lower()


def test_a_planted_generation_key_never_breaks_the_overview(conn):
    conn.hset(keys.overview_generation(), "x", "1")
    console = Console(conn, read_cache_seconds=5)
    assert console.overview.read().queues == []
    console.overview.invalidate()  # INCR on a hash fails: logged, never raised
