"""Failure groups on /failed: exact ("is") against containing filters for the list, the count and the
retry; "retry this group (N)" retries exactly the N jobs of that group, and nothing when the group
changed between the page and the click; who may retry; malformed filters."""

from __future__ import annotations

import re
import zlib
from datetime import UTC, datetime, timedelta

from rq import Queue

from dashboard.rqlayer import failures, keys, search
from tests.fixtures import FMT, plant_failed, plant_raw
from tests.helpers import csrf_token, post, wait_for_operation, wait_until, work_in_process


def _tb(exc_line: str) -> bytes:
    return zlib.compress(f'Traceback (most recent call last):\n  File "x.py", line 1, in f\n{exc_line}'.encode())


def plant_groups(conn) -> dict[str, list[str]]:
    """ValueError × a.b (3), MyValueError × a.bc (2), ValueError × a.bc (1), all failed a minute ago."""
    ended = (datetime.now(UTC) - timedelta(minutes=1)).strftime(FMT)
    return {
        "vb": plant_raw(
            conn, "default", "failed", 3, prefix="vb", func="a.b", exc_info=_tb("ValueError: bad"), ended_at=ended
        ),
        "mv": plant_raw(
            conn, "default", "failed", 2, prefix="mv", func="a.bc", exc_info=_tb("MyValueError: worse"), ended_at=ended
        ),
        "vc": plant_raw(
            conn, "low", "failed", 1, prefix="vc", func="a.bc", exc_info=_tb("ValueError: bad"), ended_at=ended
        ),
    }


def _shown_ids(html: str) -> set[str]:
    return set(re.findall(r'<tr data-job="([^"]+)"', html))


