"""Hostile data planted in real job hashes, queue names, worker names and hostnames must render as
inert text on every page and fragment, and no pickle from Redis may ever run in the console."""

from __future__ import annotations

import os
import pickle
import zlib
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from rq import Queue

from dashboard.rqlayer import keys
from dashboard.rqlayer.payloads import decode, decode_job_data
from tests.helpers import work_in_process

FMT = "%Y-%m-%dT%H:%M:%S.%fZ"
SCRIPT = "<script>alert('xss')</script>"
PAYLOADS = [
    SCRIPT,
    '"><img src=x onerror=alert(1)>',
    "' onmouseover='alert(1)",
    "javascript:alert(1)",
    "&lt;b&gt;entity&amp;",
    "\u202eevil\u202c right-to-left override \u200b zero width",
    "</textarea></pre></td></tr></table><h1>broken layout</h1>",
    "{{7*7}} {% raw %}",
]


class Exploit:
    """Unpickling this creates a file: if the file ever exists, the console ran code from Redis."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class Inspector(HTMLParser):
    """Collects what could execute: script tags, event-handler attributes, javascript: URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict] = []
        self.handlers: list[tuple[str, str]] = []
        self.js_urls: list[str] = []
        self.styles: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script":
            self.scripts.append(attributes)
        if tag == "style":
            self.styles.append(tag)
        for name, value in attrs:
            if name.startswith("on"):
                self.handlers.append((tag, name))
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.js_urls.append(value)
            if name == "style":
                self.styles.append(f"{tag}[style]")


def assert_inert(body: str, where: str) -> None:
    inspector = Inspector()
    inspector.feed(body)
    assert all(s.get("src", "").startswith("/static/") for s in inspector.scripts), (where, inspector.scripts)
    assert inspector.handlers == [], (where, inspector.handlers)
    assert inspector.js_urls == [], (where, inspector.js_urls)
    assert inspector.styles == [], (where, inspector.styles)
    assert SCRIPT not in body, where
    assert "<h1>broken layout</h1>" not in body, where
    assert "<img src=x" not in body, where


def plant_hostile(conn, marker: Path) -> dict:
    """Jobs, a queue, a worker and a failure carrying every payload; pickles that would create
    `marker` in meta, data, results and the legacy result field."""
    hostile_queue = "q<script>alert(1)</script>"
    queue = Queue("default", connection=conn)
    planted = {"queue": hostile_queue, "jobs": []}
    for payload in PAYLOADS:
        job = queue.enqueue("tests.jobfuncs.fail", payload, description=payload)
        planted["jobs"].append(job.id)
    big = queue.enqueue("tests.jobfuncs.add", "A" * 1_000_000, "B")
    planted["big"] = big.id
    work_in_process(conn, ["default"])

    evil = pickle.dumps(Exploit(marker))
    now = datetime.now(UTC).strftime(FMT)
    for job_id, fields in {
        "evil-meta": {"meta": evil, "data": zlib.compress(pickle.dumps(("tests.jobfuncs.add", None, (1,), {})))},
        "evil-data": {"data": zlib.compress(pickle.dumps(("tests.jobfuncs.add", None, (Exploit(marker),), {})))},
        "evil-result": {"result": evil, "data": zlib.compress(pickle.dumps((SCRIPT, None, (), {})))},
    }.items():
        conn.hset(
            keys.job(job_id),
            mapping={
                "status": "finished",
                "origin": hostile_queue,
                "created_at": now,
                "enqueued_at": now,
                "ended_at": now,
                "description": SCRIPT,
                "worker_name": SCRIPT,
                **fields,
            },
        )
        conn.zadd(keys.registry("finished", hostile_queue), {job_id: 1})
        planted["jobs"].append(job_id)
    conn.xadd(
        keys.results("evil-result"),
        {"type": 1, "return_value": __import__("base64").b64encode(evil), "worker_name": SCRIPT},
    )
    conn.rpush(keys.queue(hostile_queue), "evil-data")
    conn.sadd(keys.queues(), keys.queue(hostile_queue))

    worker = "w<img src=x onerror=alert(1)>"
    conn.sadd(keys.workers(), keys.worker(worker))
    conn.hset(
        keys.worker(worker),
        mapping={
            "hostname": '"><script>alert(2)</script>',
            "queues": f"{hostile_queue},default",
            "state": "busy",
            "last_heartbeat": now,
            "birth": now,
            "pid": 1,
            "current_job": SCRIPT,
        },
    )
    planted["worker"] = worker
    return planted


def _filler(rule, arg: str):
    """A value for a route argument the walk has no hostile value for: 1 where the route wants an int."""
    from werkzeug.routing import IntegerConverter

    return 1 if isinstance(rule._converters.get(arg), IntegerConverter) else "x"


