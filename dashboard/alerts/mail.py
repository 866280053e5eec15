"""Alert e-mail: the message (plain text) and the RQ job that sends it with smtplib.

The job runs in a worker (the webhook queue, WEBHOOK_QUEUE), never in another job's path; RQ retries it
(RETRY_INTERVALS) when the SMTP server is unreachable or refuses. SMTP settings come from the worker's
environment (dashboard.settings.load_alert_settings: SMTP_HOST, SMTP_PORT, SMTP_USERNAME, SMTP_PASSWORD,
SMTP_STARTTLS, ALERT_EMAIL_FROM), so no secret travels in the job's arguments.

No header injection: addresses were checked when the rule was saved (checks.EMAIL, no CR/LF) and are checked
again here; the subject is built from data (queue names, error messages) and has every control character
replaced by a space; EmailMessage refuses a header with a line break anyway.

Flask-free and SQL-free: workers import this module.
"""

from __future__ import annotations

import re
import smtplib
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from dashboard.settings import AlertSettings, load_alert_settings

FUNCTION = "dashboard.alerts.mail.send_mail"
RETRY_INTERVALS = (30, 120, 600)
TIMEOUT = 15
SUBJECT_MAX = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_ADDRESS = re.compile(r"^[^\s@<>,;\"]{1,64}@[A-Za-z0-9.-]{1,190}$")


def clean_subject(text: str) -> str:
    """One line, at most SUBJECT_MAX characters."""
    line = _CONTROL.sub(" ", text).strip()
    return line if len(line) <= SUBJECT_MAX else line[: SUBJECT_MAX - 1] + "…"


def build_message(settings: AlertSettings, to: Sequence[str], subject: str, body: str) -> EmailMessage:
    """The message; ValueError for an address that is not one (nothing is sent)."""
    bad = [a for a in to if not _ADDRESS.fullmatch(a)]
    if bad or not to:
        raise ValueError(f"not an e-mail address: {bad[0][:60]!r}" if bad else "no recipient")
    message = EmailMessage()
    message["From"] = settings.email_from
    message["To"] = ", ".join(to)
    message["Subject"] = clean_subject(subject)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.email_from.rpartition("@")[2] or None)
    message.set_content(body)
    return message


def send_mail(to: list[str], subject: str, body: str) -> str:
    """The RQ job: send one message through the configured SMTP server. Raises (so RQ retries) when the
    server cannot be reached or refuses; returns a short report for the job's result."""
    settings = load_alert_settings()
    if not settings.smtp_host:
        raise RuntimeError("SMTP_HOST is not set in the worker's environment: no e-mail can be sent")
    message = build_message(settings, to, subject, body)
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
        refused = smtp.send_message(message)
    return f"sent to {len(to) - len(refused)} of {len(to)} recipient(s)"
