"""redis+cluster:// URLs: a Redis Cluster in the one REDIS_URL setting.

    redis+cluster://[[user]:password@]host[:port][,host[:port]...][/0]      (rediss+cluster:// for TLS)

The hosts are seed nodes (port 6379 when left out): any reachable one tells the console which node
owns the slot of RQ's keys. A cluster has database 0 only.

RQ 3 runs on a cluster only when RQ_KEY_PREFIX carries a hash tag (`{rq}`): Redis then hashes only the
tag, so every RQ key (and every key of the console, all built under the same prefix) lands in one slot,
on one node, and RQ's MULTI/EXEC pipelines and Lua scripts keep working there. Validation refuses a
cluster URL with an untagged prefix, which would scatter the keys and break RQ's first transaction.

Pure string work, no Redis and no third-party import: settings validation uses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from dashboard.sentinel_url import host_list

CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
DEFAULT_PORT = 6379


@dataclass(frozen=True)
class ClusterURL:
    seeds: tuple[tuple[str, int], ...]
    tls: bool = False
    username: str | None = None
    password: str | None = None


def is_cluster_url(url: str) -> bool:
    return url.lower().split("://", 1)[0] in CLUSTER_SCHEMES and "://" in url


def hash_tag(prefix: str) -> str | None:
    """The hash tag Redis Cluster would hash for keys starting with `prefix` (the text between the first
    `{` and the next `}`, when not empty), or None: then keys under the prefix spread over all slots."""
    start = prefix.find("{")
    end = prefix.find("}", start + 1) if start >= 0 else -1
    return prefix[start + 1 : end] if start >= 0 and end > start + 1 else None


def parse_cluster_url(url: str, prefix: str) -> ClusterURL:
    """The parts of a redis+cluster:// URL, checked against RQ's key prefix. ValueError with a message
    that never shows a password (callers prefix the setting's name). O(len(url))."""
    if not is_cluster_url(url):
        raise ValueError(f"not a {CLUSTER_SCHEMES[0]}:// URL")
    if hash_tag(prefix) is None:
        raise ValueError(
            f"a Redis Cluster needs RQ_KEY_PREFIX with a hash tag, e.g. '{{rq}}', so that all RQ keys share "
            f"one slot (it is {prefix!r}); set the same RQ_KEY_PREFIX for the workers"
        )
    scheme, rest = url.split("://", 1)
    netloc, _, path = rest.partition("/")
    if "?" in netloc or "?" in path:
        raise ValueError("a cluster URL takes no options")
    if path not in ("", "0"):
        raise ValueError(f"a Redis Cluster has database 0 only, got {path!r}")
    userinfo, _, hosts = netloc.rpartition("@")
    seeds = host_list(hosts, DEFAULT_PORT, "cluster node")
    username, _, password = userinfo.partition(":")
    return ClusterURL(
        seeds=seeds,
        tls=scheme.lower() == "rediss+cluster",
        username=unquote(username) or None,
        password=unquote(password) or None,
    )
