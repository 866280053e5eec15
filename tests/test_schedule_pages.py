"""A page per schedule: notes (name and description), definition in words, next runs, actions, and the run
history from SQL with missed runs marked — for rq-scheduler cron, interval and one-off schedules and RQ 3
`rq cron` entries. The SQL reads run on SQLite and PostgreSQL; pages on the app's SQLite."""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from dashboard.history import missed_runs, schedule_history, schedule_notes
from dashboard.history.models import job_outcomes
from dashboard.history.models import schedule_notes as notes_table
from dashboard.history.queries import OutcomeRow
from dashboard.models import AuditEvent
from dashboard.rqlayer import keys, schedules
from tasks.registry import get_task
from tests.fixtures import CLEANUP_TASK, plant_schedules
from tests.helpers import post

EVIL = '<script>alert("x")</script>'
ESCAPED = "&lt;script&gt;alert("  # how Jinja writes EVIL
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def outcome(job_id: str, fired: datetime, status: str = "finished", worker: str = "w1", **extra) -> dict:
    """An outcome row as the collector writes it: enqueued when fired, started 1 s later, 2 s of work."""
    naive = fired.astimezone(UTC).replace(tzinfo=None)
    row = {
        "job_id": job_id,
        "attempt": int(fired.timestamp() * 1000) + 1000,
        "queue": "low",
        "function": CLEANUP_TASK,
        "status": status,
        "enqueued_at": naive,
        "started_at": naive + timedelta(seconds=1),
        "ended_at": naive + timedelta(seconds=3),
        "run_us": 2_000_000,
        "worker": worker,
        "exc_type": None,  # every row has every key: an executemany takes its columns from the first
        "exc_message": None,
    }
    row.update(extra)
    return row


# ---------------------------------------------------------------- SQL side, both backends


def test_run_history_keyset_pages_and_missed_runs(engine):
    every5 = [T0 + timedelta(minutes=5 * k) for k in range(12)]  # 10:00 … 10:55
    fired = [t for t in every5 if t.minute not in (20, 25)]  # 10:20 and 10:25 missed
    with engine.begin() as conn:
        conn.execute(sa.insert(job_outcomes), [outcome("sched-1", t) for t in fired])
        conn.execute(sa.insert(job_outcomes), [outcome("other", t) for t in every5])  # never mixed in
        # Two runs ending at the same instant: the keyset must neither skip nor repeat one.
        same = T0 + timedelta(hours=2)
        conn.execute(sa.insert(job_outcomes), [outcome("tie", same, attempt=1), outcome("tie", same, attempt=2)])

    definition = missed_runs.Definition(cron="*/5 * * * *", timezone="UTC")
    now = T0 + timedelta(minutes=59)
    seen, entries, cursor = [], [], None
    with engine.connect() as conn:
        while True:
            page = schedule_history.run_page(conn, ["sched-1"], after=cursor, size=4)
            checked = missed_runs.check(page.runs, definition, upper=page.upper, now=now)
            seen += [schedule_history.fired_at(r) for r in page.runs]
            entries += checked.entries
            cursor = page.next_cursor
            if cursor is None:
                break
        ties = schedule_history.run_page(conn, ["tie"], size=1)
        rest = schedule_history.run_page(conn, ["tie"], after=ties.next_cursor, size=1)
        with pytest.raises(ValueError):
            schedule_history.run_page(conn, ["sched-1"], after="not-a-cursor")
        with pytest.raises(ValueError):
            schedule_history.run_page(conn, ["sched-1"], after="cjE6MTo")  # base64 of junk
    assert seen == sorted(fired, reverse=True), "every run once, newest first"
    missed = [e for e in entries if isinstance(e, missed_runs.Missed)]
    assert [(m.first, m.last, m.count) for m in missed] == [(every5[4], every5[5], 2)]
    assert {ties.runs[0].outcome_id, rest.runs[0].outcome_id} and ties.runs[0].outcome_id != rest.runs[0].outcome_id
    assert rest.next_cursor is None

    # A schedule that stopped firing: the first page marks the silence up to now - tolerance (counted,
    # bounded), and a paused schedule expects nothing after its pause.
    later = T0 + timedelta(days=3)
    with engine.connect() as conn:
        first = schedule_history.run_page(conn, ["sched-1"])
    silence = missed_runs.check(first.runs, definition, upper=None, now=later)
    newest = silence.entries[0]
    assert isinstance(newest, missed_runs.Missed) and newest.capped and newest.count >= missed_runs.GAP_WALK
    assert newest.last >= later - missed_runs.TOLERANCE - timedelta(minutes=5)
    paused = missed_runs.check(
        first.runs, definition, upper=None, now=later, paused_at=every5[-1] + timedelta(seconds=30)
    )
    assert not isinstance(paused.entries[0], missed_runs.Missed)


