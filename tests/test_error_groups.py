"""Error groups: groups from real failures (a real ConsoleWorker burst run, then the collector), the pages
and the API for each role, status changes (viewer 403, operator ok, audited), "Retry this group" with its
exact count through the bulk machinery, and the SQL reads (keyset pages, trends, affected) on SQLite and
PostgreSQL. One app and one set of failures for the module; the SQL reads get their own small database."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from rq import Queue

from dashboard import accounts
from dashboard.extensions import db, get_console
from dashboard.history import error_groups as groups
from dashboard.history.collector import collect_once
from dashboard.history.models import error_groups, job_outcomes, metadata
from dashboard.history.queries import BadQuery
from dashboard.models import AuditEvent
from dashboard.rqlayer.search import fingerprint_key
from tests.fixtures import ROLE_USERS, seed_users
from tests.helpers import build_app, make_env, run_burst_worker, signed_in, wait_for_operation

FORKING = "dashboard.rqlayer.telemetry.worker.ConsoleWorker"
SECRET = "s3cret-customer-value"


def session_client(app, role: str):
    return signed_in(app, ROLE_USERS[role])


def csrf(client) -> str:
    page = client.get("/errors").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


@pytest.fixture(scope="module")
def site(private_redis, tmp_path_factory):
    """Failures of two kinds from a real forking ConsoleWorker, collected into SQL: 'user N not found'
    three times (two queues, other numbers) and 'disk full' once. Redis is not flushed between this
    module's tests: they read the same failures (the retry test runs last and retries its own)."""
    import redis

    base = tmp_path_factory.mktemp("error-groups")
    app = build_app(
        make_env(private_redis.url, f"sqlite:///{base / 'console.db'}", base, HIDE_JOB_VALUES_FROM_VIEWERS="true")
    )
    seed_users(app)
    with app.app_context():
        _, app.viewer_secret = accounts.create_token("groups-viewer", "viewer")
    conn = redis.Redis.from_url(private_redis.url)
    conn.flushdb()
    default, low = Queue("default", connection=conn), Queue("low", connection=conn)
    app.user_jobs = [default.enqueue("tests.jobfuncs.fail", f"user {n} not found ({SECRET})") for n in (17, 4242)] + [
        low.enqueue("tests.jobfuncs.fail", f"user 9 not found ({SECRET})")
    ]
    app.disk_job = default.enqueue("tests.jobfuncs.fail", "disk full")
    run_burst_worker(private_redis.url, queues=("-w", FORKING, "default", "low"))
    with app.app_context():
        assert collect_once(conn, db.engine, app.config["CONSOLE"], force=True) >= 4
    with app.app_context():
        # The group of a live failed row (RQ 3 keeps the traceback in the results stream, not exc_info).
        (row,) = get_console().jobs.rows([app.user_jobs[0].id], failures=True)
        app.user_fp = fingerprint_key(row)
    app.conn = conn
    yield app
    conn.flushdb()


def test_groups_from_real_failures(site):
    with site.app_context():
        rows = db.session.execute(sa.select(error_groups).order_by(error_groups.c.count.desc())).all()
    assert [(r.exc_type, r.count, r.status) for r in rows] == [("RuntimeError", 3, "open"), ("RuntimeError", 1, "open")]
    user, disk = rows
    assert user.fingerprint == site.user_fp  # the collector's fingerprint is the live rows' one
    assert user.message == f"user <n> not found ({SECRET})"  # the normalised message

    operator = session_client(site, "operator")
    page = operator.get("/errors").get_data(as_text=True)
    assert page.count('class="error-group-row') == 2 and "user &lt;n&gt; not found" in page
    assert 'href="/errors/' + user.fingerprint + '"' in page
    assert "tests.jobfuncs.fail" in page and ">low<" in page and ">default<" in page  # functions and queues
    assert 'aria-current="page">Errors</a>' in page  # the nav entry
    for status in ("open", "regressed", "resolved", "ignored", "all"):
        assert operator.get(f"/errors?status={status}").status_code == 200
    assert operator.get("/errors?status=nope").status_code == 400
    assert operator.get("/errors?after=garbage").status_code == 400

    detail = operator.get(f"/errors/{user.fingerprint}").get_data(as_text=True)
    assert detail.count("<tr data-job=") == 3  # its live failed jobs, and none of the other group
    assert all(job.id in detail for job in site.user_jobs) and site.disk_job.id not in detail
    assert "Retry this group (3)" in detail  # the exact count: the scan reached the end
    assert f'href="/history?fingerprint={user.fingerprint}"' in detail
    assert SECRET in detail  # operators see the sample traceback whole
    assert operator.get("/errors/" + "0" * 32).status_code == 404  # not collected and nothing live
    assert operator.get("/errors/not-a-fingerprint").status_code == 404

    # The dead-letter view filters by the group too, and the job page links to its group.
    failed = operator.get(f"/failed?window=all&fingerprint={user.fingerprint}").get_data(as_text=True)
    assert failed.count("<tr data-job=") == 3
    assert operator.get("/failed?fingerprint=xyz").status_code == 400
    assert f'href="/errors/{user.fingerprint}" id="filter-error-group"' in failed
    assert 'href="/errors"' in operator.get("/failed/groups?window=all").get_data(as_text=True)
    job_page = operator.get(f"/jobs/{site.user_jobs[0].id}").get_data(as_text=True)
    assert f'href="/errors/{user.fingerprint}"' in job_page


