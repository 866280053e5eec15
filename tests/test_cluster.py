"""The console on a real three-node Redis Cluster (tests/cluster_fixture.py) with stock and extension RQ
workers, RQ_KEY_PREFIX={rq}.

RQ reads its key prefix once, when it is imported, and this test session imported it with the default
`rq`. So the outer test starts the cluster and runs the cluster scenario in a child pytest whose
environment carries RQ_KEY_PREFIX={rq} and the cluster's URLs; the scenario's tests exist only there.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import PROJECT_ROOT

SEEDS = os.environ.get("RQ_CONSOLE_TEST_CLUSTER", "")  # the redis+cluster:// URL, in the child only
NODE = os.environ.get("RQ_CONSOLE_TEST_CLUSTER_NODE", "")  # redis:// URL of the node owning {rq}'s slot


def test_settings_accept_a_cluster_url_only_with_a_hash_tagged_prefix(monkeypatch):
    from dashboard.settings import SettingsError, mask_url, validate_redis_url

    url = "redis+cluster://user:s3cret@10.0.0.1:7000,10.0.0.2"
    monkeypatch.setenv("RQ_KEY_PREFIX", "rq")
    with pytest.raises(SettingsError, match=r"REDIS_URL: a Redis Cluster needs RQ_KEY_PREFIX with a hash tag"):
        validate_redis_url(url)
    monkeypatch.setenv("RQ_KEY_PREFIX", "{rq}")
    assert validate_redis_url(url) == url
    assert validate_redis_url("rediss+cluster://n1:7000/0")
    for bad, message in (
        ("redis+cluster://n1:7000/3", "database 0 only"),
        ("redis+cluster://n1:7000,:7001", "without a host"),
        ("redis+cluster://n1:port", "bad cluster node address"),
        ("redis+cluster://n1:7000?x=1", "no options"),
    ):
        with pytest.raises(SettingsError, match=message):
            validate_redis_url(bad)
    assert "s3cret" not in mask_url(url)


def test_hash_tags_as_redis_cluster_hashes_them():
    from dashboard.cluster_url import hash_tag

    assert [hash_tag(p) for p in ("{rq}", "app{rq}", "{rq}x", "rq", "{}rq", "{rq")] == [
        "rq",
        "rq",
        "rq",
        None,
        None,
        None,
    ]


if not SEEDS:

    def test_the_console_on_a_three_node_cluster():
        from tests.cluster_fixture import RedisCluster

        cluster = RedisCluster()
        try:
            env = dict(
                os.environ,
                RQ_KEY_PREFIX="{rq}",
                RQ_CONSOLE_TEST_CLUSTER=cluster.seeds,
                RQ_CONSOLE_TEST_CLUSTER_NODE=cluster.node_url("{rq}:queues"),
            )
            child = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", __file__],
                cwd=PROJECT_ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
        finally:
            cluster.stop()
        assert child.returncode == 0, child.stdout[-8000:] + child.stderr[-2000:]
        assert "7 passed" in child.stdout, child.stdout[-2000:]

else:
    import threading

    import redis
    from rq import Queue

    from dashboard.history.collector import drain
    from dashboard.rqlayer import keys
    from dashboard.rqlayer.cluster import on_cluster
    from dashboard.rqlayer.telemetry import series
    from dashboard.rqlayer.telemetry.events import read_events
    from tests.cluster_fixture import PORTS
    from tests.fixtures import seed_users
    from tests.helpers import build_app, make_env, post, run_burst_worker, signed_in, wait_for_operation

    EXTENSION = ("-w", "dashboard.rqlayer.telemetry.worker.ConsoleWorker")

    @pytest.fixture(scope="module")
    def cluster_app(tmp_path_factory):
        data_dir = tmp_path_factory.mktemp("cluster-console")
        app = build_app(make_env(SEEDS, f"sqlite:///{data_dir / 'console.db'}", data_dir))
        seed_users(app)
        return app

    def test_the_console_binds_to_the_node_owning_the_prefix_slot(cluster_app):
        console = cluster_app.extensions["console"]
        assert keys.PREFIX == "{rq}" and on_cluster(console.connection)
        assert console.ping()
        assert console.capabilities.redis_cluster and not console.capabilities.rq_scheduler
        for port in PORTS:  # the console's connection is on the owner node only
            names = [c["name"] for c in redis.Redis(port=port).client_list()]
            assert ("rq-console" in names) == NODE.startswith(f"redis://127.0.0.1:{port}/"), (port, names)

    def test_pages_lua_actions_bulk_stream_metrics_and_collector(cluster_app):
        from dashboard.extensions import db

        conn = cluster_app.extensions["redis"]
        queue = Queue("default", connection=conn)
        done = [queue.enqueue("tests.jobfuncs.add", n, 1) for n in range(2)]
        failed = [queue.enqueue("tests.jobfuncs.fail") for _ in range(3)]
        run_burst_worker(NODE, queues=(*EXTENSION, "default"))

        # Every key RQ and the console wrote is under the tag, so on the one node; the others hold none.
        assert all(key.startswith(b"{rq}:") for key in conn.keys("*"))
        for port in set(PORTS) - {conn.connection_pool.get_connection().port}:
            assert redis.Redis(port=port).dbsize() == 0

        client = signed_in(cluster_app, "oscar")
        overview = client.get("/")
        assert overview.status_code == 200 and "default" in overview.get_data(as_text=True)
        queue_page = client.get("/queues/default/finished")
        assert queue_page.status_code == 200 and done[0].id in queue_page.get_data(as_text=True)
        job_page = client.get(f"/jobs/{failed[0].id}")
        assert job_page.status_code == 200 and "planned failure" in job_page.get_data(as_text=True)

        assert post(client, f"/jobs/{failed[0].id}/retry").status_code in (200, 303)  # the retry Lua script
        assert conn.lrange(keys.queue("default"), 0, -1) == [failed[0].id.encode()]
        # A long poll of the event feed (its own blocking pool, copied from the console's) wakes on the bulk's events.
        feed, polled = cluster_app.extensions["console"].events, []
        cursor = feed.latest()
        waiter = threading.Thread(target=lambda: polled.append(feed.poll(cursor, wait=20)))
        waiter.start()
        op_id = wait_for_operation(client, post(client, "/failed/retry-all"))  # bulk: the rest
        waiter.join(timeout=30)
        assert polled and polled[0].events and not polled[0].busy
        assert "2 jobs retried" in client.get(f"/bulk/{op_id}").get_data(as_text=True)
        assert conn.zcard(keys.registry("failed", "default")) == 0 and conn.llen(keys.queue("default")) == 3
        # A stock worker given the cluster URL through `rq -c dashboard.rqconfig` runs the retried jobs.
        stock = [sys.executable, "-m", "rq.cli", "worker", "--burst", "-c", "dashboard.rqconfig", "default"]
        ran = subprocess.run(
            stock, cwd=PROJECT_ROOT, env=dict(os.environ, REDIS_URL=SEEDS), capture_output=True, timeout=60
        )
        assert ran.returncode == 0, ran.stderr[-2000:]
        assert conn.zcard(keys.registry("failed", "default")) == 3

        types = [event.type for event in read_events(conn, count=100).events]
        assert types.count("finished") == 2 and types.count("failed") == 3  # the extension worker's
        assert len([t for t in types if "retr" in t]) >= 2, types  # the console's actions
        total = series.read_series(conn, "default", None, minutes=5).total()
        assert (total.finished, total.failed) == (2, 3)
        with cluster_app.app_context():
            assert drain(conn, db.engine) >= 5  # the history collector consumes the stream there too

    def test_every_page_answers_on_the_cluster(cluster_app):
        """The hostile-data walk's URLs (every GET route), as an admin: none fails; only pages that read
        rq-scheduler's keys refuse, with the cluster message."""
        from tests.test_hostile_data import every_get_url

        conn = cluster_app.extensions["redis"]
        failed = [member.decode() for member in conn.zrange(keys.registry("failed", "default"), 0, -1)]
        done = conn.zrange(keys.registry("finished", "default"), 0, 0)[0].decode()
        client = signed_in(cluster_app, "alice")
        refused, broken = [], []
        for url in sorted(set(every_get_url(cluster_app, {"jobs": failed, "big": done, "queue": "default"}))):
            answer = client.get(url)
            body = answer.get_data(as_text=True)  # read streamed answers (exports) to the end
            if answer.status_code == 409 and "Not available on a Redis Cluster" in body:
                refused.append(url)
            elif answer.status_code >= 500 or answer.status_code == 409:
                broken.append((url, answer.status_code))
        assert broken == []
        assert refused and all(url.startswith("/schedules/") for url in refused), refused  # one rq-scheduler job

    def test_the_schedules_page_says_rq_scheduler_is_unsupported_on_a_cluster(cluster_app):
        client = signed_in(cluster_app, "oscar")
        for path in ("/schedules", "/schedules/health"):  # rq cron and RQ's scheduler are shown, with a note
            answer = client.get(path)
            assert answer.status_code == 200, (path, answer.status_code)
            assert "On a Redis Cluster rq-scheduler cannot run" in answer.get_data(as_text=True)
        one = client.get("/schedules/some-rq-scheduler-job")  # reads rq-scheduler's zset: refused, not a 5xx
        assert one.status_code == 409 and "Not available on a Redis Cluster" in one.get_data(as_text=True)

    def test_the_console_follows_the_slot_to_another_node(cluster_app):
        """A resharding moves {rq}'s slot (and its keys) to another node: the next request answers 503 once
        (MOVED drops the connection; nothing is resent), the one after it reconnects to the new owner."""
        from dashboard.rqlayer.cluster import prefix_slot

        slot, old = prefix_slot(), redis.Redis.from_url(NODE)
        nodes = {port: redis.Redis(port=port) for port in PORTS}
        ids = {port: client.execute_command("CLUSTER", "MYID").decode() for port, client in nodes.items()}
        source = old.connection_pool.connection_kwargs["port"]
        target = next(port for port in nodes if port != source)
        nodes[target].execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[source])
        old.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[target])
        names = old.keys("*")
        old.execute_command("MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *names)
        for client in nodes.values():
            client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[target])

        client = signed_in(cluster_app, "oscar")
        assert client.get("/").status_code == 503  # the pooled connection to the old owner hit MOVED
        overview = client.get("/")
        assert overview.status_code == 200 and "default" in overview.get_data(as_text=True)
        assert nodes[target].dbsize() == len(names) and old.dbsize() == 0
        assert cluster_app.extensions["redis"].zcard(keys.registry("failed", "default")) == 3
