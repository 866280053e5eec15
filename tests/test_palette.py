"""The command palette's endpoint (/palette) and the jump box's suggestions (/palette?for=jump): what the
typed text names — queues, tasks, pages, jobs by full id or id prefix — bounded, escaped, by permission."""

from __future__ import annotations

import re

from rq import Queue

from dashboard.rqlayer import keys
from dashboard.web.palette import MAX_QUERY, PER_KIND
from tests.fixtures import plant_raw
from tests.helpers import build_app, make_env


def options(html: str) -> list[tuple[str, str]]:
    """(data-href, option text) of each option, in order."""
    found = re.findall(r'<div role="option"[^>]*data-href="([^"]*)"[^>]*>(.*?)</div>', html, re.S)
    return [(href, re.sub(r"<[^>]+>|\s+", " ", body).strip()) for href, body in found]


def hrefs(response) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return [href for href, _ in options(response.get_data(as_text=True))]


def test_queue_by_part_of_its_name_starting_ones_first(conn, client):
    plant_raw(conn, "bulk-emails", "queued", 1, prefix="a")
    plant_raw(conn, "emails", "queued", 1, prefix="b")
    plant_raw(conn, "reports", "queued", 1, prefix="c")
    found = hrefs(client.get("/palette?q=MAIL"))
    assert "/queues/emails/queued" in found and "/queues/bulk-emails/queued" in found
    assert "/queues/reports/queued" not in found
    found = hrefs(client.get("/palette?q=em"))
    assert found.index("/queues/emails/queued") < found.index("/queues/bulk-emails/queued")


def test_queues_are_capped_and_the_rest_counted(conn, client):
    pipe = conn.pipeline()
    for n in range(PER_KIND + 5):
        pipe.sadd(keys.queues(), keys.queue(f"shard-{n:02d}"))
    pipe.execute()
    response = client.get("/palette?q=shard")
    assert len([h for h in hrefs(response) if h.startswith("/queues/")]) == PER_KIND
    assert f"{PER_KIND + 5} queues match" in response.get_data(as_text=True)


def test_tasks_and_pages_for_an_admin(client):
    found = hrefs(client.get("/palette?q=report"))
    assert "/enqueue/tasks.reports.generate_sales_report" in found
    assert hrefs(client.get("/palette?q=users")) == ["/admin/users"]
    everything = hrefs(client.get("/palette?q="))
    assert {"/", "/failed", "/schedules", "/enqueue", "/admin/audit", "/admin/users"} <= set(everything)


def test_viewer_sees_no_tasks_and_only_its_pages(conn, client_as):
    viewer = client_as("viewer")
    found = hrefs(viewer.get("/palette?q="))
    assert {"/", "/failed", "/schedules"} <= set(found)
    assert not {"/enqueue", "/admin/audit", "/admin/users"} & set(found)
    assert not [h for h in hrefs(viewer.get("/palette?q=report")) if h.startswith("/enqueue")]
    operator = client_as("operator")
    assert "/enqueue" in hrefs(operator.get("/palette?q=enq"))
    assert "/admin/users" not in hrefs(operator.get("/palette?q=users"))


def test_exact_job_id_and_the_prefix_the_tables_show(conn, client):
    queue = Queue("default", connection=conn)
    job = queue.enqueue("tests.jobfuncs.add", 1, 2)
    other = queue.enqueue("tests.jobfuncs.add", 3, 4)
    html = client.get(f"/palette?q={job.id}").get_data(as_text=True)
    assert [h for h, _ in options(html) if h.startswith("/jobs/")] == [f"/jobs/{job.id}"]
    assert "tests.jobfuncs.add" in html and "queued" in html
    assert hrefs(client.get(f"/palette?q={job.id[:8]}"))[0] == f"/jobs/{job.id}"
    assert f"/jobs/{other.id}" not in hrefs(client.get(f"/palette?q={job.id[:8]}"))
    # The jump box's list: the same job matches, nothing else.
    assert hrefs(client.get(f"/palette?for=jump&q={job.id[:8]}")) == [f"/jobs/{job.id}"]
    assert hrefs(client.get("/palette?for=jump&q=default")) == []


def test_several_prefix_matches_capped_with_a_note(conn, client):
    plant_raw(conn, "default", "failed", PER_KIND + 3, prefix="samestart")
    response = client.get("/palette?for=jump&q=samest")
    assert len(hrefs(response)) == PER_KIND
    assert "More jobs match" in response.get_data(as_text=True)
    none = client.get("/palette?for=jump&q=zzzzzz").get_data(as_text=True)
    assert "No job id starts with" in none and options(none) == []
    short = client.get("/palette?for=jump&q=sam").get_data(as_text=True)
    assert "at least 4 characters" in short and options(short) == []


def test_hostile_queue_name_and_job_id_are_escaped(conn, client):
    evil = '<img src=x onerror="alert(1)">'
    conn.sadd(keys.queues(), keys.queue(evil))
    job_id = "evil-<b>bold</b>"
    conn.hset(keys.job(job_id), mapping={"status": "queued", "origin": evil, "description": "<script>x</script>"})
    conn.rpush(keys.queue(evil), job_id)
    body = client.get("/palette?q=img").get_data(as_text=True)
    assert "<img" not in body and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in body
    # Not a valid job id (it has < and >): never searched, never echoed raw.
    body = client.get("/palette?q=" + "evil-%3Cb%3Ebold").get_data(as_text=True)
    assert "<b>" not in body and "<script>" not in body


def test_job_function_shown_but_no_values_for_a_viewer_who_may_not_see_them(redis_url, sqlite_url, data_dir, conn):
    from dashboard import accounts

    app = build_app(make_env(redis_url, sqlite_url, data_dir, HIDE_JOB_VALUES_FROM_VIEWERS="true"))
    with app.app_context():
        session_id = accounts.create_user("v-pal", "long-enough-pw", "viewer").get_id()
    job = Queue("default", connection=conn).enqueue("tests.jobfuncs.add", "s3cr3t-value", 1, description="s3cr3t-desc")
    viewer = app.test_client()
    with viewer.session_transaction() as session:
        session["_user_id"] = session_id
    body = viewer.get(f"/palette?q={job.id[:8]}").get_data(as_text=True)
    assert f"/jobs/{job.id}" in body and "tests.jobfuncs.add" in body
    assert "s3cr3t" not in body


def test_bad_input_is_refused_and_nothing_changes(conn, client, anon_client):
    Queue("default", connection=conn).enqueue("tests.jobfuncs.add", 1, 2)
    before = {key: conn.type(key) for key in conn.keys("*")}
    assert client.get("/palette?q=" + "a" * (MAX_QUERY + 1)).status_code == 400
    assert client.get("/palette?for=everything&q=a").status_code == 400
    assert client.get("/palette?q=%0d%0a:dependents").status_code == 200
    for q in ("", "def", "default", "samestart", "a" * MAX_QUERY):
        assert client.get(f"/palette?q={q}").status_code == 200
    assert {key: conn.type(key) for key in conn.keys("*")} == before
    response = anon_client.get("/palette?q=default")
    assert response.status_code in (302, 401) and "/login" in response.headers.get("Location", "/login")
