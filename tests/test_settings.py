"""Settings are validated at start: a bad value is one line naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dashboard.settings import SettingsError, load_settings, mask_url, redis_source
from tests.helpers import PROJECT_ROOT


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("REDIS_URL", "http://localhost:6379", "REDIS_URL"),
        ("REDIS_URL", "redis://:pw@localhost:notaport/0", "REDIS_URL: bad port"),
        ("REDIS_URL", "redis://localhost:6379/zero", "REDIS_URL: the database must be a number"),
        ("DATABASE_URL", "mysql://root@localhost/x", "DATABASE_URL: only sqlite"),
        ("DATABASE_URL", "not a url", "DATABASE_URL"),
        ("POLL_SECONDS", "fast", "POLL_SECONDS: expected a number"),
        ("POLL_SECONDS", "0", "POLL_SECONDS: must be between"),
        ("SECRET_KEY", "short", "SECRET_KEY: must be at least 8"),
        ("UNSAFE_UNPICKLE", "maybe", "UNSAFE_UNPICKLE: expected true or false"),
    ],
)
def test_bad_values_name_the_variable(tmp_path, name, value, fragment):
    env = {"CONSOLE_DATA_DIR": str(tmp_path), name: value}
    with pytest.raises(SettingsError) as error:
        load_settings(env)
    assert fragment in str(error.value)
    assert "\n" not in str(error.value)


def test_defaults_are_safe(tmp_path):
    settings = load_settings({"CONSOLE_DATA_DIR": str(tmp_path)})
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.database_url == f"sqlite:///{tmp_path / 'console.db'}"
    assert not settings.unsafe_unpickle
    assert len(settings.secret_key) >= 32
    # The generated key is kept, so every gunicorn worker signs with the same one.
    assert load_settings({"CONSOLE_DATA_DIR": str(tmp_path)}).secret_key == settings.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_plain_postgresql_url_uses_psycopg3(tmp_path):
    settings = load_settings({"CONSOLE_DATA_DIR": str(tmp_path), "DATABASE_URL": "postgresql://u:p@db/console"})
    assert settings.database_url == "postgresql+psycopg://u:p@db/console"


def test_mask_url_hides_passwords():
    assert mask_url("redis://:s3cret@host:6379/0") == "redis://:****@host:6379/0"
    assert mask_url("postgresql://bob:s3cret@db/x") == "postgresql://bob:****@db/x"
    assert mask_url("redis://host:6379/0") == "redis://host:6379/0"


def test_flask_cli_reports_a_bad_setting_in_one_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "CONSOLE_DATA_DIR": str(tmp_path), "REDIS_URL": "http://nope"}
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "current"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "REDIS_URL" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr


def _write_state(data_dir, **values):
    lines = [f"{key}={value}" for key, value in values.items()]
    (data_dir / "run.env").write_text("\n".join(lines) + "\n")


def test_live_run_state_fills_redis_and_database_and_env_wins(tmp_path, redis_url):
    from dashboard import procs, runstate

    runstate.write(tmp_path, {"REDIS_URL": redis_url, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    assert (tmp_path / "run.env").stat().st_mode & 0o777 == 0o600
    settings = load_settings({"CONSOLE_DATA_DIR": str(tmp_path)})
    assert settings.redis_url == redis_url and settings.database_url == f"sqlite:///{tmp_path / 'x.db'}"
    explicit = load_settings({"CONSOLE_DATA_DIR": str(tmp_path), "REDIS_URL": "redis://10.0.0.1:6379/3"})
    assert explicit.redis_url == "redis://10.0.0.1:6379/3"
    assert explicit.database_url == f"sqlite:///{tmp_path / 'x.db'}", "each variable is resolved on its own"
    assert load_settings({"CONSOLE_DATA_DIR": str(tmp_path)}, use_run_state=False).redis_url != redis_url
    # A recycled pid (same number, other start time) is not the runner that wrote the file.
    _write_state(tmp_path, RUNNER_PID=os.getpid(), RUNNER_START="1", REDIS_URL=redis_url)
    assert load_settings({"CONSOLE_DATA_DIR": str(tmp_path)}).redis_url == "redis://127.0.0.1:6379/0"
    # A live runner whose Redis no longer answers: stale too.
    _write_state(
        tmp_path, RUNNER_PID=os.getpid(), RUNNER_START=procs.start_time(os.getpid()), REDIS_URL="redis://127.0.0.1:1/0"
    )
    assert load_settings({"CONSOLE_DATA_DIR": str(tmp_path)}).redis_url == "redis://127.0.0.1:6379/0"
    assert "its Redis does not answer" in redis_source({"CONSOLE_DATA_DIR": str(tmp_path)})
    _write_state(tmp_path, RUNNER_PID=os.getppid(), REDIS_URL=redis_url)
    runstate.remove_if_mine(tmp_path)
    assert (tmp_path / "run.env").exists(), "only the writer removes its own file"
    runstate.write(tmp_path, {"REDIS_URL": redis_url})
    runstate.remove_if_mine(tmp_path)
    assert not (tmp_path / "run.env").exists()
