"""Two Redis instances in one console (connection profiles): the session's private redis-server as
`prod` (the default) and a second private one as `staging`, REDIS_URLS naming both."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import redis

from tests.conftest import PrivateRedis
from tests.fixtures import seed_users
from tests.helpers import build_app, make_env


@dataclass
class TwoInstances:
    app: object
    prod: redis.Redis  # the default profile's Redis
    staging: redis.Redis


@pytest.fixture(scope="module", name="second_redis")
def second_redis_server():
    server = PrivateRedis()
    yield server
    server.stop()


def _two(private_redis, second_redis, tmp_path, **extra):
    from dashboard.rqlayer import search

    prod, staging = redis.Redis.from_url(private_redis.url), redis.Redis.from_url(second_redis.url)
    prod.flushall()
    staging.flushall()
    search._groups_cache.clear()
    (tmp_path / "data").mkdir()
    env = make_env(
        private_redis.url,
        f"sqlite:///{tmp_path / 'console.db'}",
        tmp_path / "data",
        REDIS_URLS=f"prod={private_redis.url}, staging={second_redis.url}",
        REDIS_PROFILE_COLOURS="prod=red,staging=amber",
        **extra,
    )
    app = build_app(env)
    seed_users(app)
    yield TwoInstances(app, prod, staging)
    prod.close()
    staging.close()
    with app.app_context():
        from dashboard.extensions import db

        db.engine.dispose()


@pytest.fixture(name="two")
def two_instances(private_redis, second_redis, tmp_path):
    yield from _two(private_redis, second_redis, tmp_path)


@pytest.fixture(name="two_cached")
def two_instances_cached(private_redis, second_redis, tmp_path):
    """The same, with the shared overview read on (OVERVIEW_CACHE_SECONDS=10, as a busy console)."""
    yield from _two(private_redis, second_redis, tmp_path, OVERVIEW_CACHE_SECONDS="10")
