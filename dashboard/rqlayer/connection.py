"""Redis connections for the console: raw bytes, short timeouts, no silent retry loops."""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from dashboard.cluster_url import is_cluster_url, parse_cluster_url
from dashboard.rqlayer import keys
from dashboard.rqlayer.cluster import connect_cluster
from dashboard.settings import mask_url

# Errors that mean "Redis cannot be reached right now": pages answer 503 and recover by themselves.
UNREACHABLE_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def connect(url: str, timeout: float = 2.0) -> redis.Redis:
    """A client for `url` that returns bytes (job data is not always UTF-8, and RQ needs bytes)
    and fails fast: a stopped or unreachable Redis costs one short timeout, never a hang."""
    if is_cluster_url(url):  # a plain client on the node owning RQ's hash-tagged slot: rqlayer/cluster.py
        options = {"socket_connect_timeout": timeout, "socket_timeout": timeout, "retry": Retry(NoBackoff(), 0)}
        return connect_cluster(parse_cluster_url(url, keys.PREFIX), options)
    return redis.Redis.from_url(
        url,
        decode_responses=False,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        health_check_interval=30,
        # redis-py retries three times with backoff by default; a page must answer quickly instead.
        retry=Retry(NoBackoff(), 0),
        client_name="rq-console",
    )


def describe(url: str) -> str:
    """The URL as it may be printed or shown: password masked."""
    return mask_url(url)


def ping(connection: redis.Redis) -> bool:
    """True when Redis answers; never raises."""
    try:
        return bool(connection.ping())
    except UNREACHABLE_ERRORS + (redis.exceptions.ResponseError, OSError):
        return False
