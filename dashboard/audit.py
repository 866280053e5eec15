"""The audit log: every sign-in, account change and operator action, in the console's database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select

from dashboard.extensions import db
from dashboard.models import AuditEvent, utcnow


def record(actor: str, action: str, *, target: str | None = None, job_count: int | None = None,
           outcome: str = "ok", detail: str | None = None, remote_addr: str | None = None,
           duration_ms: int | None = None, commit: bool = True) -> AuditEvent:
    """Write one audit entry (committed unless the caller commits it with its own change)."""
    event = AuditEvent(
        at=utcnow(), actor=actor[:72], action=action, target=(target or "")[:512] or None,
        job_count=job_count, outcome=outcome, detail=detail, remote_addr=remote_addr,
        duration_ms=duration_ms,
    )
    db.session.add(event)
    if commit:
        db.session.commit()
    return event


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""
    action: str = ""
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    next_cursor: str | None


def _parse_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    if not cursor:
        return None
    try:
        stamp, _, ident = cursor.partition("_")
        return datetime.fromisoformat(stamp), int(ident)
    except ValueError:
        return None


def page(filters: AuditFilter, cursor: str | None = None, size: int = 50) -> AuditPage:
    """Newest first, keyset-paginated on (at, id): page N costs the same as page 1, no OFFSET."""
    query = select(AuditEvent)
    if filters.actor:
        query = query.where(AuditEvent.actor == filters.actor)
    if filters.action:
        query = query.where(AuditEvent.action == filters.action)
    if filters.since:
        query = query.where(AuditEvent.at >= filters.since)
    if filters.until:
        query = query.where(AuditEvent.at < filters.until)
    after = _parse_cursor(cursor)
    if after:
        at, ident = after
        query = query.where(or_(AuditEvent.at < at, and_(AuditEvent.at == at, AuditEvent.id < ident)))
    rows = db.session.scalars(query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(size + 1)).all()
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        next_cursor = f"{last.at.isoformat()}_{last.id}"
    return AuditPage(rows, next_cursor)


def known_actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))


def latest_for_target(target: str) -> AuditEvent | None:
    """The newest successful action on this target (job id, queue, worker), for 409 messages."""
    return db.session.scalar(
        select(AuditEvent).where(AuditEvent.target == target, AuditEvent.outcome == "ok")
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(1))
