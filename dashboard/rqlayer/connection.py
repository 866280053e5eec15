"""Redis connections for the console: raw bytes, short timeouts, no silent retry loops."""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import MasterNotFoundError, Sentinel

from dashboard.cluster_url import is_cluster_url, parse_cluster_url
from dashboard.rqlayer import keys
from dashboard.rqlayer.cluster import connect_cluster
from dashboard.sentinel_url import SentinelURL, is_sentinel_url, parse_sentinel_url
from dashboard.settings import mask_url

# Errors that mean "Redis cannot be reached right now": pages answer 503 and recover by themselves.
UNREACHABLE_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def connect(url: str, timeout: float = 2.0) -> redis.Redis:
    """A client for `url` that returns bytes (job data is not always UTF-8, and RQ needs bytes)
    and fails fast: a stopped or unreachable Redis costs one short timeout, never a hang.

    A redis+sentinel:// URL (dashboard/sentinel_url.py) gives redis-py's Sentinel-managed client: every
    new connection asks the sentinels for the primary, so after a failover the console follows it
    without a restart. A connection to the lost primary fails its command once (no retry: an action
    is never sent twice) and is dropped; the next connection finds the new primary, and the pool then
    drops its other idle connections to the old one. With no primary, connecting raises
    MasterNotFoundError (a ConnectionError): pages answer 503 at once. No Redis call here."""
    options: dict[str, Any] = {
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
        # redis-py retries three times with backoff by default; a page must answer quickly instead.
        "retry": Retry(NoBackoff(), 0),
    }
    if is_sentinel_url(url):
        return _sentinel_primary(parse_sentinel_url(url), options)
    if is_cluster_url(url):  # a plain client on the node owning RQ's hash-tagged slot: rqlayer/cluster.py
        return connect_cluster(parse_cluster_url(url, keys.PREFIX), options)
    return redis.Redis.from_url(
        url, decode_responses=False, health_check_interval=30, client_name="rq-console", **options
    )


class _Sentinels(Sentinel):
    def discover_master(self, service_name: str) -> tuple[str, int]:
        # redis-py's message lists every sentinel client's repr (a kilobyte); the 503 page shows this one.
        try:
            address: tuple[str, int] = super().discover_master(service_name)  # type: ignore[no-untyped-call]
        except MasterNotFoundError:
            raise MasterNotFoundError(
                f"the sentinels name no primary for {service_name!r} (a failover under way, or none answers)"
            ) from None
        return address


def _sentinel_primary(spec: SentinelURL, options: dict[str, Any]) -> redis.Redis:
    sentinel_options = dict(options, password=spec.sentinel_password)
    sentinels = _Sentinels(list(spec.sentinels), sentinel_kwargs=sentinel_options)  # type: ignore[no-untyped-call]
    primary: redis.Redis = sentinels.master_for(  # type: ignore[no-untyped-call]
        spec.service,
        db=spec.db,
        username=spec.username,
        password=spec.password,
        decode_responses=False,
        health_check_interval=30,
        client_name="rq-console",
        **options,
    )
    return primary


def describe(url: str) -> str:
    """The URL as it may be printed or shown: password masked."""
    return mask_url(url)


def ping(connection: redis.Redis) -> bool:
    """True when Redis answers; never raises."""
    try:
        return bool(connection.ping())
    except UNREACHABLE_ERRORS + (redis.exceptions.ResponseError, OSError):
        return False