def test_interval_runs_are_anchored_on_each_run():
    def run(i: int, fired: datetime) -> OutcomeRow:
        naive = fired.replace(tzinfo=None)
        return OutcomeRow(i, "iv", "low", "f", "finished", naive, naive, naive, 0.0, 1.0, "w", None, "", "stream")

    # Every 10 min, each run 40 s late (rq-scheduler re-anchors on its enqueue time): none missed; then a
    # silence of three intervals: two missed, the third met by the late run that ends it.
    fires = [T0, T0 + timedelta(minutes=10, seconds=40), T0 + timedelta(minutes=21, seconds=20)]
    fires.append(fires[-1] + timedelta(minutes=30, seconds=40))
    runs = [run(i, t) for i, t in enumerate(fires)][::-1]
    checked = missed_runs.check(runs, missed_runs.Definition(interval=600), upper=fires[-1] + timedelta(seconds=5))
    [gap] = [e for e in checked.entries if isinstance(e, missed_runs.Missed)]
    assert gap.count == 2 and gap.first == fires[2] + timedelta(minutes=10)
    assert missed_runs.check(runs, missed_runs.Definition(), upper=None).missed_count == 0, "one-offs expect nothing"


def test_notes_upsert_clean_and_validate(engine):
    with engine.begin() as conn:
        schedule_notes.save_note(conn, "s1", "  Nightly\x00 report ", "line 1\r\nline 2", "oscar")
        schedule_notes.save_note(conn, "s2", "Other", "", "oscar")
    with engine.begin() as conn:
        schedule_notes.save_note(conn, "s1", "Nightly report v2", "line 1\nline 2", "alice")
        with pytest.raises(ValueError, match="At most 120"):
            schedule_notes.save_note(conn, "s1", "x" * 121, "", "alice")
    with engine.connect() as conn:
        note = schedule_notes.get_note(conn, "s1")
        assert (note.name, note.description, note.updated_by) == ("Nightly report v2", "line 1\nline 2", "alice")
        assert schedule_notes.get_note(conn, "nope") is None
        assert set(schedule_notes.get_notes(conn, ["s1", "s2", "s3"])) == {"s1", "s2"}
        assert conn.execute(sa.select(sa.func.count()).select_from(notes_table)).scalar() == 2
    assert schedule_notes.clean("  a\x00b\tc ", False) == "abc"
    assert set(schedule_notes.validate("x" * 121, "y" * 2001)) == {"name", "description"}


# ---------------------------------------------------------------- the pages


def _insert(app, rows) -> None:
    from dashboard.extensions import db

    with app.app_context(), db.engine.begin() as conn:
        conn.execute(sa.insert(job_outcomes), rows)


def _plant_rq_cron(conn, name: str, job_ids: list[str]) -> None:
    now = datetime.now(UTC)
    conn.zadd(keys.cron_schedulers(), {"host:42:abc": now.timestamp()})
    entry = {
        "func_name": CLEANUP_TASK,
        "name": name,
        "queue_name": "low",
        "args": None,
        "kwargs": json.dumps({"dry_run": True}),
        "interval": None,
        "cron": "0 3 * * *",
        "latest_enqueue_time": None,
        "next_enqueue_time": (now + timedelta(hours=3)).isoformat(),
    }
    conn.hset(
        keys.cron_scheduler("host:42:abc"), mapping={"hostname": "host", "pid": "42", "cron_jobs": json.dumps([entry])}
    )
    conn.zadd(keys.cron_job_history(name), {j: now.timestamp() - i for i, j in enumerate(job_ids)})


