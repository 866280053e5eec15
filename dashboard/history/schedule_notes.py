"""What operators write about a schedule: a name and a description (table schedule_notes).

Flask-free: every function takes a SQLAlchemy Connection (the web passes `db.session.connection()`, so the
note and its audit entry commit together). Nothing here commits. A schedule's id is the scheduled job's
id (rq-scheduler) or the `rq cron` entry's name; a note outlives its schedule (ids are not reused).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dashboard.history.models import schedule_notes
from dashboard.history.outcomes import dialect_insert


def _length(column: sa.Column) -> int:
    return int(cast(sa.String, column.type).length or 0)


# The columns' own lengths (models.py): the form and the database can never disagree.
NAME_MAX = _length(schedule_notes.c.name)
DESCRIPTION_MAX = _length(schedule_notes.c.description)
ACTOR_MAX = _length(schedule_notes.c.updated_by)
LOOKUP_CHUNK = 500  # ids per IN (...) when the Schedules list asks for the names of its rows


@dataclass(frozen=True)
class ScheduleNote:
    schedule_id: str
    name: str
    description: str
    updated_at: datetime | None
    updated_by: str


def clean(value: str, multiline: bool) -> str:
    """The text as stored: surrounding blanks stripped, control characters removed (newlines kept in a
    description, normalised to \\n)."""
    value = (value or "").replace("\r\n", "\n").replace("\r", "\n")
    kept = (c for c in value if c == "\n" and multiline or unicodedata.category(c) != "Cc")
    return "".join(kept).strip()


def validate(name: str, description: str) -> dict[str, str]:
    """The message per field that is refused ({} when both may be saved); lengths after `clean`."""
    errors = {}
    if len(clean(name, False)) > NAME_MAX:
        errors["name"] = f"At most {NAME_MAX} characters (this one has {len(clean(name, False)):,})."
    if len(clean(description, True)) > DESCRIPTION_MAX:
        errors["description"] = (
            f"At most {DESCRIPTION_MAX:,} characters (this one has {len(clean(description, True)):,})."
        )
    return errors


def _row(row: sa.Row) -> ScheduleNote:
    return ScheduleNote(row.schedule_id, row.name, row.description, row.updated_at, row.updated_by or "")


def get_note(conn: Connection, schedule_id: str) -> ScheduleNote | None:
    """The note of one schedule, or None. Cost: one primary-key lookup."""
    row = conn.execute(sa.select(schedule_notes).where(schedule_notes.c.schedule_id == schedule_id)).first()
    return _row(row) if row else None


def get_notes(conn: Connection, schedule_ids: Iterable[str]) -> dict[str, ScheduleNote]:
    """The notes of these schedules by id (ids without a note are absent). Cost: one primary-key IN
    lookup per LOOKUP_CHUNK ids (the Schedules page lists at most 1,000 rq-scheduler entries)."""
    ids = sorted(set(schedule_ids))
    found: dict[str, ScheduleNote] = {}
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        for row in conn.execute(sa.select(schedule_notes).where(schedule_notes.c.schedule_id.in_(chunk))):
            found[row.schedule_id] = _row(row)
    return found


def save_note(
    conn: Connection, schedule_id: str, name: str, description: str, actor: str, now: datetime | None = None
) -> ScheduleNote:
    """Insert or replace the note (one upsert: INSERT … ON CONFLICT DO UPDATE, on SQLite and PostgreSQL),
    cleaned and validated: ValueError with the first refused field's message. Does not commit."""
    errors = validate(name, description)
    if errors:
        raise ValueError(next(iter(errors.values())))
    clean_name, clean_description = clean(name, False), clean(description, True)
    at = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    values = {
        "schedule_id": schedule_id,
        "name": clean_name,
        "description": clean_description,
        "updated_at": at,
        "updated_by": actor[:ACTOR_MAX],
    }
    insert = dialect_insert(conn, schedule_notes).values(**values)
    changed = {k: insert.excluded[k] for k in ("name", "description", "updated_at", "updated_by")}
    conn.execute(insert.on_conflict_do_update(index_elements=[schedule_notes.c.schedule_id], set_=changed))
    return ScheduleNote(schedule_id, clean_name, clean_description, at, actor[:ACTOR_MAX])
