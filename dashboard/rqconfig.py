"""A settings module for RQ's command line, so workers reach the Redis REDIS_URL names, Sentinel too:

    rq worker -c dashboard.rqconfig -w dashboard.rqlayer.telemetry.worker.ConsoleWorker high default low

`rq worker --url` hands its URL to redis-py's Redis.from_url, which has no Sentinel form; RQ 3.0's CLI
reads a SENTINEL dict from a `-c` module instead (rq/cli/helpers.py get_redis_from_config) and connects
through redis-py's Sentinel, following a failover. This module gives RQ either REDIS_URL (redis://,
rediss://, unix://) or SENTINEL (redis+sentinel://, dashboard/sentinel_url.py) from the environment's
REDIS_URL; for redis+cluster:// the redis:// URL of the node owning RQ's slot (dashboard/cluster_url.py).
RQ reads every UPPERCASE name here, so nothing else is spelled in capitals.
"""

from __future__ import annotations

import os

from dashboard.cluster_url import is_cluster_url, parse_cluster_url
from dashboard.rqcli import sentinel_settings
from dashboard.rqlayer import keys
from dashboard.sentinel_url import is_sentinel_url
from dashboard.settings import DEFAULT_REDIS_URL, validate_redis_url

_url = validate_redis_url(os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL)

if is_sentinel_url(_url):
    SENTINEL = sentinel_settings(_url)
elif is_cluster_url(_url):
    # RQ takes one node: the one owning the slot of the hash-tagged RQ_KEY_PREFIX (rqlayer/cluster.py).
    from dashboard.rqlayer import cluster

    REDIS_URL = cluster.owner_url(parse_cluster_url(_url, keys.PREFIX))
else:
    REDIS_URL = _url