def test_schedule_pages_for_every_source(app, conn, client_as):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cron_id = plant_schedules(conn)
        interval_id = schedules.create_interval(conn, get_task(CLEANUP_TASK), {}, 900, "low")
    one_off = schedules.read_schedules(conn).one_offs[0].id
    _plant_rq_cron(conn, "nightly-cleanup", ["cronjob-1", "cronjob-2"])
    now = datetime.now(UTC)
    boundary = (now - timedelta(seconds=120)).replace(second=0, microsecond=0)
    boundary -= timedelta(minutes=boundary.minute % 5)
    fires = [boundary - timedelta(minutes=m) for m in (0, 5, 10, 20)]  # boundary - 15 min is missed
    _insert(app, [outcome("hostile-schedule", t, worker=EVIL) for t in fires])
    _insert(
        app, [outcome("cronjob-1", now - timedelta(hours=1), status="failed", exc_type="ValueError", exc_message=EVIL)]
    )
    viewer, operator = client_as("viewer"), client_as("operator")

    body = operator.get("/schedules/hostile-schedule").get_data(as_text=True)
    assert "Every 5 minutes" in body and "*/5 * * * *" in body
    assert 'id="next-runs"' in body and body.count('class="row-danger run-missed"') == 1
    assert body.count("data-outcome=") == 4 and EVIL not in body and ESCAPED in body
    assert 'data-action="pause"' in body and 'data-action="run-now"' not in body, "unregistered: no run now"

    body = operator.get(f"/schedules/{cron_id}").get_data(as_text=True)
    assert "At 08:00, Monday through Friday" in body and "Europe/Paris" in body and 'data-action="run-now"' in body
    assert 'id="runs-empty"' in body
    body = operator.get(f"/schedules/{interval_id}").get_data(as_text=True)
    assert "every 15 minutes" in body and body.count("<li><time") == 5
    body = operator.get(f"/schedules/{one_off}").get_data(as_text=True)
    assert "once" in body and 'id="next-runs"' in body
    body = operator.get("/schedules/nightly-cleanup").get_data(as_text=True)
    assert "At 03:00" in body and "rq cron" in body and "cronjob-1" in body and "ValueError" in body
    assert ESCAPED in body and 'data-action="pause"' not in body
    assert viewer.get("/schedules/nightly-cleanup").status_code == 200
    assert operator.get("/schedules/no-such-schedule").status_code == 404
    assert operator.get("/schedules/bad%0Aid").status_code == 404
    assert operator.get("/schedules/hostile-schedule?after=forged").status_code == 400

    # The list links each row to its page.
    listing = operator.get("/schedules").get_data(as_text=True)
    assert f'href="/schedules/{cron_id}"' in listing and 'href="/schedules/hostile-schedule"' in listing


def test_operators_name_and_describe_a_schedule(app, conn, client_as):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cron_id = plant_schedules(conn)
    viewer, operator = client_as("viewer"), client_as("operator")
    url = f"/schedules/{cron_id}/note"

    refused = post(viewer, url, name="Nope", description="")
    assert refused.status_code == 403
    too_long = post(operator, url, name="n" * 121, description=EVIL)
    assert too_long.status_code == 422
    body = too_long.get_data(as_text=True)
    assert 'id="error-name"' in body and "At most 120 characters" in body and ESCAPED in body

    saved = post(operator, url, name=f"Weekday cleanup {EVIL}", description="Removes old files.\nAsk ops.")
    assert saved.status_code == 303 and saved.headers["Location"].endswith(f"/schedules/{cron_id}")
    page = viewer.get(f"/schedules/{cron_id}").get_data(as_text=True)
    assert "Weekday cleanup " + ESCAPED in page and "Removes old files." in page and EVIL not in page
    assert 'id="note-form"' not in page, "viewers read the note, they cannot edit it"
    listing = operator.get("/schedules").get_data(as_text=True)
    assert "Weekday cleanup " + ESCAPED in listing

    # The page's own buttons bring it back (the list's bring the list back).
    page = operator.get(f"/schedules/{cron_id}").get_data(as_text=True)
    assert 'name="back" value="page"' in page
    paused = post(operator, f"/schedules/{cron_id}/pause", back="page")
    assert paused.status_code == 303 and paused.headers["Location"].endswith(f"/schedules/{cron_id}")
    assert 'id="schedule-state"><span class="badge badge-suspended">paused' in operator.get(
        paused.headers["Location"]
    ).get_data(as_text=True)
    assert post(operator, f"/schedules/{cron_id}/resume").headers["Location"].endswith("/schedules")

    from dashboard.extensions import db

    with app.app_context():
        events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "schedule.note")).all()
        assert [(e.actor, e.target, e.outcome) for e in events] == [("oscar", cron_id, "ok")]
        assert db.session.execute(sa.select(sa.func.count()).select_from(notes_table)).scalar() == 1
