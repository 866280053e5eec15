"""The front door (dashboard/rqlayer/console.py): one Console per app binds the connection and the decode
policy, reports capabilities, and its parts are what views call. Round trips are counted on the real
Redis (INFO stats / commandstats), never guessed."""

from __future__ import annotations

import gc
import pickle
import re
import zlib
from fractions import Fraction

import pytest
import rq
from rq import Queue

from dashboard.rqlayer import keys, vocabulary
from dashboard.rqlayer.console import Capabilities, Console
from tests.fixtures import plant_raw

CONNECTION_SETUP = {"cmdstat_config", "cmdstat_info", "cmdstat_hello", "cmdstat_client", "cmdstat_ping"}
HTMX = {"HX-Request": "true"}


def measure(conn, call):
    """(round trips, {command: calls}, result) that `call` caused on this private Redis. A pipeline is one
    read on the server, so reads processed = round trips. Taken off: the two INFO reads below, and the
    commands a client sends when it (re)connects (CLIENT SETNAME/SETINFO, PING health checks): they are
    the pool's doing, not the page's."""
    conn.config_resetstat()
    result = call()
    stats = conn.info("commandstats")
    reads = conn.info("stats")["total_reads_processed"]
    setup = sum(
        stats.get(name, {}).get("calls", 0)
        for name in ("cmdstat_client", "cmdstat_hello", "cmdstat_ping", "cmdstat_select", "cmdstat_auth")
    )
    commands = {k: v["calls"] for k, v in stats.items() if k not in CONNECTION_SETUP}
    return reads - 2 - setup, commands, result


def fewest_round_trips(conn, call, attempts: int = 3):
    """measure() at its lowest over a few runs. The server also counts the read that notices a closed
    connection (an earlier test's pool being collected): such reads only ever add, so the lowest run is
    the request's own count, and a request that really costs more can never pass."""
    gc.collect()
    return min((measure(conn, call) for _ in range(attempts)), key=lambda measured: measured[0])


def test_one_console_per_app_with_the_settings_decode_policy(app):
    from dashboard.extensions import get_console

    with app.app_context():
        console = get_console()
        assert console is app.extensions["console"]
        assert console.connection is app.extensions["redis"]
        assert console.policy.unsafe is False
        assert console.prefix == keys.PREFIX
        assert "@" not in console.redis_url or "***" in console.redis_url


def test_parts_carry_the_decode_policy_so_callers_never_pass_it(conn):
    job_id = "fraction-job"
    data = zlib.compress(pickle.dumps(("tests.jobfuncs.add", None, (Fraction(1, 3),), {})))
    conn.hset(keys.job(job_id), mapping={"status": "queued", "origin": "default", "data": data})
    safe, unsafe = Console(conn), Console(conn, unsafe=True)

    assert unsafe.jobs.detail(job_id).call.args.value == [Fraction(1, 3)], "unpickled: the policy reached it"
    refused = safe.jobs.detail(job_id).call.args
    assert refused.value is None and not refused.safe, "the restricted reader refuses a Fraction"
    # A bound part fills in connection and unsafe from the console: callers spell neither.
    assert unsafe.bulk.run.keywords == {"unsafe": True} and unsafe.bulk.run.args == (conn,)
    assert safe.schedules.read_schedules.keywords == {"unsafe": False}
    assert safe.actions.retry.args == (conn,) and "unsafe" not in safe.actions.retry.keywords
    assert safe.bulk.Selection is __import__("dashboard.rqlayer.bulk", fromlist=["Selection"]).Selection


def test_capabilities_report_what_is_installed(conn):
    capabilities = Console(conn).capabilities
    assert capabilities == Capabilities.detect()
    assert capabilities.rq_version == rq.__version__
    assert capabilities.concurrency_limits and capabilities.rq_cron, "RQ 3.0 has both"
    assert capabilities.worker_extension is False, "the worker extension does not exist yet"


