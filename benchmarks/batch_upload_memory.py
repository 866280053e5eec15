"""Batch upload memory: peak RSS of a real gunicorn console process for a 64 MB JSON-lines upload.

    python benchmarks/batch_upload_memory.py [--megabytes 64]

Starts a private redis-server and the console under gunicorn (one worker process), signs in over
HTTP, uploads a small file first (the baseline: the same process warmed up by the same request),
then a 64 MB file of 200,000 rows, waits until every job is enqueued, and reads the worker's peak
RSS (VmHWM) after each. For contrast it also measures, in separate processes, reading the same file
whole as the console did before (bytes, decoded text, every row and every call in lists) and the
streaming reader now used. Prints figures; asserts no timing.
Last line: RESULT upload_mb=<n> baseline_rss_mb=<n> peak_rss_mb=<n> growth_mb=<n> (+ the contrast).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import redis  # noqa: E402
import requests  # noqa: E402
from support import Children, free_port, start_redis  # noqa: E402

TASK = "tasks.notifications.send_email_notification"
ROWS = 200_000  # the console's row limit
PASSWORD = "bench-password-0123"

# Run in a fresh interpreter: prints the process's peak RSS in MB after reading the file one way.
READER = r"""
import io, json, re, sys
sys.path.insert(0, sys.argv[3])
import tasks
from dashboard.rqlayer import batchfile, enqueue
from dashboard.rqlayer.params import validate_call
spec = tasks.get_task(sys.argv[2])
options = enqueue.EnqueueOptions(queue="default")
if sys.argv[1] == "whole":  # what the console did before: the upload as bytes, text, rows and calls in lists
    upload = open(sys.argv[4], "rb").read()
    rows = [json.loads(line) for line in io.StringIO(upload.decode("utf-8-sig")) if line.strip()]
    calls = [validate_call(spec, row)[0] for row in rows]
    count = len(calls)
else:
    with open(sys.argv[4], "rb") as stream:
        report, spool = batchfile.check_file(stream, sys.argv[4], spec, options)
    spool.close()
    count = report.valid
# VmHWM, not ru_maxrss: ru_maxrss carries the forking parent's peak across exec.
status = open("/proc/self/status").read()
print(count, int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024)
"""


def make_file(path: Path, megabytes: int) -> int:
    target = megabytes * 1_000_000
    per_row = target // ROWS
    with path.open("w") as out:
        for n in range(ROWS):
            row = {"to": f"user{n}@example.com", "subject": f"Invoice #{n}", "body": ""}
            pad = per_row - len(json.dumps(row)) - 1
            row["body"] = "x" * max(pad, 0)
            out.write(json.dumps(row) + "\n")
    return path.stat().st_size


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def worker_pid(master: int) -> int:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise RuntimeError("gunicorn started no worker")


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            requests.get(url, timeout=10)
            return
        except (requests.ConnectionError, requests.Timeout):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def upload(session: requests.Session, base: str, path: Path) -> str:
    page = session.get(f"{base}/enqueue/{TASK}/batch").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    with path.open("rb") as stream:
        response = session.post(
            f"{base}/enqueue/{TASK}/batch",
            data={"csrf_token": token},
            files={"file": (path.name, stream, "application/x-ndjson")},
            timeout=600,
        )
    if response.status_code != 202:
        raise RuntimeError(f"upload answered {response.status_code}: {response.text[:500]}")
    return re.search(r'id="bulk-([0-9a-f]{32})"', response.text).group(1)


def wait_done(session: requests.Session, base: str, op_id: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while 'data-status="done"' not in session.get(f"{base}/bulk/{op_id}").text:
        if time.monotonic() > deadline:
            raise RuntimeError("the batch did not finish")
        time.sleep(0.2)


def reader_peak(mode: str, path: Path) -> tuple[int, float]:
    out = subprocess.run(
        [sys.executable, "-c", READER, mode, TASK, str(ROOT), str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return int(out[0]), float(out[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=64)
    args = parser.parse_args()

    children = Children()
    workdir = Path(tempfile.mkdtemp(prefix="upload-bench-"))
    try:
        redis_url = start_redis(children, workdir)
        big, small = workdir / "mail.jsonl", workdir / "small.jsonl"
        size = make_file(big, args.megabytes)
        small.write_text(json.dumps({"to": "a@example.com", "subject": "hi"}) + "\n")
        print(f"{ROWS:,} rows, {size / 1e6:.1f} MB of JSON lines")

        from tests.helpers import build_app, make_env

        env = make_env(redis_url, f"sqlite:///{workdir}/console.db", workdir)
        app = build_app(env)
        with app.app_context():
            from dashboard import accounts

            accounts.create_user("bench-admin", PASSWORD, "admin", actor="bench")
        port = free_port()
        master = children.start(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--threads",
                "4",
                "--timeout",
                "600",
                "app:app",
            ],
            cwd=ROOT,
            env={"PATH": "/usr/bin:/bin", **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz")
        pid = worker_pid(master.pid)
        session = requests.Session()
        login = session.get(f"{base}/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)
        session.post(f"{base}/login", data={"csrf_token": token, "username": "bench-admin", "password": PASSWORD})

        wait_done(session, base, upload(session, base, small))
        baseline = peak_rss_mb(pid)
        started = time.perf_counter()
        op_id = upload(session, base, big)
        checked = time.perf_counter()
        wait_done(session, base, op_id)
        finished = time.perf_counter()
        peak = peak_rss_mb(pid)
        queued = redis.Redis.from_url(redis_url).llen("rq:queue:high")
        print(
            f"console worker (gunicorn pid {pid}): peak RSS {baseline:.0f} MB after a 1-row upload, "
            f"{peak:.0f} MB after the {size / 1e6:.0f} MB upload (+{peak - baseline:.0f} MB); "
            f"upload answered in {checked - started:.1f} s, all enqueued after {finished - started:.1f} s; "
            f"queue holds {queued:,} jobs"
        )

        whole_rows, whole_peak = reader_peak("whole", big)
        stream_rows, stream_peak = reader_peak("stream", big)
        print(
            f"reading the file whole, as before: peak RSS {whole_peak:.0f} MB; "
            f"streaming reader: {stream_peak:.0f} MB ({whole_rows:,} / {stream_rows:,} rows)"
        )
        ok = queued == ROWS + 1 and whole_rows == stream_rows == ROWS
        print(
            f"RESULT upload_mb={size / 1e6:.0f} baseline_rss_mb={baseline:.0f} peak_rss_mb={peak:.0f} "
            f"growth_mb={peak - baseline:.0f} whole_file_reader_mb={whole_peak:.0f} "
            f"streaming_reader_mb={stream_peak:.0f} ok={int(ok)}"
        )
        return 0 if ok else 1
    finally:
        children.stop_all()


if __name__ == "__main__":
    sys.exit(main())
