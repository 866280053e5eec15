"""redis+sentinel:// URLs: Redis Sentinel in the one REDIS_URL setting.

    redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service[/db][?sentinel_password=...]

The hosts are the sentinels (port 26379 when left out), `service` the name they monitor the primary
under (`sentinel monitor <service> ...`). The user and password are the primary's (and its replicas'),
as in a redis:// URL; sentinels that require a password of their own take it from `sentinel_password`.
The scheme is the one Kombu/Celery and Sidekiq spell; redis-py has no URL form for Sentinel.

Pure string work, no Redis and no third-party import: settings validation and the RQ CLI config
(dashboard/rqconfig.py) use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379


@dataclass(frozen=True)
class SentinelURL:
    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None


def is_sentinel_url(url: str) -> bool:
    return url.lower().startswith(SENTINEL_SCHEME + "://")


def host_list(hosts: str, default_port: int, what: str) -> tuple[tuple[str, int], ...]:
    """`host[:port][,host[:port]...]` as (host, port) pairs (redis+cluster:// URLs use it too); ValueError
    naming `what` ("sentinel", "cluster node") and the bad entry."""
    found = []
    for raw in hosts.split(","):
        try:
            host = urlsplit(f"//{raw}")
            address = (host.hostname or "", host.port or default_port)
        except ValueError:
            raise ValueError(f"bad {what} address {raw!r}") from None
        if not address[0]:
            raise ValueError(f"a {what} without a host in {hosts!r}")
        found.append(address)
    return tuple(found)


def parse_sentinel_url(url: str) -> SentinelURL:
    """The parts of a redis+sentinel:// URL. ValueError with a message that never shows a password
    (callers prefix the setting's name). O(len(url))."""
    if not is_sentinel_url(url):
        raise ValueError(f"not a {SENTINEL_SCHEME}:// URL")
    rest, _, query = url.split("://", 1)[1].partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, _, hosts = netloc.rpartition("@")
    sentinels = host_list(hosts, SENTINEL_PORT, "sentinel")
    service, _, db = path.partition("/")
    if not service:
        raise ValueError("no service name (the name the sentinels monitor the primary under) after the hosts")
    if db and not db.isdigit():
        raise ValueError(f"the database must be a number, got {db!r}")
    options = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(options) - {"sentinel_password"})
    if unknown:
        raise ValueError(f"unknown option {unknown[0]!r} (only sentinel_password)")
    username, _, password = userinfo.partition(":")
    return SentinelURL(
        sentinels=tuple(sentinels),
        service=unquote(service),
        db=int(db or 0),
        username=unquote(username) or None,
        password=unquote(password) or None,
        sentinel_password=options.get("sentinel_password", [""])[-1] or None,
    )