def test_capabilities_reach_the_templates(client):
    import re

    html = client.get("/").get_data(as_text=True)
    assert re.search(r'<meta name="rq-version" content="3\.\d+\.\d+">', html), "base.html shows the RQ version"


def test_queue_fragment_reads_only_what_it_renders(conn, client):
    """The list fragment HTMX swaps in used to make 6 sequential round trips (3 unused: the tab counts,
    the queue names, a second count). Now: the queue's existence, the count with the ids, the rows."""
    # A small page keeps each pipeline in one packet (a server read is at most 16 KiB): reads = round trips.
    plant_raw(conn, "default", "finished", 60)
    url = "/queues/default/finished?page=2&size=25"
    client.get(url, headers=HTMX)  # warm the pool's connections

    trips, commands, response = fewest_round_trips(conn, lambda: client.get(url, headers=HTMX))
    assert response.status_code == 200 and 'id="jobs"' in response.get_data(as_text=True)
    assert trips == 3, (trips, commands)
    assert "cmdstat_smembers" not in commands, "the move field's queue names are not in the fragment"
    assert commands.get("cmdstat_zcard") == 1, "one count (the page's), not the tab counts"
    assert "cmdstat_llen" not in commands, commands

    page_trips, page_commands, full = fewest_round_trips(conn, lambda: client.get(url))
    assert full.status_code == 200 and 'id="queue-names"' in full.get_data(as_text=True)
    # 6: the full page also reads its flow panel (pause, limit, queued, workers: one pipeline; issue 15).
    assert page_trips == 6 and "cmdstat_smembers" in page_commands, (page_trips, page_commands)


def test_a_page_costs_two_round_trips_at_any_depth(conn):
    ids = plant_raw(conn, "default", "queued", 300)
    console = Console(conn)
    for number in (1, 12):
        trips, _, page = fewest_round_trips(conn, lambda n=number: console.jobs.page("default", "queued", n, 25))
        assert trips == 2
        assert [row.id for row in page.rows] == ids[(number - 1) * 25 : number * 25]
    trips, _, beyond = fewest_round_trips(conn, lambda: console.jobs.page("default", "queued", 99, 25, "newest"))
    assert beyond.page == 12 and [row.id for row in beyond.rows] == list(reversed(ids))[275:]
    assert trips == 3, "a page past the end costs one more read, for the clamped page"


def test_a_missing_queue_is_a_404_from_the_layer_on_every_surface(client, conn):
    Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 1, 2)
    assert client.get("/queues/nope/queued").status_code == 404
    fragment = client.get("/queues/nope/queued", headers=HTMX)
    assert fragment.status_code == 404 and "There is no queue named" in fragment.get_data(as_text=True)
    assert client.get("/queues/nope/queued/tabs").status_code == 404
    assert client.get("/queues/nope/queued/export.csv").status_code == 404


def test_vocabulary_rules():
    assert vocabulary.valid_queue_name("high.priority:v2") and not vocabulary.valid_queue_name("bad name")
    assert not vocabulary.valid_queue_name("x" * 101) and not vocabulary.valid_queue_name("队列")
    assert vocabulary.lookup_queue_name("队列") and not vocabulary.lookup_queue_name("a b")
    assert vocabulary.valid_job_id("a.b-c_d") and not vocabulary.valid_job_id("a:dependents")
    assert vocabulary.valid_new_job_id("abc-1") and not vocabulary.valid_new_job_id("a.b")
    assert (
        vocabulary.rq_time(__import__("datetime").datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=__import__("datetime").UTC))
        == "2026-01-02T03:04:05.000006Z"
    )
    assert vocabulary.STATES[0] == "queued" and vocabulary.REGISTRY_STATES == vocabulary.STATES[1:]


