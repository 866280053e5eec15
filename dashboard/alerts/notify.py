"""Notifications of one alert event: webhooks through the outbox (dashboard/webhooks/outbox.py: signed
deliveries, each an RQ job with retries), e-mail as one RQ job (mail.py). Nothing is sent in the
evaluator's or any job's path: both only enqueue. What was enqueued (delivery ids, the mail job's id) and
what failed go into the event's `channels` and `errors`; the state row's last_notified_at is set when
anything was enqueued. Flask-free.

Idempotent per event: the outbox key is "alert-event:<id>" and the mail job's id "alert-mail-<id>", so a
retried notification of the same event sends nothing twice.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import redis
import sqlalchemy as sa

from dashboard.alerts import mail
from dashboard.alerts.models import alert_events, alert_states
from dashboard.alerts.state import Transition as Notice  # an event to announce (change "test": a channel test)
from dashboard.alerts.state import naive
from dashboard.settings import AlertSettings, SettingsError, load_alert_settings, load_webhook_settings

log = logging.getLogger(__name__)
MAIL_RESULT_TTL = 86400
MAIL_FAILURE_TTL = 7 * 86400


def payload(notice: Notice) -> dict[str, Any]:
    """The webhook body's `data` (JSON): the rule, the subject, the state and the value."""
    rule = notice.rule
    return {
        "event_id": notice.event_id,
        "state": "firing" if notice.change == "test" else notice.change,
        "test": notice.change == "test",
        "rule": {"id": rule.id, "name": rule.name, "kind": rule.kind, "severity": rule.severity},
        "condition": rule.condition,
        "subject": notice.subject,
        "value": notice.value,
        "detail": notice.detail,
        "at": notice.at.isoformat(),
    }


def mail_text(notice: Notice) -> tuple[str, str]:
    """(subject, body) of the e-mail; the subject is made one clean line by mail.build_message."""
    rule = notice.rule
    word = {"firing": "FIRING", "resolved": "RESOLVED", "test": "TEST"}[notice.change]
    subject = f"[RQ Console] {word} {rule.severity}: {rule.name}" + (f" — {notice.subject}" if notice.subject else "")
    lines = [
        f"Alert rule: {rule.name} ({rule.severity})",
        f"Condition: {rule.condition}",
        f"Subject: {notice.subject or '—'}",
        f"State: {word.lower()}" + (" (a test of this rule's channels)" if notice.change == "test" else ""),
        f"Now: {notice.detail}",
        f"At: {notice.at:%Y-%m-%d %H:%M:%S} UTC",
        "",
        "Sent by the RQ Console's alerts (its /alerts page lists the rule's state and history).",
    ]
    return subject, "\n".join(lines) + "\n"


def _webhooks(engine: sa.Engine, connection: redis.Redis, notice: Notice) -> tuple[dict | None, str | None]:
    ids = list(notice.rule.webhook_ids)
    try:
        from dashboard.webhooks import outbox
    except ImportError:
        return None, "webhooks: the webhook outbox is not installed"
    type_ = "alert.resolved" if notice.change == "resolved" else "alert.firing"
    try:
        deliveries = outbox.send(
            engine, connection, type_, payload(notice), endpoint_ids=ids, key=f"alert-event:{notice.event_id}"
        )
    except Exception as error:  # noqa: BLE001 - recorded on the event; the other channel still goes out
        log.warning("alert %s: webhooks failed: %s", notice.event_id, error)
        return None, f"webhooks: {type(error).__name__}: {str(error)[:200]}"
    sent = {"type": "webhook", "endpoints": ids, "deliveries": list(deliveries)}
    if len(deliveries) < len(ids):
        return sent, f"webhooks: {len(ids) - len(deliveries)} of {len(ids)} endpoint(s) unknown or disabled"
    return sent, None


def _email(
    connection: redis.Redis, notice: Notice, settings: AlertSettings, queue: str
) -> tuple[dict | None, str | None]:
    if not settings.smtp_host:
        return None, "e-mail: SMTP_HOST is not set: nothing sent"
    from rq import Queue, Retry
    from rq.exceptions import DuplicateJobError

    subject, body = mail_text(notice)
    job_id = f"alert-mail-{notice.event_id}" if notice.change != "test" else None
    try:
        job = Queue(queue, connection=connection).enqueue(
            mail.FUNCTION,
            kwargs={"to": list(notice.rule.emails), "subject": subject, "body": body},
            job_id=job_id,
            unique=job_id is not None,
            retry=Retry(max=len(mail.RETRY_INTERVALS), interval=list(mail.RETRY_INTERVALS)),
            job_timeout=60,
            result_ttl=MAIL_RESULT_TTL,
            failure_ttl=MAIL_FAILURE_TTL,
            description=mail.clean_subject(subject),
        )
    except DuplicateJobError:
        return {"type": "email", "to": list(notice.rule.emails), "job_id": job_id, "queue": queue}, None
    except redis.RedisError as error:
        return None, f"e-mail: the job could not be enqueued: {str(error)[:200]}"
    return {"type": "email", "to": list(notice.rule.emails), "job_id": job.id, "queue": queue}, None


def send(engine: sa.Engine, connection: redis.Redis, notice: Notice) -> tuple[list[dict], list[str]]:
    """Enqueue the notice on the rule's channels and record it on the event (and the state row). Returns
    (channels, errors). Cost: one outbox call, one RQ enqueue, two UPDATEs."""
    channels: list[dict] = []
    errors: list[str] = []
    try:
        settings, queue = load_alert_settings(), load_webhook_settings().queue
    except SettingsError as bad:
        settings, queue = AlertSettings(), "webhooks"
        errors.append(str(bad))
    if notice.rule.webhook_ids:
        sent, problem = _webhooks(engine, connection, notice)
        channels += [sent] if sent else []
        errors += [problem] if problem else []
    if notice.rule.emails:
        sent, problem = _email(connection, notice, settings, queue)
        channels += [sent] if sent else []
        errors += [problem] if problem else []
    if not notice.rule.webhook_ids and not notice.rule.emails:
        errors.append("the rule has no channel: nothing sent")
    with engine.begin() as sql:
        sql.execute(
            sa.update(alert_events)
            .where(alert_events.c.id == notice.event_id)
            .values(channels=json.dumps(channels), errors="\n".join(errors))
        )
        if channels and notice.change != "test":
            sql.execute(
                sa.update(alert_states)
                .where(alert_states.c.rule_id == notice.rule.id, alert_states.c.subject == notice.subject)
                .values(last_notified_at=naive(notice.at))
            )
    return channels, errors
