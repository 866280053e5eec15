"""Batch files are read as a stream, bounded per line, and every malformed JSON value is a 4xx with a
message: deep nesting, huge integers and over-long lines included."""

from __future__ import annotations

import io
import json

import pytest

import tasks
from dashboard.rqlayer import batchfile, keys
from dashboard.rqlayer import enqueue as enqueuing
from dashboard.rqlayer.params import MAX_JSON_DEPTH, PARAM_PREFIX, validate_call
from tasks.registry import task, unregister
from tests.helpers import csrf_token, wait_until

REPORT = "tasks.reports.generate_sales_report"
DIGEST = "tasks.notifications.send_digest"
FREE = "tests.test_enqueue_batchfile.takes_any_json"


def takes_any_json(payload: dict) -> int:
    return len(payload)


@pytest.fixture
def free_task():
    task(takes_any_json)
    yield tasks.get_task(FREE)
    unregister(FREE)


def _upload(client, task_name, body: bytes, filename: str, **form):
    data = {"file": (io.BytesIO(body), filename), "csrf_token": csrf_token(client), **form}
    return client.post(f"/enqueue/{task_name}/batch", data=data, content_type="multipart/form-data")


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


class ReadSizes(io.BytesIO):
    """A file that remembers the largest single read asked of it."""

    largest = 0

    def read(self, size=-1):
        self.largest = max(self.largest, size if size >= 0 else len(self.getbuffer()))
        return super().read(size)

    def readline(self, size=-1):
        self.largest = max(self.largest, size if size >= 0 else len(self.getbuffer()))
        return super().readline(size)


def test_a_deeply_nested_line_is_a_per_line_422(client, conn):
    good = json.dumps({"days": 3})
    body = "\n".join([good, _nested(100_000), good, '{"days": ' + _nested(100) + "}"]).encode()
    response = _upload(client, REPORT, body, "rows.jsonl")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert '<td class="num">2</td>' in html and '<td class="num">4</td>' in html
    assert html.count("nested too deeply") == 2 and "Nothing was enqueued" in html
    assert conn.llen(keys.queue("low")) == 0


def test_skipping_bad_rows_enqueues_the_rest_of_a_file_with_deep_lines(client, conn):
    body = "\n".join([json.dumps({"days": 3}), _nested(100_000), json.dumps({"days": 4})]).encode()
    response = _upload(client, REPORT, body, "rows.jsonl", skip_bad="1")
    assert response.status_code == 202
    wait_until(lambda: conn.llen(keys.queue("low")) == 2, message="the two good rows enqueued")


def test_huge_integers_are_a_message_not_a_500(client, conn):
    digits = "1" * 5000
    bad_line = _upload(client, REPORT, ('{"days": ' + digits + "}\n").encode(), "rows.jsonl")
    assert bad_line.status_code == 422 and "too many digits" in bad_line.get_data(as_text=True)
    form = client.post(
        f"/enqueue/{DIGEST}", data={f"{PARAM_PREFIX}recipients": f"[{digits}]", "csrf_token": csrf_token(client)}
    )
    assert form.status_code == 422 and "too many digits" in form.get_data(as_text=True)
    assert conn.llen(keys.queue("default")) == 0


def test_json_values_deeper_than_the_bound_are_refused_everywhere(app, client, conn, free_task):
    from dashboard import accounts

    deep = json.loads('{"a": ' * (MAX_JSON_DEPTH + 1) + "1" + "}" * (MAX_JSON_DEPTH + 1))
    kwargs, errors = validate_call(free_task, {"payload": deep})
    assert "nested too deeply" in errors["payload"]
    assert not validate_call(free_task, {"payload": {"a": {"b": [1, 2]}}})[1]
    form = client.post(
        f"/enqueue/{FREE}", data={f"{PARAM_PREFIX}payload": json.dumps(deep), "csrf_token": csrf_token(client)}
    )
    assert form.status_code == 422 and "nested too deeply" in form.get_data(as_text=True)
    with app.app_context():
        _, secret = accounts.create_token("ci", "operator")
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    api = client.post("/api/v1/jobs", headers=headers, json={"task": FREE, "params": {"payload": deep}})
    assert api.status_code == 422 and "nested too deeply" in api.json["fields"]["payload"]
    # Nesting deep enough to exhaust the JSON parser itself is a 400 for the body as a whole.
    body = '{"task": "' + FREE + '", "params": {"payload": ' + _nested(100_000) + "}}"
    assert client.post("/api/v1/jobs", headers=headers, data=body).status_code == 400
    assert conn.llen(keys.queue("default")) == 0


def test_the_reader_never_reads_the_whole_file(conn):
    spec = tasks.get_task(REPORT)
    options, _ = enqueuing.validate_options(conn, spec, {})
    lines = [json.dumps({"days": n % 30 + 1}) for n in range(5000)]
    lines.insert(10, json.dumps({"days": 3, "region": "x" * (2 * batchfile.MAX_LINE_BYTES)}))
    stream = ReadSizes("\n".join(lines).encode())
    report, spool = batchfile.check_file(stream, "rows.jsonl", spec, options)
    with spool:
        assert stream.largest <= batchfile.MAX_LINE_BYTES + 1 < len(stream.getbuffer())
        assert report.rows == 5001 and report.valid == 5000 and spool.count == 5000
        assert report.errors == [(11, "row", "longer than 1024 KiB")]
        done = enqueuing.write_batch(conn, spec, spool, options, chunk=700)
    assert done == 5000 and conn.llen(keys.queue("low")) == 5000


def test_csv_is_streamed_too_and_an_over_long_line_refuses_the_file(client, conn):
    spec = tasks.get_task(REPORT)
    options, _ = enqueuing.validate_options(conn, spec, {})
    body = "days,region\n" + "".join(f"{n % 30 + 1},north\n" for n in range(3000))
    stream = ReadSizes(body.encode())
    report, spool = batchfile.check_file(stream, "rows.csv", spec, options)
    spool.close()
    assert report.valid == 3000 and stream.largest <= batchfile.MAX_LINE_BYTES + 1
    long_line = b"days,region\n3," + b"x" * (batchfile.MAX_LINE_BYTES + 10) + b"\n"
    response = _upload(client, REPORT, long_line, "rows.csv")
    assert response.status_code == 422 and "longer than" in response.get_data(as_text=True)


def test_row_limit_and_error_count_stay_bounded(client, conn):
    spec = tasks.get_task(REPORT)
    options, _ = enqueuing.validate_options(conn, spec, {})
    report, spool = batchfile.check_file(io.BytesIO(b"days\n1\n2\n3\n4\n"), "r.csv", spec, options, max_rows=3)
    spool.close()
    assert report.too_many_rows and report.rows == 3
    bad = "days\n" + "x\n" * 500
    response = _upload(client, REPORT, bad.encode(), "r.csv")
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "500 problems found" in html and "and 300 more" in html
    assert html.count('<td class="mono">days</td>') == batchfile.MAX_KEPT_ERRORS


def test_a_json_key_is_never_taken_for_an_error_marker(client, conn):
    response = _upload(client, REPORT, b'{"__row__": "looks like an error"}\n', "r.jsonl")
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "has no parameter &#39;__row__&#39;" in html


def test_a_file_that_is_not_utf8_is_refused_with_its_line(client):
    response = _upload(client, REPORT, b"days\n3\n\xff\xfe\n", "r.csv")
    assert response.status_code == 422 and "line 3 is not UTF-8" in response.get_data(as_text=True)
