"""Redis connections for RQ's command lines (rq worker, rqscheduler) from a REDIS_URL, Sentinel too.

RQ 3.0's CLI takes Sentinel only as a SENTINEL dict in a `-c` settings module (dashboard/rqconfig.py);
rq-scheduler's `rqscheduler` only what Redis.from_url reads. Both then use redis-py's Sentinel-managed
client with redis-py's own retries: a worker or scheduler rides out short blips and, after a failover,
reconnects to the new primary. No Flask, no Redis call at import.
"""

from __future__ import annotations

from typing import Any

import redis

from dashboard.sentinel_url import is_sentinel_url, parse_sentinel_url


def sentinel_settings(url: str) -> dict[str, Any]:
    """RQ's SENTINEL dict (rq/cli/helpers.py get_redis_from_config) for a redis+sentinel:// URL."""
    spec = parse_sentinel_url(url)
    return {
        "INSTANCES": list(spec.sentinels),
        "MASTER_NAME": spec.service,
        "DB": spec.db,
        "USERNAME": spec.username,
        "PASSWORD": spec.password,
        "SENTINEL_KWARGS": {"password": spec.sentinel_password} if spec.sentinel_password else {},
    }


class CliRedis(redis.Redis):
    """redis.Redis whose from_url also takes redis+sentinel:// URLs, for command lines that connect with
    Redis.from_url: rqscheduler, as the Procfile runs it (rqlayer/schedules/atomic.py)."""

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> redis.Redis:  # type: ignore[override]
        if is_sentinel_url(url):
            from rq.cli.helpers import get_redis_from_config

            connection: redis.Redis = get_redis_from_config({"SENTINEL": sentinel_settings(url)})
            return connection
        return super().from_url(url, **kwargs)
