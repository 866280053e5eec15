"""`make demo` and `flask --app app ...` beside a running `make run` reach its Redis and database,
with no URL copied; an explicit REDIS_URL wins; with nothing running, the demo says which Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import redis

from tests.helpers import PROJECT_ROOT, ctrl_c, start_embedded_runner


def _flask(args: list[str], data_dir, **extra) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(CONSOLE_DATA_DIR=str(data_dir), SECRET_KEY="runner-test-secret-key", **extra)
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_demo_beside_make_run_fills_the_consoles_embedded_redis(tmp_path, private_redis):
    data_dir = tmp_path / "var"
    runner, url = start_embedded_runner(data_dir)
    try:
        state = data_dir / "run.env"
        assert state.stat().st_mode & 0o777 == 0o600
        result = _flask(["demo"], data_dir)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"Redis: {url}" in result.stdout and "the running `make run`" in result.stdout
        client = redis.Redis.from_url(url)
        assert len(list(client.scan_iter("rq:job:*"))) >= 5
        # Other CLI commands share the console's database too: the admin `make run` created is there.
        users = _flask(["users", "list"], data_dir)
        assert users.returncode == 0 and "admin" in users.stdout, users.stdout + users.stderr
        # An explicit REDIS_URL always wins over the state file.
        redis.Redis.from_url(private_redis.url).flushall()
        explicit = _flask(["demo"], data_dir, REDIS_URL=private_redis.url)
        assert explicit.returncode == 0 and f"Redis: {private_redis.url} (from REDIS_URL)" in explicit.stdout
        assert len(list(redis.Redis.from_url(private_redis.url).scan_iter("rq:job:*"))) >= 5
        client.close()
    finally:
        ctrl_c(runner)
    assert not (data_dir / "run.env").exists()


def test_a_killed_runners_state_file_is_stale(tmp_path):
    from dashboard import procs
    from dashboard.settings import load_settings, redis_source

    data_dir = tmp_path / "var"
    runner, url = start_embedded_runner(data_dir)
    family = procs.descendants(runner.proc.pid)
    os.kill(runner.proc.pid, signal.SIGKILL)  # no clean-up: run.env stays behind, its Redis still answers
    runner.proc.wait(timeout=10)
    try:
        assert (data_dir / "run.env").exists() and redis.Redis.from_url(url).ping()
        env = {"CONSOLE_DATA_DIR": str(data_dir)}
        assert load_settings(env).redis_url != url
        assert "is stale: the `make run` that wrote it" in redis_source(env)
    finally:
        procs.kill_all(family)


def test_demo_against_a_redis_that_does_not_answer_is_one_clear_line(tmp_path):
    result = _flask(["demo"], tmp_path, REDIS_URL="redis://127.0.0.1:1/0", REDIS_TIMEOUT="0.5")
    assert result.returncode != 0
    assert "Redis: redis://127.0.0.1:1/0 (from REDIS_URL)" in result.stdout
    assert "cannot reach Redis at redis://127.0.0.1:1/0" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr
