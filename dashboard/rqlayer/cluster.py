"""The console on a Redis Cluster: a plain client on the node that owns the slot of RQ's keys.

Why not redis-py's RedisCluster client: RQ 3.0.0 has no cluster support of its own (`rq worker --url`
builds `Redis.from_url`; its pipelines use WATCH/MULTI and its scripts take keys built inside Lua), so
stock workers run against the one node that owns the slot of the hash-tagged RQ_KEY_PREFIX (`{rq}`).
Every key the console reads or writes is built under that prefix (keys.py), so the same node serves all
of them: pipelines, MULTI/EXEC and the Lua action scripts work unchanged. The scripts also build keys
from the prefix inside Lua; Redis Cluster allows a script to touch undeclared keys that hash to its slot
on the local node, and every key so built carries the same tag, hence the same slot.

Each new TCP connection asks the seed nodes (CLUSTER SLOTS) which node owns that slot, so after a
failover or a resharding the console follows: a command answered with MOVED for our slot drops its
connection and fails once as a ConnectionError (pages answer 503 and recover on the next request; an
action is never resent). A MOVED for another slot means a key outside the prefix (rq-scheduler
hard-codes `rq:scheduler:*`): that raises KeyOutsidePrefix, which pages report as unsupported on a
cluster rather than as an outage.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import redis
from redis.crc import key_slot

from dashboard.cluster_url import ClusterURL
from dashboard.rqlayer import keys
from dashboard.rqlayer.errors import Conflict

UNSUPPORTED = (
    "Not available on a Redis Cluster: this needs rq-scheduler's keys, which rq-scheduler "
    "spells without RQ_KEY_PREFIX's hash tag, so they live on another node than RQ's keys. Use rq cron "
    "(RQ's own scheduler) there."
)


class KeyOutsidePrefix(Conflict, redis.exceptions.ResponseError):
    """A command touched a key that is not under RQ_KEY_PREFIX's hash tag, so it lives on another node.
    A Conflict: pages and the API answer 409 with UNSUPPORTED, not an outage."""


def prefix_slot() -> int:
    """The slot of every key under RQ's (hash-tagged) prefix."""
    return key_slot(keys.queues().encode())


def owner_of(slot: int, seeds: tuple[tuple[str, int], ...], options: dict[str, Any]) -> tuple[str, int]:
    """(host, port) of the node serving `slot`, asked of the first seed that answers. Cost: one short
    connection and one CLUSTER SLOTS per call (made once per new pooled connection)."""
    last: Exception | None = None
    for host, port in seeds:
        seed = redis.Redis(host=host, port=port, **options)
        try:
            for start, end, primary, *_replicas in seed.execute_command("CLUSTER", "SLOTS"):  # type: ignore[no-untyped-call]
                if int(start) <= slot <= int(end):
                    node_host = primary[0].decode() if isinstance(primary[0], bytes) else str(primary[0])
                    return node_host or host, int(primary[1])
            last = redis.exceptions.ConnectionError(f"no node of the cluster serves slot {slot}")
        except (redis.exceptions.RedisError, OSError) as error:
            last = error
        finally:
            seed.close()
    raise redis.exceptions.ConnectionError(f"no cluster seed knows the node of slot {slot}: {last}")


class _OwnerNode:
    """Mixin for redis-py connection classes: (re)connects to the current owner of `cluster_slot`."""

    def __init__(
        self,
        *args: Any,
        cluster_seeds: tuple[tuple[str, int], ...] = (),
        cluster_slot: int = 0,
        seed_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.cluster_seeds = cluster_seeds
        self.cluster_slot = cluster_slot
        self.seed_options = seed_options or {}

    def _connect(self) -> Any:
        self.host, self.port = owner_of(self.cluster_slot, self.cluster_seeds, self.seed_options)
        return super()._connect()  # type: ignore[misc]

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().read_response(*args, **kwargs)  # type: ignore[misc]
        except redis.exceptions.MovedError as moved:
            if moved.slot_id == self.cluster_slot:
                self.disconnect()  # type: ignore[attr-defined]
                raise redis.exceptions.ConnectionError(
                    f"the cluster moved RQ's slot {moved.slot_id} to {moved.host}:{moved.port}; reconnecting"
                ) from None
            raise KeyOutsidePrefix(UNSUPPORTED) from None


class OwnerNodeConnection(_OwnerNode, redis.Connection):
    pass


class OwnerNodeSSLConnection(_OwnerNode, redis.SSLConnection):
    pass


def connect_cluster(spec: ClusterURL, options: dict[str, Any]) -> redis.Redis:
    """A client bound to the node owning RQ's slot (found lazily: no Redis call here). `options` are
    connect()'s timeouts and retry policy, used for the seed lookups too."""
    auth: dict[str, Any] = {"username": spec.username, "password": spec.password}
    pool_options: dict[str, Any] = dict(
        options,
        **auth,
        host=spec.seeds[0][0],
        port=spec.seeds[0][1],
        cluster_seeds=spec.seeds,
        cluster_slot=prefix_slot(),
        seed_options=dict(options, **auth, ssl=spec.tls),
        health_check_interval=30,
        client_name="rq-console",
    )
    pool = redis.ConnectionPool(
        connection_class=OwnerNodeSSLConnection if spec.tls else OwnerNodeConnection, **pool_options
    )
    return redis.Redis(connection_pool=pool)


def owner_url(spec: ClusterURL, timeout: float = 5.0) -> str:
    """The redis:// (rediss://) URL of the node owning RQ's slot now, for RQ's own command line, which
    takes one node (dashboard/rqconfig.py). A worker started with it stays on that node: after a
    resharding or failover restart it. Cost: one CLUSTER SLOTS on the first seed that answers."""
    auth = {"username": spec.username, "password": spec.password, "ssl": spec.tls}
    host, port = owner_of(prefix_slot(), spec.seeds, dict(auth, socket_timeout=timeout, socket_connect_timeout=timeout))
    userinfo = ""
    if spec.username or spec.password:
        userinfo = f"{quote(spec.username or '', safe='')}:{quote(spec.password or '', safe='')}@"
    return f"{'rediss' if spec.tls else 'redis'}://{userinfo}{host}:{port}/0"


def on_cluster(connection: redis.Redis) -> bool:
    """True when `connection` came from connect_cluster(). No Redis call."""
    pool = getattr(connection, "connection_pool", None)
    return isinstance(pool, redis.ConnectionPool) and issubclass(pool.connection_class, _OwnerNode)