def every_get_url(app, planted) -> list[str]:
    """A URL for every GET route of the app, filled with the hostile values."""
    from dashboard.rqlayer.overview import STATES

    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        values_list = [{}]
        if "job_id" in rule.arguments:
            values_list = [{"job_id": job_id} for job_id in planted["jobs"] + [planted["big"]]]
        elif "task_name" in rule.arguments:
            values_list = [{"task_name": "tasks.reports.generate_sales_report"}]
        elif "state" in rule.arguments:
            values_list = [
                {"name": queue, "state": state} for queue in ("default", planted["queue"]) for state in STATES
            ]
        for values in values_list:
            if "fmt" in rule.arguments:
                values = dict(values, fmt="csv")
            values = {**{arg: _filler(rule, arg) for arg in rule.arguments}, **values}
            with app.test_request_context():
                from flask import url_for

                try:
                    urls.append(url_for(rule.endpoint, **values))
                except Exception as error:  # a route this walk cannot fill is a test bug: say which
                    raise AssertionError(f"cannot build {rule.endpoint}: {error}") from error
    return urls


def test_every_page_and_fragment_renders_hostile_data_inertly(app, client, conn, tmp_path):
    marker = tmp_path / "pwned"
    planted = plant_hostile(conn, marker)
    urls = every_get_url(app, planted)
    assert len(urls) > 30
    for url in urls + ["/failed?window=all", f"/jobs/search?q={planted['jobs'][0]}"]:
        for headers in ({}, {"HX-Request": "true"}):
            response = client.get(url, headers=headers)
            assert response.status_code < 500, (url, response.status_code)
            body = response.get_data(as_text=True)
            if response.mimetype == "text/html":
                assert_inert(body, url)
    assert not marker.exists(), "a pickle from Redis was executed by the console"


def test_payloads_are_shown_escaped_and_pickles_named_not_run(client, conn, tmp_path):
    marker = tmp_path / "pwned"
    planted = plant_hostile(conn, marker)

    page = client.get("/jobs/evil-meta").get_data(as_text=True)
    assert "not displayable safely" in page and "posix.system" in page
    assert "&lt;script&gt;" in page
    data_page = client.get("/jobs/evil-data").get_data(as_text=True)
    assert "not displayable safely" in data_page and "tests.jobfuncs.add" in data_page
    result_page = client.get("/jobs/evil-result").get_data(as_text=True)
    assert result_page.count("not displayable safely") >= 1

    overview = client.get("/").get_data(as_text=True)
    assert "w&lt;img src=x onerror=alert(1)&gt;" in overview
    assert "&#34;&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in overview
    assert not marker.exists()

    big = client.get(f"/jobs/{planted['big']}").get_data(as_text=True)
    assert "show the whole value" in big and len(big) < 1_200_000
    listing = client.get("/queues/default/finished").get_data(as_text=True)
    assert "A" * 200 not in listing, "list rows show a short preview, never the whole argument"


def test_api_returns_hostile_values_as_json_strings(app, client, conn, tmp_path):
    from dashboard import accounts

    marker = tmp_path / "pwned"
    plant_hostile(conn, marker)
    with app.app_context():
        _, secret = accounts.create_token("hostile", "viewer")
    response = client.get("/api/v1/jobs/evil-meta", headers={"Authorization": f"Bearer {secret}"})
    assert response.mimetype == "application/json"
    assert response.json["meta"]["safe"] is False and response.json["meta"]["text"] is None
    assert not marker.exists()


@pytest.mark.parametrize(
    "payload",
    [
        pickle.dumps(Exploit(Path("/tmp/never"))),
        pickle.dumps(Path("/etc/passwd")),
        b"\x80\x05\x95garbage",
    ],
)
def test_restricted_unpickler_refuses_anything_but_plain_data(payload):
    shown = decode(payload)
    assert not shown.safe and shown.text is None
    assert not Path("/tmp/never").exists()


def test_plain_pickles_and_json_are_readable():
    value = {"when": datetime(2026, 1, 1, tzinfo=UTC), "ids": {1, 2}, "n": 1.5, "s": "x"}
    assert decode(pickle.dumps(value)).value == value
    assert decode(b'{"a": [1, 2]}').value == {"a": [1, 2]}
    call = decode_job_data(zlib.compress(pickle.dumps(("f.g", None, (1,), {"k": "v"}))))
    assert (call.func_name, call.args.value, call.kwargs.value) == ("f.g", [1], {"k": "v"})


def test_unsafe_mode_is_announced(redis_url, sqlite_url, data_dir, conn, tmp_path):
    from dashboard import accounts
    from tests.helpers import build_app, make_env

    app = build_app(make_env(redis_url, sqlite_url, data_dir, UNSAFE_UNPICKLE="true"))
    with app.app_context():
        session_id = accounts.create_user("root1", "long-enough-pw", "admin").get_id()
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = session_id
    assert "UNSAFE_UNPICKLE is on" in client.get("/").get_data(as_text=True)


def test_zlib_bomb_is_bounded():
    bomb = zlib.compress(b"[" + b" " * (50 * 1024 * 1024))
    call = decode_job_data(bomb)
    assert not call.args.safe
