"""`make run`'s supervisor: it starts the Procfile, serves the console, and Ctrl-C leaves nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import urllib.request

import pytest
import redis

from dashboard.runner import Supervisor, parse_procfile
from dashboard.settings import SettingsError
from tests.helpers import PROJECT_ROOT, RunnerProcess, ctrl_c, free_port, start_embedded_runner, wait_until


def test_procfile_lists_release_web_worker_scheduler_history():
    names = [name for name, _ in parse_procfile(PROJECT_ROOT / "Procfile")]
    assert names == ["release", "web", "worker", "scheduler", "history"]


def test_bad_procfile_line_is_named(tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text("web: gunicorn app:app\nnonsense\n")
    with pytest.raises(SettingsError, match="line 2"):
        parse_procfile(procfile)


def test_stop_all_kills_a_process_that_ignores_sigterm():
    supervisor = Supervisor()
    ignores_term = "sh -c 'trap \"\" TERM INT; sleep 300 & wait'"
    stubborn = supervisor.spawn("stubborn", ignores_term, dict(os.environ), quiet=True)
    polite = supervisor.spawn("polite", "sleep 300", dict(os.environ), quiet=True)
    time.sleep(0.3)
    started = time.monotonic()
    supervisor.stop_all()
    assert time.monotonic() - started < 8
    assert stubborn.poll() is not None and polite.poll() is not None
    assert _live_members(stubborn.pid) == [], "the whole group, grandchild included, is gone"


def test_a_second_ctrl_c_skips_the_warm_shutdown_wait():
    supervisor = Supervisor(warm_seconds=120)
    busy = supervisor.spawn("worker", "sh -c 'trap \"\" TERM; sleep 300 & wait'", dict(os.environ), quiet=True)
    time.sleep(0.3)
    stopper = threading.Thread(target=supervisor.stop_all)
    started = time.monotonic()
    stopper.start()
    wait_until(lambda: supervisor.stopping.is_set(), timeout=5, message="stopping")
    time.sleep(0.5)
    supervisor.hurry.set()  # what the runner's signal handler does on the second Ctrl-C
    stopper.join(timeout=30)
    assert not stopper.is_alive() and time.monotonic() - started < 30, "did not wait out the 120 s warm period"
    assert busy.poll() is not None and _live_members(busy.pid) == []


def _live_members(pgid: int) -> list[str]:
    # Zombies waiting for init to reap them are dead: only running members count.
    out = subprocess.run(["ps", "-eo", "pgid=,stat=,args="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.split()[0] == str(pgid) and not line.split()[1].startswith("Z")]


def _pids_of_group(pgid_holder_cmd: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if pgid_holder_cmd in line and "ps -eo" not in line]


@pytest.mark.parametrize("mode", ["redis_url", "embedded"])
def test_run_serves_console_with_worker_and_ctrl_c_stops_everything(mode, tmp_path, private_redis):
    port = free_port()
    data_dir = tmp_path / "var"
    env = dict(os.environ, PORT=str(port), CONSOLE_DATA_DIR=str(data_dir), SECRET_KEY="runner-test-secret-key")
    env.pop("DATABASE_URL", None)
    if mode == "redis_url":
        redis.Redis.from_url(private_redis.url).flushall()
        env["REDIS_URL"] = private_redis.url
    else:
        env.pop("REDIS_URL", None)
        env["EMBEDDED_REDIS"] = "1"
    runner = RunnerProcess(env)
    try:
        console_line = wait_until(
            lambda: runner.line_with("Console:") or runner.proc.poll() is not None,
            timeout=60,
            message="the console URL",
        )
        assert runner.proc.poll() is None, runner.output()
        assert f"http://127.0.0.1:{port}/" in console_line
        redis_line = runner.line_with("Redis:")
        url = redis_line.split("Redis:")[1].split()[0]
        if mode == "embedded":
            assert "embedded" in redis_line and url != private_redis.url
            assert (data_dir / "redis").is_dir()
        assert "Database: sqlite:///" in runner.output()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            assert response.status == 200
        client = redis.Redis.from_url(url)
        wait_until(lambda: client.scard("rq:workers") >= 1, timeout=20, message="a registered worker")
    finally:
        os.killpg(runner.proc.pid, signal.SIGINT)
        runner.proc.wait(timeout=20)
    assert "stopped" in runner.output()
    wait_until(
        lambda: not _pids_of_group(str(data_dir)) and not _leftovers(port),
        timeout=5,
        message="no process left after Ctrl-C",
    )


def _leftovers(port: int) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if f":{port} " in line and "gunicorn" in line]


def _processes_mentioning(marker: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid=,stat=,args="], capture_output=True, text=True).stdout
    return [
        line
        for line in out.splitlines()
        if marker in line and "ps -eo" not in line and not line.split()[1].startswith("Z")
    ]


def test_ctrl_c_during_a_long_job_stops_in_order_kills_the_horse_and_deregisters(tmp_path):
    data_dir = tmp_path / "var"
    runner, url = start_embedded_runner(data_dir)
    try:
        client = redis.Redis.from_url(url)
        wait_until(lambda: client.scard("rq:workers") == 1, timeout=20, message="a registered worker")
        from rq import Queue

        job = Queue("default", connection=client).enqueue("time.sleep", 120, job_timeout=600)
        wait_until(lambda: client.hget(job.key, "status") == b"started", timeout=20, message="the job to start")
        worker_key = next(iter(client.smembers("rq:workers")))
        worker_pid = int(client.hget(worker_key, "pid"))
        horse = wait_until(lambda: _horse_pid(worker_pid), timeout=10, message="the work horse")
        assert os.getpgid(horse) == horse, "RQ puts the horse in a process group of its own"
        client.close()
        family = _family(runner.proc.pid)
        assert horse in family
    except BaseException:
        os.killpg(runner.proc.pid, signal.SIGKILL)
        raise
    after = ctrl_c(runner)
    assert "Traceback" not in after, after
    assert "ConnectionError" not in after, after
    assert "cold shutdown" in after, after
    assert procs_start_time(horse) is None, "the work horse was killed"
    assert _still_alive(family) == [], "nothing the runner started outlives it"
    assert _processes_mentioning(str(data_dir)) == []
    assert not (data_dir / "run.env").exists(), "the state file goes with the runner"
    # The embedded Redis saved its data after the worker deregistered: a restart shows one worker.
    runner, url = start_embedded_runner(data_dir)
    try:
        client = redis.Redis.from_url(url)
        wait_until(lambda: client.scard("rq:workers") >= 1, timeout=20, message="the new worker")
        assert client.scard("rq:workers") == 1, client.smembers("rq:workers")
        client.close()
    finally:
        after = ctrl_c(runner)
    assert "Traceback" not in after, after


def _horse_pid(worker_pid: int) -> int | None:
    # Of the worker's children (its RQ scheduler process, the horse) only the horse leads its own group.
    from dashboard import procs

    table = procs.process_table()
    for pid, (ppid, state) in table.items():
        if ppid == worker_pid and state != "Z" and os.getpgid(pid) == pid:
            return pid
    return None


def _family(runner_pid: int) -> dict[int, str]:
    from dashboard import procs

    return {pid: procs.start_time(pid) for pid in procs.descendants(runner_pid)}


def _still_alive(family: dict[int, str]) -> list[int]:
    # Same pid and same start time: the very process, not a recycled pid. Zombies are dead.
    from dashboard import procs

    table = procs.process_table()
    return [
        pid
        for pid, started in family.items()
        if procs.start_time(pid) == started and table.get(pid, (0, "Z"))[1] != "Z"
    ]


def procs_start_time(pid: int):
    from dashboard import procs

    return procs.start_time(pid)


def test_a_supervisor_inside_another_process_kills_only_what_it_started(private_redis):
    # Before: stop_all swept every descendant of the calling process, private redis-servers included.
    supervisor = Supervisor(warm_seconds=1)
    supervisor.spawn("worker", "sh -c 'sleep 300 & wait'", dict(os.environ), quiet=True)
    time.sleep(0.3)
    supervisor.stop_all()
    assert redis.Redis.from_url(private_redis.url).ping()
