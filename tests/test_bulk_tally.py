"""A long operation's counts are added exactly once per chunk, even when Redis's reply to a save is lost
(the save applied, the client never heard) or the save never reached Redis. Real Redis; the client's
connection drops the one reply (or request) the test names, as a restart between the two does."""

from __future__ import annotations

import pytest
import redis

from dashboard.rqlayer import keys
from dashboard.rqlayer.bulk_tally import Tally
from tests.helpers import FlakyConnection


def counts(conn, op_id):
    record = conn.hgetall(keys.bulk_operation(op_id))
    return tuple(int(record.get(f.encode(), 0)) for f in ("processed", "succeeded", "skipped"))


def test_a_save_applied_whose_reply_was_lost_is_not_counted_again(flaky, conn):
    tally = Tally("op-lost-reply")
    tally.add(1000, 990, 10)
    FlakyConnection.lose_reply.add("EVAL")
    with pytest.raises(redis.ConnectionError):
        tally.save(flaky)
    assert counts(conn, "op-lost-reply") == (1000, 990, 10)  # Redis did apply it

    tally.add(500, 500, 0)  # the walk resumed and did another chunk
    tally.save(flaky)
    assert counts(conn, "op-lost-reply") == (1500, 1490, 10)
    tally.save(flaky)  # nothing new: nothing added
    assert counts(conn, "op-lost-reply") == (1500, 1490, 10)


def test_a_save_that_never_reached_redis_is_counted_with_the_next(flaky, conn):
    tally = Tally("op-lost-request")
    tally.add(1000, 1000, 0)
    FlakyConnection.lose_request.add("EVAL")
    with pytest.raises(redis.ConnectionError):
        tally.save(flaky)
    assert counts(conn, "op-lost-request") == (0, 0, 0)

    tally.add(200, 100, 100)
    tally.save(flaky)
    assert counts(conn, "op-lost-request") == (1200, 1100, 100)


def test_the_check_after_a_lost_reply_can_itself_fail(flaky, conn):
    """Redis still away when the resumed save asks whether the lost one applied: the counts stay unsaved
    and the next save settles it."""
    tally = Tally("op-twice")
    tally.add(1000, 1000, 0)
    FlakyConnection.lose_reply.add("EVAL")
    with pytest.raises(redis.ConnectionError):
        tally.save(flaky)
    FlakyConnection.lose_request.add("HGET")
    with pytest.raises(redis.ConnectionError):
        tally.save(flaky)
    tally.add(1, 1, 0)
    tally.save(flaky)
    assert counts(conn, "op-twice") == (1001, 1001, 0)
