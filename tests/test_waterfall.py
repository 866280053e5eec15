"""The waterfall of a dependency chain and of an RQ 3 group (rqlayer/waterfall.py, web/waterfall.py):
every related job once, in enqueue order, its wait and run on one axis, drawn as SVG widths."""

from __future__ import annotations

import re

from rq import Queue
from rq.group import Group

from dashboard.rqlayer import waterfall
from tests.helpers import work_in_process


def test_a_chain_both_ways_and_a_group(conn, client_as):
    queue = Queue("flow", connection=conn)
    first = queue.enqueue("tests.jobfuncs.sleep_for", 0.05)
    second = queue.enqueue("tests.jobfuncs.sleep_for", 0.05, depends_on=first)
    third = queue.enqueue("tests.jobfuncs.add", 1, 2, depends_on=second)
    alone = queue.enqueue("tests.jobfuncs.add", 3, 4)
    group = Group.create(connection=conn)
    members = group.enqueue_many(queue, [Queue.prepare_data("tests.jobfuncs.add", (n, 1)) for n in range(3)])
    work_in_process(conn, ["flow"])

    chart = waterfall.read(conn, third.id)  # from its last job: RQ dropped the children sets once enqueued
    assert [b.row.id for b in chart.bars] == [first.id, second.id, third.id]
    pending = queue.enqueue("tests.jobfuncs.add", 5, 6, depends_on=queue.enqueue("tests.jobfuncs.add", 1, 1))
    assert len(waterfall.read(conn, pending.dependency_ids[0]).bars) == 2  # a child RQ still lists
    assert pending.is_deferred
    bars = {b.row.id: b for b in chart.bars}
    assert bars[first.id].start == 0 and all(b.run_seconds is not None and b.run_seconds >= 0 for b in chart.bars)
    one, two = bars[first.id], bars[second.id]
    assert two.run_seconds >= 0.05 and two.start >= one.start + one.wait + one.run - 1  # queued once its parent ended
    assert all(0 <= b.start and b.start + b.wait + b.run <= 100.001 for b in chart.bars)
    assert {b.row.id for b in waterfall.read(conn, members[1].id).bars} == {m.id for m in members}
    assert [b.row.id for b in waterfall.read(conn, alone.id).bars] == [alone.id]

    viewer = client_as("viewer")
    page = viewer.get(f"/jobs/{second.id}").get_data(as_text=True)
    assert f"/jobs/{second.id}/waterfall" in page
    assert "waterfall-slot" not in viewer.get(f"/jobs/{alone.id}").get_data(as_text=True)
    fragment = viewer.get(f"/jobs/{third.id}/waterfall", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.count('<svg class="wf-bar"') == 3 and "<html" not in fragment and "style=" not in fragment
    assert all(0 <= float(w) <= 100.001 for w in re.findall(r'width="([0-9.]+)"', fragment) if w != "10")
    assert viewer.get(f"/jobs/{third.id}/waterfall").status_code == 200  # the full page too
    assert viewer.get("/jobs/nosuchjob/waterfall").status_code == 404
