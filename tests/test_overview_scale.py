"""The overview at scale (issue 16): 1,000 queues and 500 workers make a bounded poll.

Idle queues collapse into one "N idle queues" line with a name filter and a list of their own, the busy
queues show busiest first, workers are counted by state with a bounded page of rows, and an unchanged poll
is a 304 (an ETag per user and session). benchmarks/overview_scale.py times the same site.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from rq import Queue, Worker

from dashboard.rqlayer import keys
from dashboard.rqlayer.overview_page import BANNER_ROWS, QUEUE_ROWS, WORKER_ROWS

BUSY_QUEUES = ("high", "default", "low") + tuple(f"busy-{n:03d}" for n in range(47))
IDLE_QUEUES = tuple(f"idle-{n:04d}" for n in range(950))
POLL = {"HX-Request": "true", "X-Console-Poll": "1"}


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def plant_scale(conn, workers: int = 500) -> None:
    """1,000 queues as RQ leaves them: 50 busy (queued, started, failed and finished jobs, workers on
    them) and 950 idle (a few finished jobs, or none left); `workers` real RQ workers registered with
    register_birth, a fifth of them busy. Job and registry writes go in pipelines of one queue each."""
    now = datetime.now(UTC)
    expires = int(now.timestamp()) + 3600
    pipe = conn.pipeline(transaction=False)
    for index, name in enumerate(BUSY_QUEUES + IDLE_QUEUES):
        busy = index < len(BUSY_QUEUES)
        pipe.sadd(keys.queues(), keys.queue(name))
        finished = 10 if busy else index % 4  # idle: 0-3 finished jobs kept
        for n in range(finished):
            job_id = f"{name}-done-{n}"
            pipe.hset(keys.job(job_id), mapping={"status": "finished", "origin": name, "ended_at": _stamp(now)})
            pipe.zadd(keys.registry("finished", name), {job_id: expires})
        if not busy:
            continue
        for n in range(20 + index % 7 * 30):
            job_id = f"{name}-queued-{n}"
            pipe.hset(
                keys.job(job_id),
                mapping={"status": "queued", "origin": name, "enqueued_at": _stamp(now - timedelta(seconds=90 - n))},
            )
            pipe.rpush(keys.queue(name), job_id)
        for n in range(2):
            pipe.zadd(keys.registry("started", name), {f"{name}-started-{n}:exec-{n}": expires})
        for n in range(index % 5 * 3):
            job_id = f"{name}-failed-{n}"
            pipe.hset(keys.job(job_id), mapping={"status": "failed", "origin": name})
            pipe.zadd(keys.registry("failed", name), {job_id: expires})
        pipe.execute()
    pipe.execute()
    queues = [Queue(name, connection=conn) for name in BUSY_QUEUES]
    for n in range(workers):
        worker = Worker([queues[n % len(queues)], queues[1]], name=f"worker-{n:03d}", connection=conn)
        worker.register_birth()
        worker.set_state("busy" if n % 5 == 0 else "idle")
        worker.heartbeat()


@pytest.fixture
def pinned_minute(monkeypatch):
    """The validator's minute, pinned: a test's polls never straddle a minute boundary."""
    from dashboard.web import conditional

    monkeypatch.setattr(conditional, "clock", lambda: 1_800_000_000.0)
    return conditional


@pytest.fixture
def site(conn):
    plant_scale(conn)
    return conn


def _rows(html: str, kind: str) -> list[str]:
    return re.findall(rf'<tr data-{kind}="([^"]+)"', html)


def _poll(client, url: str = "/", **headers):
    return client.get(url, headers={**POLL, **headers})


def test_the_poll_at_1000_queues_and_500_workers_is_bounded_and_collapses_the_idle_queues(site, client):
    answer = _poll(client)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert len(answer.data) < 100_000, f"{len(answer.data)} bytes"
    queues = _rows(html, "queue")
    assert len(queues) == len(BUSY_QUEUES) == QUEUE_ROWS
    assert set(queues) == set(BUSY_QUEUES)  # every busy queue shown, no idle one
    assert queues[0] == "busy-046" or "queued" in html  # busiest first: the longest backlog leads
    assert re.search(r"<strong>950 idle queues</strong>", html)
    assert 'href="/?show=idle#queues"' in html
    # The totals still count every queue, idle ones included.
    finished = sum(index % 4 for index in range(len(BUSY_QUEUES), 1000)) + 10 * len(BUSY_QUEUES)
    assert re.search(rf'data-total="finished">{finished:,}<', html)

    workers = _rows(html, "worker")
    assert len(workers) == WORKER_ROWS
    assert 'data-worker-state="busy">100 busy' in html and 'data-worker-state="idle">400 idle' in html
    assert 'Workers <span class="muted">(500)</span>' in html
    assert 'rel="next"' in html and "?wpage=2#workers-heading" in html

    page = client.get("/")  # the full page carries the same bounded fragment
    assert page.status_code == 200 and len(page.data) < 120_000


def test_the_busiest_queues_come_first_and_an_unattended_one_is_never_collapsed(site, client):
    site.rpush(keys.queue("idle-0500"), "orphan-1", "orphan-2")  # jobs, and nobody listens
    for n in range(100):
        site.rpush(keys.queue("busy-010"), f"extra-{n}")
    html = _poll(client).get_data(as_text=True)
    queues = _rows(html, "queue")
    assert queues[0] == "idle-0500", "a queue nobody serves leads"
    assert queues[1] == "busy-010", "then the longest backlog"
    assert "<strong>949 idle queues</strong>" in html
    assert len(queues) == QUEUE_ROWS  # 51 busy now: the 51st is on page 2
    assert "Showing the 51 busy queues (busiest first) of 1,000." in html
    second = _poll(client, "/?page=2").get_data(as_text=True)
    assert len(_rows(second, "queue")) == 1


def test_the_filter_and_the_idle_list_find_an_idle_queue(site, client):
    html = _poll(client, "/?q=IDLE-012").get_data(as_text=True)
    assert _rows(html, "queue") == [f"idle-{n:04d}" for n in range(120, 130)]
    assert "10 of 1,000 queues match “IDLE-012”." in html
    assert 'value="IDLE-012"' in html

    idle = _poll(client, "/?show=idle&page=3").get_data(as_text=True)
    assert _rows(idle, "queue") == [f"idle-{n:04d}" for n in range(100, 150)]
    assert "Idle queues: 950 of 1,000." in idle
    assert "page 3 of 19" in idle
    # The region polls the address it shows: the filter and page survive every refresh.
    page = client.get("/?show=idle&page=3").get_data(as_text=True)
    assert 'hx-get="/?show=idle&amp;page=3"' in page


@pytest.mark.parametrize(
    "query", ["page=0", "page=x", "wpage=-1", "show=everything", "q=" + "x" * 201], ids=lambda q: q[:14]
)
def test_bad_overview_arguments_are_a_400_with_a_message(site, client, query):
    answer = client.get(f"/?{query}")
    assert answer.status_code == 400
    assert re.search(r"must be|at most", answer.get_data(as_text=True))


def test_workers_pages_list_every_worker_once(site, client):
    seen = []
    for number in range(1, 500 // WORKER_ROWS + 1):
        seen += _rows(_poll(client, f"/?wpage={number}").get_data(as_text=True), "worker")
    assert sorted(seen) == [f"worker-{n:03d}" for n in range(500)]
    assert seen[: 500 // 5] == sorted(f"worker-{n:03d}" for n in range(0, 500, 5)), "busy workers first"


def test_stale_workers_and_unattended_queues_get_a_bounded_number_of_banners(site, client):
    for n in range(1, 21):
        site.hset(keys.worker(f"worker-{n:03d}"), "last_heartbeat", "2020-01-01T00:00:00.000000Z")
    for n in range(12):
        site.rpush(keys.queue(f"idle-{n:04d}"), "orphan")
    html = _poll(client).get_data(as_text=True)
    assert html.count("has not sent a heartbeat for") == BANNER_ROWS
    assert "And 15 more stale or gone workers" in html
    assert html.count("but no worker listens on it.") == BANNER_ROWS
    assert "And 7 more queues with jobs but no worker" in html
    assert 'data-worker-state="stale">20 stale' in html
    assert set(_rows(html, "worker")[:20]) == {f"worker-{n:03d}" for n in range(1, 21)}, "stale workers first"


def test_an_unchanged_poll_is_a_304_and_a_change_is_a_new_etag(site, client, pinned_minute):
    first = _poll(client)
    tag = first.headers["ETag"]
    assert tag.startswith('W/"')
    assert first.headers["Cache-Control"] == "private, no-cache"
    assert {"HX-Request", "X-Console-Poll", "Cookie"} <= set(first.headers["Vary"].replace(" ", "").split(","))

    again = _poll(client, **{"If-None-Match": tag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == tag

    site.rpush(keys.queue("busy-003"), "one-more")  # a worker's kind of change: no console action
    changed = _poll(client, **{"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["ETag"] != tag
    assert _poll(client, **{"If-None-Match": changed.headers["ETag"]}).status_code == 304
    # A minute later the kept body is replaced even when only its volatile parts (memory, uptime) moved.
    pinned_minute.clock = lambda: 1_800_000_000.0 + pinned_minute.STALEST_SECONDS
    assert _poll(client, **{"If-None-Match": changed.headers["ETag"]}).status_code == 200

    # Pages that are not polls keep no-store and get no validator.
    page = client.get("/", headers={"If-None-Match": tag})
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store" and "ETag" not in page.headers


def test_another_user_or_session_never_matches_an_etag(site, client, client_as, pinned_minute):
    tag = _poll(client).headers["ETag"]
    assert _poll(client, **{"If-None-Match": tag}).status_code == 304
    for other in (client_as("operator"), client_as("viewer"), client_as("admin")):  # the last: a new session
        answer = _poll(other, **{"If-None-Match": tag})
        assert answer.status_code == 200 and answer.headers["ETag"] != tag


def test_other_polled_fragments_revalidate_too(site, client, pinned_minute):
    tabs = "/queues/default/queued/tabs"
    first = _poll(client, tabs)
    assert first.status_code == 200 and first.headers["Cache-Control"] == "private, no-cache"
    assert _poll(client, tabs, **{"If-None-Match": first.headers["ETag"]}).status_code == 304
