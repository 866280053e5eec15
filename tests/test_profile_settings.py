"""Connection profiles' settings (dashboard/profile_config.py): REDIS_URLS, REDIS_PROFILE_COLOURS and
REDIS_PROFILE_PREFIXES are validated at start; a bad value stops the console with a message naming the
variable (never a password), as every setting does."""

from __future__ import annotations

import pytest

from dashboard.profile_config import COLOURS
from dashboard.settings import SettingsError, load_settings


def _settings(tmp_path, **env):
    base = {"SECRET_KEY": "test-secret-key-0123456789", "CONSOLE_DATA_DIR": str(tmp_path), "DATABASE_URL": "sqlite://"}
    return load_settings(dict(base, **env), use_run_state=False)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REDIS_URLS": "prod=redis://a/0,prod=redis://b/0"}, "REDIS_URLS: profile 'prod' is named twice"),
        ({"REDIS_URLS": "redis://:hunter2@a/0"}, "REDIS_URLS: expected name=value"),
        ({"REDIS_URLS": "prod=http://a/0"}, "REDIS_URLS (prod): expected redis://"),
        ({"REDIS_URLS": "prod=redis://a/x"}, "REDIS_URLS (prod): the database must be a number"),
        ({"REDIS_URLS": "p/x=redis://a/0"}, "REDIS_URLS: profile name"),
        ({"REDIS_URLS": " , "}, "REDIS_URLS: expected name=value"),
        (
            {"REDIS_URLS": "prod=redis://a/0", "REDIS_PROFILE_COLOURS": "prod=pink"},
            "REDIS_PROFILE_COLOURS: prod='pink'",
        ),
        ({"REDIS_URLS": "prod=redis://a/0", "REDIS_PROFILE_COLOURS": "qa=red"}, "no profile named 'qa'"),
        ({"REDIS_PROFILE_COLOURS": "prod=red"}, "REDIS_PROFILE_COLOURS: no profile named 'prod' (profiles: default)"),
        (
            {"REDIS_URLS": "prod=redis://a/0", "REDIS_URL": "redis://other/0"},
            "REDIS_URLS: its first instance (prod) is the default and must be the Redis REDIS_URL names",
        ),
        (
            {"REDIS_URLS": "prod=redis://a/0", "REDIS_PROFILE_PREFIXES": "prod={rq}"},
            "RQ reads RQ_KEY_PREFIX once per process, so one console serves one prefix",
        ),
    ],
)
def test_bad_profile_settings_stop_the_console_with_a_clear_message(tmp_path, env, message):
    with pytest.raises(SettingsError) as raised:
        _settings(tmp_path, **env)
    assert message in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_profile_settings_accepted(tmp_path):
    settings = _settings(
        tmp_path,
        REDIS_URLS="prod=redis+sentinel://s1:26379,s2:26379/main\nstaging=rediss://:pw@st:6380/1 qa=unix:///tmp/r.sock",
        REDIS_PROFILE_COLOURS="prod=RED, qa=grey",
        REDIS_PROFILE_PREFIXES="staging=rq",
    )
    profiles = settings.profiles
    assert profiles.names() == ("prod", "staging", "qa") and profiles.several
    assert settings.redis_url == "redis+sentinel://s1:26379,s2:26379/main", "REDIS_URLS' first is the default"
    assert [p.colour for p in profiles.all] == ["red", "", "grey"]
    assert set(COLOURS) >= {"red", "amber"}
    both = _settings(tmp_path, REDIS_URL="redis://a/0", REDIS_URLS="prod=redis://a/0,qa=redis://b/0")
    assert both.redis_url == "redis://a/0" and both.profiles.default.name == "prod"
    single = _settings(tmp_path, REDIS_URL="redis://one/0", REDIS_PROFILE_COLOURS="default=green").profiles
    assert single.names() == ("default",) and single.shown and not single.several