def test_viewers_see_no_exception_text(site):
    viewer = session_client(site, "viewer")
    page = viewer.get("/errors").get_data(as_text=True)
    assert "not found" not in page and "message hidden" in page
    assert "group-resolve" not in page  # no actions for a role that may not act
    detail = viewer.get(f"/errors/{site.user_fp}").get_data(as_text=True)
    assert SECRET not in detail and "not found" not in detail
    assert "RuntimeError: (hidden)" in detail  # the traceback's skeleton
    assert detail.count("<tr data-job=") == 3  # the group's jobs are matched on the whole row for viewers too

    response = site.test_client().get(
        "/api/v1/error-groups?status=open", headers={"Authorization": f"Bearer {site.viewer_secret}"}
    )
    assert response.status_code == 200
    body = response.json
    assert body["next"] is None and len(body["groups"]) == 2
    first = body["groups"][0]
    assert set(first) >= {"fingerprint", "exc_type", "message", "count", "first_seen", "last_seen", "status"}
    assert first["message"] is None and first["functions"] == ["tests.jobfuncs.fail"]
    assert {q for g in body["groups"] for q in g["queues"]} == {"default", "low"}
    bearer = {"Authorization": f"Bearer {site.viewer_secret}"}
    assert site.test_client().get("/api/v1/error-groups?status=x", headers=bearer).status_code == 400
    assert site.test_client().get("/api/v1/error-groups").status_code == 401
    spec = site.test_client().get("/api/v1/openapi.json", headers=bearer).json
    assert "/error-groups" in spec["paths"]


def test_status_changes_roles_and_audit(site):
    fp = site.user_fp
    viewer, operator = session_client(site, "viewer"), session_client(site, "operator")
    assert viewer.post(f"/errors/{fp}/resolve", data={"csrf_token": csrf(viewer)}).status_code == 403
    token = csrf(operator)
    answer = operator.post(f"/errors/{fp}/resolve", data={"csrf_token": token}, headers={"HX-Request": "true"})
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert 'data-status="resolved"' in html and "by oscar" in html and "group-reopen" in html
    with site.app_context():
        row = db.session.execute(sa.select(error_groups).where(error_groups.c.fingerprint == fp)).one()
        assert (row.status, row.status_changed_by) == ("resolved", "oscar") and row.resolved_at is not None
        audit = db.session.execute(
            sa.select(AuditEvent).where(AuditEvent.action == "error_group.resolve", AuditEvent.target == fp)
        ).scalar_one()
        assert audit.actor == "oscar" and "open -> resolved" in audit.detail
    # The plain form: a redirect with the message.
    plain = operator.post(f"/errors/{fp}/ignore", data={"csrf_token": token, "next": "/errors?status=ignored"})
    assert plain.status_code == 303 and plain.headers["Location"].endswith("/errors?status=ignored")
    assert f'data-fingerprint="{fp}"' in operator.get("/errors?status=ignored").get_data(as_text=True)
    assert operator.post(f"/errors/{fp}/reopen", data={"csrf_token": token}).status_code == 303
    assert operator.post(f"/errors/{fp}/explode", data={"csrf_token": token}).status_code == 404
    assert operator.post(f"/errors/{'f' * 32}/resolve", data={"csrf_token": token}).status_code == 404
    assert operator.post(f"/errors/{fp}/resolve").status_code == 400  # no CSRF token
    with site.app_context():
        assert groups.get_group(db.session, fp).status == "open"