def test_templates_name_permissions_through_python_constants():
    """`can(perm.JOBS_ACT)`, never `can('jobs.act')`: a renamed permission cannot leave a template behind."""
    from pathlib import Path

    from dashboard import permissions

    literals = [
        (str(path), line)
        for path in Path("templates").rglob("*.html")
        for line in path.read_text().splitlines()
        if re.search(r"can\(\s*['\"]", line)
    ]
    assert literals == []
    used = {name for path in Path("templates").rglob("*.html") for name in re.findall(r"perm\.(\w+)", path.read_text())}
    assert used and all(isinstance(getattr(permissions, name, None), str) for name in used), used


def test_no_view_calls_another_view():
    """A route function is only ever called by Flask: views share helpers, not each other."""
    import ast
    from pathlib import Path

    routes: dict[str, set[str]] = {}
    trees = {path.stem: ast.parse(path.read_text()) for path in Path("dashboard/web").glob("*.py")}
    for module, tree in trees.items():
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and any(
                isinstance(d, ast.Call)
                and isinstance(d.func, ast.Attribute)
                and d.func.attr in ("get", "post", "route", "put", "delete")
                for d in node.decorator_list
            ):
                routes.setdefault(module, set()).add(node.name)
    calls = []
    for module, tree in trees.items():
        aliases = {
            a.asname or a.name: a.name
            for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and n.module == "dashboard.web"
            for a in n.names
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in aliases
                and node.func.attr in routes.get(aliases[node.func.value.id], set())
            ):
                calls.append(f"{module} calls {aliases[node.func.value.id]}.{node.func.attr}")
    assert routes and calls == []


def test_one_home_for_the_rq_time_format():
    """Only vocabulary.py spells a strftime format of RQ's timestamps (there were ten spellings)."""
    from pathlib import Path

    spelled = [
        str(path)
        for root in ("dashboard", "tasks")
        for path in Path(root).rglob("*.py")
        if "%Y-%m-%dT" in path.read_text() and path.name != "vocabulary.py"
    ]
    assert spelled == []


@pytest.mark.parametrize("name", ["default", "high.priority:v2", "a-b_c", "bad name", "队列", "", "x" * 101, "q;rm"])
def test_one_queue_name_rule_everywhere(name):
    """The move target, enqueue, schedules and @task all apply vocabulary's rule: they agree on every name."""
    from dashboard.rqlayer import actions
    from dashboard.rqlayer.errors import InvalidInput
    from tasks.registry import _check_options

    expected = vocabulary.valid_queue_name(name)
    try:
        actions.validate_queue_name(name)
        by_actions = True
    except InvalidInput:
        by_actions = False
    try:
        _check_options("t", name, 60, 0, (), 60)
        by_tasks = True
    except TypeError:
        by_tasks = False
    assert by_actions == by_tasks == expected, (by_actions, by_tasks, expected)


def test_pages_show_only_what_the_installation_offers(app, client, conn):
    """Concurrency limits appear on the overview when RQ reports them; an RQ without them shows none."""
    import dataclasses

    from rq.rate_limit import RateLimit

    queue = Queue("default", connection=conn)
    for _ in range(3):
        queue.enqueue("tests.jobfuncs.add", 1, 1, rate_limit=RateLimit("smtp", 1))
    html = client.get("/").get_data(as_text=True)
    assert 'id="rate-limits"' in html and "state-rate_limited" in html

    console = app.extensions["console"]
    console.capabilities = dataclasses.replace(console.capabilities, concurrency_limits=False)
    html = client.get("/").get_data(as_text=True)
    assert 'id="rate-limits"' not in html and "state-rate_limited" not in html


def test_views_reach_the_layer_only_through_the_front_door():
    """No view passes the decode policy by hand or takes the raw connection (sign-in throttling aside:
    it is the console's own data, not RQ's)."""
    from pathlib import Path

    offenders = []
    for path in Path("dashboard/web").glob("*.py"):
        source = path.read_text()
        if re.search(r"\bunsafe\s*=|unsafe_unpickle", source):
            offenders.append(f"{path}: decode policy by hand")
        if "get_redis" in source and path.name != "auth.py":
            offenders.append(f"{path}: raw Redis connection")
    assert offenders == []
