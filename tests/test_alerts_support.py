"""Shared by the alert tests (no tests here): a real local SMTP server (aiosmtpd) on an OS-assigned port,
rules made through the same checks the form uses, and the jobs the notifications enqueued."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message

from rq import Queue

from dashboard.alerts import checks, rules
from tests.helpers import free_port

MAIL_QUEUE = "webhooks"


@dataclass
class Mailbox:
    host: str
    port: int
    messages: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's handler hook
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def subjects(self) -> list[str]:
        with self.lock:
            return [str(m["Subject"]) for m in self.messages]


def smtp_server(monkeypatch):
    """A real SMTP server on 127.0.0.1:<free port>, and the environment the e-mail job (run in this process)
    reads its settings from. A generator: each test module's `mailbox` fixture yields from it."""
    from aiosmtpd.controller import Controller

    box = Mailbox("127.0.0.1", free_port())
    controller = Controller(box, hostname=box.host, port=box.port)
    controller.start()
    monkeypatch.setenv("SMTP_HOST", box.host)
    monkeypatch.setenv("SMTP_PORT", str(box.port))
    monkeypatch.setenv("ALERT_EMAIL_FROM", "alerts@console.test")
    yield box
    controller.stop()


def make_rule(engine, **fields):
    """A rule saved through checks.check (the form's checks); fields by form name."""
    values = {"severity": "warning", "cooldown_seconds": "0", "emails": "", "webhooks": ""} | fields
    checked = checks.check(values)
    assert checked.ok, checked.errors
    with engine.begin() as sql:
        return rules.create_rule(sql, checked, "test")


def mail_jobs(conn) -> list:
    """The e-mail jobs waiting on the notification queue, oldest first."""
    return Queue(MAIL_QUEUE, connection=conn).get_jobs()
