"""The audit log: every sign-in, account change and operator action, in the console's database."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update

from dashboard.extensions import db
from dashboard.models import AuditEvent, utcnow


def record(
    actor: str,
    action: str,
    *,
    target: str | None = None,
    job_count: int | None = None,
    outcome: str = "ok",
    detail: str | None = None,
    remote_addr: str | None = None,
    duration_ms: int | None = None,
    commit: bool = True,
) -> AuditEvent:
    """Write one audit entry (committed unless the caller commits it with its own change)."""
    event = AuditEvent(
        at=utcnow(),
        actor=actor[:72],
        action=action,
        target=(target or "")[:512] or None,
        job_count=job_count,
        outcome=outcome,
        detail=detail,
        remote_addr=remote_addr,
        duration_ms=duration_ms,
    )
    db.session.add(event)
    if commit:
        db.session.commit()
    return event


@dataclass(frozen=True)
class Auditor:
    """Who acts and from where, taken from the request once. Calling it writes one entry, in the request
    or later from a background thread (it then enters the app's context itself)."""

    actor: str
    remote_addr: str | None
    app: object | None = None
    profile: str | None = None  # the Redis instance acted on, when the console has named ones (profiles.py)

    def __call__(
        self,
        action: str,
        *,
        target: str | None = None,
        job_count: int | None = None,
        outcome: str = "ok",
        detail: str | None = None,
        started: float | None = None,
        duration_ms: int | None = None,
    ) -> AuditEvent:
        """`started` (a time.monotonic() reading) gives the duration when duration_ms is not given."""
        if duration_ms is None and started is not None:
            duration_ms = int((time.monotonic() - started) * 1000)
        if self.profile is not None:  # no column for it: the detail starts with the instance, "[@staging] ..."
            detail = f"[@{self.profile}] {detail}" if detail else f"[@{self.profile}]"
        fields = dict(
            target=target,
            job_count=job_count,
            outcome=outcome,
            detail=detail,
            remote_addr=self.remote_addr,
            duration_ms=duration_ms,
        )
        from flask import has_app_context

        if has_app_context() or self.app is None:
            return record(self.actor, action, **fields)
        with self.app.app_context():
            return record(self.actor, action, **fields)


def auditor() -> Auditor:
    """The current request's principal and address, for entries written now or by background work."""
    from flask import current_app, request

    from dashboard.auth import current_principal  # auth imports accounts, which imports this module
    from dashboard.profiles import ENVIRON_PROFILE

    profiles = current_app.config.get("CONSOLE_PROFILES")
    profile = request.environ.get(ENVIRON_PROFILE) if profiles is not None and profiles.shown else None
    return Auditor(current_principal().audit_name, request.remote_addr, current_app._get_current_object(), profile)


def action(name: str, **fields) -> AuditEvent:
    """Audit an operator's action in the current request (who and from where come from the request);
    the fields are Auditor's: target, job_count, outcome ("ok"), detail, started or duration_ms."""
    return auditor()(name, **fields)


# Refused anonymous sign-ins are counted into one row per (action, account, address, reason) per window,
# so a guessing script cannot fill the table. Past the caps, new accounts fold into an "*" row (per
# address, then for everyone), so even spraying many names from many addresses adds a bounded number of rows.
AGGREGATE_WINDOW = timedelta(minutes=15)
ACCOUNTS_PER_ADDRESS = 10
ROWS_PER_WINDOW = 200
MANY = "*"


def record_refused_sign_in(
    actor: str, action: str, *, remote_addr: str, detail: str, outcome: str = "failed"
) -> AuditEvent:
    """Count one refused anonymous sign-in. Cost: two or three indexed reads bounded by the caps, then
    one INSERT or one UPDATE; committed. The count stays visible as the row's `repeats`."""
    now = utcnow()
    in_window = (AuditEvent.action == action, AuditEvent.at >= now - AGGREGATE_WINDOW)
    actor = actor[:72]

    def existing(who: str, address: str) -> AuditEvent | None:
        return db.session.scalar(
            select(AuditEvent)
            .where(
                *in_window,
                AuditEvent.actor == who,
                AuditEvent.remote_addr == address,
                AuditEvent.detail == detail,
            )
            .order_by(AuditEvent.at.desc())
            .limit(1)
        )

    def rows(*where) -> int:
        return db.session.scalar(select(func.count()).select_from(AuditEvent).where(*in_window, *where))

    row = existing(actor, remote_addr)
    if row is None and rows(AuditEvent.remote_addr == remote_addr) >= ACCOUNTS_PER_ADDRESS:
        actor = MANY
        row = existing(actor, remote_addr)
    if row is None and rows() >= ROWS_PER_WINDOW:
        actor, remote_addr = MANY, MANY
        row = existing(actor, remote_addr)
    if row is None:
        return record(actor, action, outcome=outcome, detail=detail, remote_addr=remote_addr)
    # One atomic increment: concurrent console processes never lose a count.
    db.session.execute(
        update(AuditEvent).where(AuditEvent.id == row.id).values(repeats=AuditEvent.repeats + 1, last_at=now)
    )
    db.session.commit()
    return row


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
        select(AuditEvent)
        .where(AuditEvent.target == target, AuditEvent.outcome == "ok")
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(1)
    )