def test_retry_this_group_with_its_exact_count(site):
    fp = site.user_fp
    operator = session_client(site, "operator")
    token = csrf(operator)
    form = {"csrf_token": token, "window": "all", "fingerprint": fp}
    changed = operator.post("/failed/retry", data={**form, "expected": "2"}, headers={"HX-Request": "true"})
    assert changed.status_code == 409 and "now 3, not the 2" in changed.get_data(as_text=True)
    started = operator.post("/failed/retry", data={**form, "expected": "3"}, headers={"HX-Request": "true"})
    wait_for_operation(operator, started)
    queued = {job.id for q in ("default", "low") for job in Queue(q, connection=site.conn).get_jobs()}
    assert queued == {job.id for job in site.user_jobs}  # the group's three, not the other group's
    assert "No failed job of this group is in Redis now" in operator.get(f"/errors/{fp}").get_data(as_text=True)


# ---------------------------------------------------------------- SQL reads on both backends


@pytest.fixture
def sql(database_url):
    engine = sa.create_engine(database_url)
    metadata.create_all(engine, tables=[error_groups, job_outcomes])
    with engine.begin() as connection:
        yield connection
    engine.dispose()


def _seed(connection, now: datetime) -> list[str]:
    naive = now.astimezone(UTC).replace(tzinfo=None)
    fps = [f"{n:032x}" for n in range(5)]
    for n, fp in enumerate(fps):
        connection.execute(
            sa.insert(error_groups).values(
                fingerprint=fp, exc_type="E", message=f"m{n}", first_seen=naive - timedelta(days=3),
                last_seen=naive - timedelta(minutes=n // 2),  # ties on last_seen: the keyset breaks them
                count=10, status="ignored" if n == 4 else "open",
            )
        )  # fmt: skip
    outcomes = [
        # fingerprint 0: 2 an hour ago, 1 now, 1 five days ago (out of 24 h, in 30 d); two functions and queues
        (fps[0], naive - timedelta(hours=1), "f.a", "q1"),
        (fps[0], naive - timedelta(hours=1, minutes=1), "f.a", "q1"),
        (fps[0], naive, "f.b", "q2"),
        (fps[0], naive - timedelta(days=5), "f.a", "q1"),
        (fps[1], naive - timedelta(days=40), "f.c", "q1"),  # outside every window
    ]
    for index, (fp, ended, function, queue) in enumerate(outcomes):
        connection.execute(
            sa.insert(job_outcomes).values(
                job_id=f"j{index}",
                attempt=0,
                queue=queue,
                function=function,
                status="failed",
                ended_at=ended,
                fingerprint=fp,
            )
        )
    return fps


def test_list_trend_affected_and_status(sql):
    now = datetime.now(UTC).replace(minute=30)
    fps = _seed(sql, now)
    seen, after = [], None
    while True:
        page = groups.list_groups(sql, "all", after, size=2)
        seen += [g.fingerprint for g in page.groups]
        if page.next_cursor is None:
            break
        after = page.next_cursor
    assert seen == [fps[1], fps[0], fps[3], fps[2], fps[4]]  # last_seen desc, then fingerprint desc
    assert [g.fingerprint for g in groups.list_groups(sql, "ignored").groups] == [fps[4]]
    with pytest.raises(BadQuery):
        groups.list_groups(sql, "all", "1.nothex")

    day = groups.trends(sql, fps[:2], "24h", now=now)
    assert day[fps[0]].counts[-1] == 1 and day[fps[0]].counts[-2] == 2 and day[fps[0]].total == 3
    assert day[fps[1]].total == 0 and len(day[fps[1]].counts) == 24
    month = groups.trends(sql, [fps[0]], "30d", now=now)[fps[0]]
    assert month.total == 4 and len(month.counts) == 30

    where = groups.affected(sql, fps[:2], now - timedelta(days=30))
    assert where[fps[0]].functions == [("f.a", 3), ("f.b", 1)] and where[fps[0]].queues == [("q1", 3), ("q2", 1)]
    assert where[fps[1]] == groups.Affected([], [])
    assert groups.affected(sql, [fps[0]], now - timedelta(days=30), limit=1)[fps[0]].functions == [("f.a", 3)]
    cut = groups.affected(sql, [fps[0]], now - timedelta(days=30), sample=2)[fps[0]]  # its newest two
    assert cut.sampled and cut.functions == [("f.a", 1), ("f.b", 1)] and not where[fps[0]].sampled

    resolved = groups.set_status(sql, fps[0], "resolve", "alice", now=now)
    assert (resolved.status, resolved.status_changed_by, resolved.resolved_at) == ("resolved", "alice", now)
    assert groups.set_status(sql, fps[0], "reopen", "bob").status == "open"
    with pytest.raises(groups.GroupNotFound):
        groups.set_status(sql, "f" * 32, "resolve", "alice")
    with pytest.raises(BadQuery):
        groups.set_status(sql, fps[0], "delete", "alice")