def _whole_list(client, url: str) -> str:
    """The filtered list as the browser ends up showing it: the page, then each continuation the scan asks
    for (the page fills itself in bounded steps)."""
    html = client.get(url).get_data(as_text=True)
    shown = html
    while match := re.search(r'hx-get="(/failed\?[^"]*fragment=scan[^"]*)"', shown):
        shown = client.get(match.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"}).get_data(as_text=True)
        html += shown
    return html


def _count(html: str) -> tuple[int, bool]:
    match = re.search(r'id="failed-count" class="match-count" data-count="(\d+)"( data-exact="true")?', html)
    assert match, "no match count on the page"
    return int(match.group(1)), bool(match.group(2))


def test_exact_and_containing_filters_differ_for_list_and_count(client, conn):
    planted = plant_groups(conn)
    cases = {
        "exc=ValueError&exc_match=is": planted["vb"] + planted["vc"],
        "exc=ValueError": planted["vb"] + planted["mv"] + planted["vc"],  # contains: MyValueError too
        "exc=valueerror&exc_match=is": [],  # exact is exact: case counts
        "func=a.b&func_match=is": planted["vb"],
        "func=a.b&func_match=contains": planted["vb"] + planted["mv"] + planted["vc"],
        "func=a.bc&func_match=is&exc=ValueError&exc_match=is": planted["vc"],
    }
    for query, expected in cases.items():
        html = _whole_list(client, f"/failed?window=all&{query}")
        assert _shown_ids(html) == set(expected), query
        assert _count(html) == (len(expected), True), query
    html = client.get("/failed?window=all&exc=ValueError&exc_match=is").get_data(as_text=True)
    assert "Failed jobs where exception is &#39;ValueError&#39;" in html and 'id="clear-filter"' in html
    empty = client.get("/failed?window=all&exc=valueerror&exc_match=is").get_data(as_text=True)
    assert 'id="no-matches"' in empty and "Clear the filter" in empty

    # The layer's count agrees with the list, for the same filter.
    exact = search.JobFilter(exc="ValueError", exc_match="is")
    assert failures.count_failed(conn, exact).matched == 4
    assert failures.count_failed(conn, search.JobFilter(exc="ValueError")).matched == 6


def test_counting_continues_from_a_cursor_and_says_when_it_is_partial(client, conn):
    plant_raw(conn, "default", "failed", 1200, prefix="other", func="a.other", exc_info=_tb("KeyError: k"))
    plant_groups(conn)
    first = failures.count_failed(conn, search.JobFilter(func="a.b", func_match="is"), budget_seconds=0)
    assert not first.done and first.scanned == 500  # one chunk, then the budget stopped it
    fragment = client.get(
        f"/failed/count?window=all&func=a.b&func_match=is&cursor={first.next_cursor}&found={first.matched}&scanned=500",
        headers={"HX-Request": "true"},
    ).get_data(as_text=True)
    assert 'data-count="3" data-exact="true"' in fragment and "3 matches" in fragment
    # The first page of a filtered list fills itself from the cursor; its own scan is exact when it ends.
    html = _whole_list(client, "/failed?window=all&func=a.b&func_match=is")
    assert len(_shown_ids(html)) == 3 and "no more matches" in html


def test_group_links_filter_exactly_by_the_group(client, conn):
    plant_groups(conn)
    html = client.get("/failed/groups?window=all").get_data(as_text=True)
    links = dict(re.findall(r'<a class="group-link" href="([^"]+)"[^>]*>([^<]+)</a>', html))
    by_key = {key: href.replace("&amp;", "&") for href, key in links.items()}
    assert set(by_key) == {"ValueError", "MyValueError", "a.b", "a.bc"}
    for key, expected in (("ValueError", 4), ("MyValueError", 2), ("a.b", 3), ("a.bc", 3)):
        listed = client.get(by_key[key]).get_data(as_text=True)
        assert _count(listed) == (expected, True), key
        assert f"Retry this group ({expected})" in html
    assert "exc_match=is" in by_key["ValueError"] and "func_match=is" in by_key["a.b"]


def test_retry_group_retries_exactly_that_group_and_the_number_shown(client, conn, app):
    planted = plant_groups(conn)
    groups = client.get("/failed/groups?window=all").get_data(as_text=True)
    shown = int(re.search(r"Retry this group \((\d+)\)", groups.split('data-group="ValueError"')[1]).group(1))
    assert shown == 4
    response = post(client, "/failed/retry", window="all", exc="ValueError", exc_match="is", expected=str(shown))
    op_id = wait_for_operation(client, response)
    progress = client.get(f"/bulk/{op_id}").get_data(as_text=True)
    assert "Finished: 4 jobs retried" in progress
    for job_id in planted["vb"] + planted["vc"]:
        assert conn.hget(keys.job(job_id), "status") == b"queued", job_id
    for job_id in planted["mv"]:  # MyValueError is another group
        assert conn.hget(keys.job(job_id), "status") == b"failed"
        assert conn.zscore(keys.registry("failed", "default"), job_id) is not None
    from dashboard.models import AuditEvent

    def ended():
        with app.app_context():
            return AuditEvent.query.filter_by(action="bulk.retry", outcome="done").first()

    event = wait_until(ended, message="the retry audited")
    assert event.job_count == 4 and "exception is 'ValueError'" in event.detail and "(at most 4)" in event.detail


def test_a_job_leaving_the_group_after_the_page_is_not_retried(client, conn):
    planted = plant_groups(conn)
    confirm = client.get("/failed/retry?window=all&exc=ValueError&exc_match=is").get_data(as_text=True)
    assert 'name="expected" value="4"' in confirm and "Retry 4 failed jobs where exception is" in confirm
    leaver = planted["vb"][0]
    conn.hset(keys.job(leaver), "exc_info", _tb("MyValueError: now another error"))  # it left the group
    refused = post(client, "/failed/retry", window="all", exc="ValueError", exc_match="is", expected="4")
    assert refused.status_code == 409
    body = refused.get_data(as_text=True)
    assert "Nothing was retried" in body and 'name="expected" value="3"' in body
    assert all(conn.hget(keys.job(j), "status") == b"failed" for ids in planted.values() for j in ids)
    op_id = wait_for_operation(
        client, post(client, "/failed/retry", window="all", exc="ValueError", exc_match="is", expected="3")
    )
    assert "Finished: 3 jobs retried" in client.get(f"/bulk/{op_id}").get_data(as_text=True)
    assert conn.hget(keys.job(leaver), "status") == b"failed"
    assert conn.zscore(keys.registry("failed", "default"), leaver) is not None


def test_a_retry_never_takes_more_than_the_confirmed_number(conn):
    from dashboard.rqlayer import bulk

    plant_groups(conn)
    selection = bulk.Selection(state="failed", job_filter=search.JobFilter(exc="ValueError", exc_match="is"), limit=2)
    op = bulk.create(conn, "retry", selection, {}, actor="test")
    assert op.total == 2
    done = bulk.run(conn, op.id, "retry", selection, {})
    assert done.succeeded == 2
    assert failures.count_failed(conn, search.JobFilter(exc="ValueError", exc_match="is")).matched == 2


def test_groups_from_a_bounded_sample_count_before_they_offer_a_number(client, conn):
    plant_raw(conn, "default", "failed", 10_050, prefix="bulk", func="a.many", exc_info=_tb("OSError: disk"))
    html = client.get("/failed/groups?window=all").get_data(as_text=True)
    assert "Grouped the newest" in html and "Retry this group (" not in html
    assert "count first" in html
    confirm = client.get("/failed/retry?window=all&exc=OSError&exc_match=is").get_data(as_text=True)
    assert 'name="expected" value="10050"' in confirm and "Retry this group (10,050)" in confirm


def test_real_worker_failures_group_and_filter_by_their_exception(client, conn):
    queue = Queue("default", connection=conn)
    ids = [queue.enqueue("tests.jobfuncs.fail", f"boom {n}").id for n in range(3)]
    work_in_process(conn, ["default"])
    wait_until(lambda: all(conn.hget(keys.job(i), "status") == b"failed" for i in ids), message="jobs failed")
    groups = client.get("/failed/groups?window=hour").get_data(as_text=True)
    assert 'data-group="RuntimeError"' in groups and 'data-group="tests.jobfuncs.fail"' in groups
    listed = client.get("/failed?window=hour&exc=RuntimeError&exc_match=is").get_data(as_text=True)
    assert _shown_ids(listed) == set(ids) and _count(listed) == (3, True)
    assert "Retry all matching (3)" in listed


def test_viewer_cannot_retry_a_group(client_as, conn):
    planted = plant_groups(conn)
    viewer = client_as("viewer")
    assert "Retry this group" not in viewer.get("/failed/groups?window=all").get_data(as_text=True)
    response = viewer.post(
        "/failed/retry",
        data={"window": "all", "exc": "ValueError", "exc_match": "is", "expected": "4"},
        headers={"X-CSRFToken": csrf_token(viewer)},
    )
    assert response.status_code == 403
    assert all(conn.hget(keys.job(j), "status") == b"failed" for ids in planted.values() for j in ids)


def test_malformed_filters_are_400(client, conn):
    plant_groups(conn)
    for url in (
        "/failed?exc=ValueError&exc_match=exactly",
        "/failed?func=a.b&func_match=",  # empty is the default (contains): fine, checked below
        "/failed/count?window=all&exc=x&exc_match=IS",
        "/failed/retry?window=all&exc=x&exc_match=nope",
        "/queues/default/failed?func=a&func_match=regex",
        "/failed?exc=x&window=year",
        "/failed/count?window=all&exc=x&found=-1",
    ):
        expected = 200 if "func_match=&" in url + "&" else 400
        assert client.get(url).status_code == expected, url
    bad = post(client, "/failed/retry", window="all", exc="ValueError", exc_match="sort-of", expected="4")
    assert bad.status_code == 400
    assert post(client, "/failed/retry", window="all", exc="ValueError", expected="four").status_code == 400
    assert post(client, "/failed/retry-all", exc="ValueError", exc_match="nearly").status_code == 400


def test_queue_page_filters_match_exactly_or_contain(client, conn):
    plant_groups(conn)
    exact = client.get(
        "/queues/default/failed?func=a.b&func_match=is&fragment=scan", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    contains = client.get("/queues/default/failed?func=a.b&fragment=scan", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "3 matches" in exact and "5 matches" in contains
    page = client.get("/queues/default/failed?func=a.b&func_match=is").get_data(as_text=True)
    assert '<option value="is" selected' in page
    assert 'name="func_match" value="is"' in page  # the bulk form carries the mode
    op_id = wait_for_operation(
        client, post(client, "/queues/default/failed/bulk", action="retry", all="1", func="a.b", func_match="is")
    )
    assert "Finished: 3 jobs retried" in client.get(f"/bulk/{op_id}").get_data(as_text=True)


def test_the_api_filters_exactly_too(client, conn, app):
    from dashboard import accounts

    plant_groups(conn)
    with app.app_context():
        _, secret = accounts.create_token("reader", "viewer")
    auth = {"Authorization": f"Bearer {secret}"}
    exact = client.get("/api/v1/queues/default/jobs/failed?func=a.b&func_match=is", headers=auth).json
    assert sorted(job["id"] for job in exact["jobs"]) == ["vb0000000", "vb0000001", "vb0000002"]
    assert exact["filter"] == {"func": "a.b", "func_match": "is"}
    assert len(client.get("/api/v1/queues/default/jobs/failed?func=a.b", headers=auth).json["jobs"]) == 5
    assert client.get("/api/v1/queues/default/jobs/failed?func=a.b&func_match=like", headers=auth).status_code == 400


def test_groups_without_a_traceback_or_a_function_name_filter_exactly_too(client, conn):
    plant_groups(conn)
    plant_failed(conn, 4, prefix="notb")  # written without exc_info: the "(no traceback)" group
    plant_raw(conn, "default", "failed", 2, prefix="nofunc", func="", description="", exc_info=_tb("OSError: x"))
    html = client.get("/failed/groups?window=all").get_data(as_text=True)
    assert "Retry this group (4)" in html.split(f'data-group="{search.NO_TRACEBACK}"')[1].split("</tr>")[0]
    assert "Retry this group (2)" in html.split(f'data-group="{search.UNKNOWN_FUNCTION}"')[1].split("</tr>")[0]
    listed = _whole_list(client, "/failed?window=all&exc=%28no+traceback%29&exc_match=is")
    assert _shown_ids(listed) == {f"notb{n:06d}" for n in range(4)} and _count(listed) == (4, True)
    listed = _whole_list(client, "/failed?window=all&func=%28unknown%29&func_match=is")
    assert _shown_ids(listed) == {"nofunc0000000", "nofunc0000001"}
