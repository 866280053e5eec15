"""E-mail notifications, delivered to a local Maildir or a local SMTP sink."""

from __future__ import annotations

import mailbox
import os
import re
import smtplib
import time
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid, parseaddr

from .registry import task
from .settings import DEFAULT_SENDER, allowed_senders, outbox_dir, reports_dir

# Deliberately pragmatic: accepts what real mail servers accept in practice
# (including dot-less domains such as "localhost" for local sinks), rejects
# what is obviously a typo or a header-injection attempt.
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_DOMAIN_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")

SMTP_TIMEOUT_SECONDS = 10


def validate_address(value: str, field: str = "address") -> tuple[str, str]:
    """Return ``(display_name, addr)`` for one e-mail address or raise ValueError."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{field}: an e-mail address is required")
    if "\r" in value or "\n" in value:
        raise ValueError(f"{field}: line breaks are not allowed in an e-mail address")
    if "," in value or ";" in value:
        raise ValueError(f"{field}: give exactly one address, got {value!r}")
    name, addr = parseaddr(value.strip())
    if addr.count("@") != 1:
        raise ValueError(f"{field}: {value!r} is not a valid e-mail address (expected name@domain)")
    local, domain = addr.split("@")
    if not _LOCAL_PART.match(local) or len(local) > 64:
        raise ValueError(f"{field}: {value!r} has an invalid part before the '@'")
    labels = domain.split(".")
    if len(domain) > 253 or not all(_DOMAIN_LABEL.match(label) for label in labels):
        raise ValueError(f"{field}: {value!r} has an invalid domain after the '@'")
    return name, addr


def validate_sender(from_addr: str) -> tuple[str, str]:
    """Return ``(display_name, addr)`` for a sender the configuration allows, or raise ValueError:
    a job must not be able to send mail in anyone's name (MAIL_ALLOWED_SENDERS)."""
    name, addr = validate_address(from_addr, "from_addr")
    allowed = allowed_senders()
    if addr.lower() not in allowed:
        raise ValueError(
            f"from_addr: {addr!r} is not an allowed sender; allowed: {', '.join(allowed)} "
            "(set MAIL_ALLOWED_SENDERS to change)"
        )
    return name, addr


def _build_message(to: str, subject: str, body: str, from_addr: str) -> EmailMessage:
    to_name, to_email = validate_address(to, "to")
    from_name, from_email = validate_sender(from_addr)
    if not isinstance(subject, str) or not subject.strip():
        raise ValueError("subject: a subject line is required")
    if "\r" in subject or "\n" in subject:
        raise ValueError("subject: line breaks are not allowed in the subject")

    msg = EmailMessage()
    msg["From"] = formataddr((from_name, from_email))
    msg["To"] = formataddr((to_name, to_email))
    msg["Subject"] = subject.strip()
    msg["Date"] = formatdate(localtime=True)
    # Passing the domain avoids make_msgid's reverse-DNS lookup of this host.
    msg["Message-ID"] = make_msgid(domain=from_email.split("@")[1])
    msg.set_content(body or "")
    return msg


def _smtp_target() -> tuple[str, int] | None:
    host = os.environ.get("SMTP_HOST", "").strip()
    if not host:
        return None
    raw_port = os.environ.get("SMTP_PORT", "").strip() or "25"
    try:
        port = int(raw_port)
    except ValueError:
        raise ValueError(f"SMTP_PORT must be a number, got {raw_port!r}") from None
    return host, port


def _deliver(msg: EmailMessage) -> dict:
    """Send through $SMTP_HOST if configured, otherwise drop into the Maildir outbox."""
    target = _smtp_target()
    if target is not None:
        host, port = target
        with smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
            smtp.send_message(msg)
        return {"delivered_via": "smtp", "location": f"{host}:{port}"}

    root = outbox_dir()
    # Maildir(create=True) only builds tmp/new/cur when the root is missing,
    # and outbox_dir() has already created the root.
    for sub in ("tmp", "new", "cur"):
        (root / sub).mkdir(exist_ok=True)
    box = mailbox.Maildir(root, create=False)
    key = box.add(msg)
    # Maildir.add files plain (non-Maildir) messages under new/ with no suffix.
    return {"delivered_via": "maildir", "location": str(root / "new" / key), "maildir_key": key}


@task(queue="high", timeout=60)
def send_email_notification(to: str, subject: str, body: str = "", from_addr: str = DEFAULT_SENDER) -> dict:
    """Send one plain-text e-mail.

    Delivers through the SMTP server named by the SMTP_HOST/SMTP_PORT settings
    when set; otherwise the message is written to the local outbox (a Maildir
    in the data directory) where it can be inspected.

    - to: one recipient, e.g. "alice@example.com" or "Alice <alice@example.com>"
    - subject: the subject line (required, single line)
    - body: the message text
    - from_addr: the sender address; one of the configured senders
      (MAIL_ALLOWED_SENDERS, by default console@localhost)

    Fails immediately (no retry) if an address is malformed or the sender
    is not allowed.
    """
    msg = _build_message(to, subject, body, from_addr)
    delivery = _deliver(msg)
    return {
        "message_id": msg["Message-ID"],
        "to": msg["To"],
        "subject": msg["Subject"],
        **delivery,
    }


def _recent_reports(max_age_hours: float = 24.0) -> list[tuple[str, int]]:
    cutoff = time.time() - max_age_hours * 3600
    found = []
    for entry in os.scandir(reports_dir()):
        if entry.is_file(follow_symlinks=False) and entry.name.endswith(".csv"):
            st = entry.stat(follow_symlinks=False)
            if st.st_mtime >= cutoff:
                found.append((entry.name, st.st_size))
    return sorted(found)


@task(queue="default", timeout=300)
def send_digest(recipients: list[str], subject: str = "Daily digest", from_addr: str = DEFAULT_SENDER) -> dict:
    """E-mail a digest of the reports generated in the last 24 hours.

    Sends one message per recipient (duplicates are sent once). Every address
    is checked before anything is sent, so a typo sends nothing at all.

    - recipients: the addresses to send to (at least one)
    - subject: the subject line
    - from_addr: the sender address; one of the configured senders
      (MAIL_ALLOWED_SENDERS, by default console@localhost)
    """
    if isinstance(recipients, str):
        # Tolerate "a@x, b@y" typed into a single field.
        recipients = recipients.split(",")
    cleaned: list[str] = []
    for raw in recipients or []:
        if not isinstance(raw, str):
            raise ValueError(f"recipients: expected e-mail addresses, got {raw!r}")
        if raw.strip() and raw.strip() not in cleaned:
            cleaned.append(raw.strip())
    if not cleaned:
        raise ValueError("recipients: at least one e-mail address is required")

    reports = _recent_reports()
    if reports:
        lines = [f"{len(reports)} report(s) generated in the last 24 hours:", ""]
        lines += [f"  - {name} ({size:,} bytes)" for name, size in reports]
    else:
        lines = ["No reports were generated in the last 24 hours."]
    body = "\n".join(lines) + "\n"

    messages = [_build_message(r, subject, body, from_addr) for r in cleaned]  # validates all first
    sent = []
    for msg in messages:
        delivery = _deliver(msg)
        sent.append({"to": msg["To"], "message_id": msg["Message-ID"], **delivery})
    return {"sent": len(sent), "reports_listed": len(reports), "messages": sent}
