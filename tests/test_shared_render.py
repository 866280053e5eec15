"""One rendering of the overview's polled fragment serves every operator of a role within the shared read's
second (dashboard/web/shared_render.py): each still gets its own CSRF tokens and its own ETag, another role
gets its own rendering, and a console action is in the very next poll."""

from __future__ import annotations

import re

import pytest
from flask import template_rendered
from rq import Queue, Worker

from dashboard.web import shared_render
from tests.helpers import build_app, make_env, post, signed_in

POLL = {"HX-Request": "true", "X-Console-Poll": "1"}
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
FORM = re.compile(
    r'<form method="post" action="([^"]+)"[^>]*>\s*<input type="hidden" name="csrf_token" value="([^"]+)"'
)


@pytest.fixture
def shared_app(redis_url, sqlite_url, data_dir, conn):
    from dashboard import accounts as service
    from dashboard.extensions import db

    app = build_app(make_env(redis_url, sqlite_url, data_dir, OVERVIEW_CACHE_SECONDS="10"))
    with app.app_context():
        for role in ("admin", "viewer"):
            for n in (1, 2):
                service.create_user(f"{role}-{n}", "pw-0123456789abc", role, actor="test")
    queue = Queue("default", connection=conn)
    queue.enqueue("operator.add", 1, 2)
    worker = Worker([queue], name="render-worker", connection=conn)  # its row has the admin's control forms
    worker.register_birth()
    worker.heartbeat()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def renders(shared_app):
    seen: list[str] = []

    def record(sender, template, context, **extra):
        seen.append(template.name)

    template_rendered.connect(record, shared_app)
    yield seen
    template_rendered.disconnect(record, shared_app)


def _fragment_renders(seen: list[str]) -> int:
    return sum(1 for name in seen if name == "partials/overview.html")


def test_one_rendering_serves_a_role_each_with_its_own_tokens(shared_app, renders):
    first, second = signed_in(shared_app, "admin-1"), signed_in(shared_app, "admin-2")
    a, b = first.get("/", headers=POLL), second.get("/", headers=POLL)
    assert a.status_code == b.status_code == 200
    assert _fragment_renders(renders) == 1  # the second operator got the first one's rendering
    html_a, html_b = a.get_data(as_text=True), b.get_data(as_text=True)
    tokens_a, tokens_b = TOKEN.findall(html_a), TOKEN.findall(html_b)
    assert tokens_a and tokens_b and set(tokens_a).isdisjoint(tokens_b)  # each its own session's tokens
    assert shared_render._PLACEHOLDER not in html_a + html_b
    assert TOKEN.sub("", html_a) == TOKEN.sub("", html_b)
    assert a.headers["ETag"] != b.headers["ETag"]  # the validator is still per user and session
    assert first.get("/", headers={**POLL, "If-None-Match": a.headers["ETag"]}).status_code == 304
    # The token a shared rendering carried is the session's own: the form it sits in is accepted.
    action, token = FORM.search(html_b).groups()
    assert second.post(action, data={"csrf_token": token}).status_code == 303


def test_another_role_gets_its_own_rendering(shared_app, renders):
    admin, viewer = signed_in(shared_app, "admin-1"), signed_in(shared_app, "viewer-1")
    assert TOKEN.search(admin.get("/", headers=POLL).get_data(as_text=True))
    shown = viewer.get("/", headers=POLL).get_data(as_text=True)
    assert _fragment_renders(renders) == 2
    assert not TOKEN.search(shown) and "Shut down" not in shown  # no control a viewer may not use


def test_a_console_action_is_in_the_next_poll(shared_app, renders, conn):
    admin = signed_in(shared_app, "admin-1")
    assert "suspension-banner" not in admin.get("/", headers=POLL).get_data(as_text=True)
    assert post(admin, "/workers/suspend").status_code == 303
    assert "suspension-banner" in signed_in(shared_app, "admin-2").get("/", headers=POLL).get_data(as_text=True)
    assert _fragment_renders(renders) == 2


def test_other_arguments_are_other_renderings(shared_app, renders):
    admin = signed_in(shared_app, "admin-1")
    whole = admin.get("/", headers=POLL).get_data(as_text=True)
    filtered = admin.get("/?q=nothing-like-this", headers=POLL).get_data(as_text=True)
    assert _fragment_renders(renders) == 2 and TOKEN.sub("", filtered) != TOKEN.sub("", whole)
