"""Each example task doing its real work, called directly (no Redis needed)."""

from __future__ import annotations

import csv
import json
import mailbox
import os
import random
import socketserver
import threading
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from PIL import Image

from tasks import settings
from tasks.batches import process_batch
from tasks.external import fetch_exchange_rate
from tasks.images import make_thumbnail
from tasks.maintenance import cleanup_old_files
from tasks.notifications import send_digest, send_email_notification, validate_address
from tasks.reports import CSV_HEADER, generate_sales_report


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    root = tmp_path / "data"
    monkeypatch.setenv("CONSOLE_DATA_DIR", str(root))
    monkeypatch.delenv("SMTP_HOST", raising=False)
    return root


def assert_json_safe(value):
    assert json.loads(json.dumps(value)) == value


# --- settings ---------------------------------------------------------------


def test_settings_follow_the_environment_at_call_time(tmp_path, monkeypatch):
    monkeypatch.setenv("CONSOLE_DATA_DIR", str(tmp_path / "a"))
    assert settings.reports_dir() == (tmp_path / "a" / "reports").resolve()
    monkeypatch.setenv("CONSOLE_DATA_DIR", str(tmp_path / "b"))
    assert settings.outbox_dir().is_dir() and settings.outbox_dir().parent == (tmp_path / "b").resolve()
    # Unset, it defaults to var/ in the project root (not called here so the
    # test does not create that folder in the checkout).
    assert settings.PROJECT_ROOT == Path(settings.__file__).resolve().parent.parent


# --- e-mail -----------------------------------------------------------------


def test_email_lands_in_maildir(data_dir, monkeypatch):
    monkeypatch.setenv("MAIL_ALLOWED_SENDERS", "console@localhost, CI@example.org")
    result = send_email_notification(
        "Alice <alice@example.com>", "Build finished", "All green.\n", from_addr="ci@example.org"
    )
    assert_json_safe(result)
    assert result["delivered_via"] == "maildir"

    box = mailbox.Maildir(data_dir / "outbox", create=False)
    assert len(box) == 1
    path = Path(result["location"])
    assert path.is_file() and path.parent == data_dir.resolve() / "outbox" / "new"

    with open(path, "rb") as fh:
        msg = BytesParser(policy=policy.default).parse(fh)
    assert msg["To"] == "Alice <alice@example.com>"
    assert msg["From"] == "ci@example.org"
    assert msg["Subject"] == "Build finished"
    assert msg["Message-ID"] == result["message_id"]
    assert msg["Date"]
    assert msg.get_content() == "All green.\n"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "not-an-address",
        "a@b@c",
        "alice@",
        "@example.com",
        "a@-bad-.com",
        "a@x.com, b@y.com",
        "a@x.com\nBcc: z@q.com",
    ],
)
def test_bad_address_is_rejected(data_dir, bad):
    with pytest.raises(ValueError):
        send_email_notification(bad, "Hello")
    assert not list(data_dir.glob("outbox/new/*"))


class _SmtpSink(socketserver.StreamRequestHandler):
    """The smallest SMTP server smtplib will talk to; stores what it receives."""

    def handle(self):
        reply = lambda line: self.wfile.write(line.encode() + b"\r\n")  # noqa: E731
        envelope = {"rcpt": []}
        reply("220 sink ready")
        while line := self.rfile.readline():
            command = line.decode().strip()
            verb = command.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                reply("250 sink")
            elif verb == "MAIL":
                envelope["from"] = command
                reply("250 ok")
            elif verb == "RCPT":
                envelope["rcpt"].append(command)
                reply("250 ok")
            elif verb == "DATA":
                reply("354 go ahead")
                data = b""
                while (chunk := self.rfile.readline()) != b".\r\n":
                    data += chunk
                envelope["data"] = data
                self.server.received.append(envelope)
                reply("250 queued")
            elif verb == "QUIT":
                reply("221 bye")
                return
            else:
                reply("250 ok")


def test_email_goes_through_smtp_when_configured(data_dir, monkeypatch):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpSink)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("SMTP_PORT", str(server.server_address[1]))
        result = send_email_notification("carol@example.com", "Via SMTP", "body text")
    finally:
        server.shutdown()
        server.server_close()
    assert result["delivered_via"] == "smtp"
    assert result["location"] == f"127.0.0.1:{server.server_address[1]}"
    [envelope] = server.received
    assert "carol@example.com" in envelope["rcpt"][0]
    msg = BytesParser(policy=policy.default).parsebytes(envelope["data"])
    assert msg["Subject"] == "Via SMTP" and msg["Message-ID"] == result["message_id"]
    assert not list(data_dir.glob("outbox/new/*"))  # nothing went to the local outbox


def test_bad_smtp_port_is_reported(data_dir, monkeypatch):
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", "smtp")
    with pytest.raises(ValueError, match="SMTP_PORT"):
        send_email_notification("carol@example.com", "x")


def test_subject_is_required(data_dir):
    with pytest.raises(ValueError, match="subject"):
        send_email_notification("bob@example.com", "  ")


def test_validate_address_accepts_local_domains():
    assert validate_address("console@localhost") == ("", "console@localhost")


def test_digest_lists_reports_and_mails_each_recipient(data_dir):
    report = generate_sales_report(days=2, seed=1)
    result = send_digest(["a@example.com", "b@example.com", "a@example.com"], subject="Digest")
    assert_json_safe(result)
    assert result["sent"] == 2 and result["reports_listed"] == 1
    box = mailbox.Maildir(data_dir / "outbox", create=False)
    bodies = {m["To"]: m.get_payload(decode=True).decode() for m in box}
    assert set(bodies) == {"a@example.com", "b@example.com"}
    assert Path(report["path"]).name in bodies["a@example.com"]


def test_digest_checks_all_addresses_before_sending(data_dir):
    with pytest.raises(ValueError):
        send_digest(["ok@example.com", "broken"])
    with pytest.raises(ValueError):
        send_digest([])
    outbox = data_dir / "outbox" / "new"
    assert not outbox.exists() or not any(outbox.iterdir())


# --- reports ----------------------------------------------------------------


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_sales_report_csv_matches_summary(data_dir):
    result = generate_sales_report(days=5, region="all", seed=42)
    assert_json_safe(result)
    path = Path(result["path"])
    assert path.parent == data_dir.resolve() / "reports" and path.suffix == ".csv"

    header, *rows = read_csv(path)
    assert header == CSV_HEADER == ["date", "region", "orders", "units", "revenue"]
    assert len(rows) == result["rows"] == 5 * 4
    assert {r[1] for r in rows} == {"north", "south", "east", "west"}
    assert len({r[0] for r in rows}) == 5
    assert round(sum(float(r[4]) for r in rows), 2) == result["total"]
    assert sum(int(r[2]) for r in rows) == result["orders"]
    assert sum(int(r[3]) for r in rows) == result["units"]
    assert result["total"] > 0


def test_sales_report_is_deterministic_and_filterable(data_dir):
    everything = generate_sales_report(days=3, seed=7)
    again = generate_sales_report(days=3, seed=7)
    north = generate_sales_report(days=3, region="north", seed=7)
    other_seed = generate_sales_report(days=3, seed=8)
    assert everything["total"] == again["total"]
    assert other_seed["total"] != everything["total"]

    north_rows = read_csv(north["path"])[1:]
    assert north["rows"] == 3 and {r[1] for r in north_rows} == {"north"}
    all_north = [r for r in read_csv(everything["path"])[1:] if r[1] == "north"]
    assert north_rows == all_north  # a region's figures do not depend on the filter


@pytest.mark.parametrize("kwargs", [{"days": 0}, {"days": 400}, {"region": "mars"}, {"seed": "x"}])
def test_sales_report_rejects_bad_input(data_dir, kwargs):
    with pytest.raises(ValueError):
        generate_sales_report(**kwargs)


# --- images -----------------------------------------------------------------


def test_thumbnail_from_generated_sample(data_dir):
    result = make_thumbnail(size=100)
    assert_json_safe(result)
    assert result["source_generated"] is True
    out = Path(result["path"])
    assert out.is_file() and out.parent == data_dir.resolve() / "images"
    with Image.open(out) as img:
        assert img.format == "PNG"
        assert img.size == (result["width"], result["height"])
        assert img.width <= 100 and img.height <= 100
        assert max(img.size) == 100  # the sample is larger, so one side hits the box
    assert (result["source_width"], result["source_height"]) == (640, 400)


def _in_images(data_dir: Path, name: str) -> Path:
    (data_dir / "images").mkdir(parents=True, exist_ok=True)
    return data_dir / "images" / name


def test_thumbnail_from_existing_file(data_dir):
    src = _in_images(data_dir, "photo.jpg")
    Image.new("RGB", (300, 900), "teal").save(src, format="JPEG")
    result = make_thumbnail("photo.jpg", size=64)
    assert result["source"] == "images/photo.jpg"
    with Image.open(result["path"]) as img:
        assert img.format == "PNG" and img.size == (21, 64)
    # An absolute path inside the data directory is accepted too.
    assert make_thumbnail(str(src), size=64)["source"] == "images/photo.jpg"


def test_thumbnail_converts_cmyk(data_dir):
    src = _in_images(data_dir, "print.jpg")
    Image.new("CMYK", (50, 40)).save(src, format="JPEG")
    result = make_thumbnail(str(src), size=32)
    with Image.open(result["path"]) as img:
        assert img.format == "PNG" and img.width <= 32 and img.height <= 32


def test_thumbnail_missing_source(data_dir, tmp_path):
    missing = tmp_path / "nope.png"
    with pytest.raises(FileNotFoundError, match="not found"):
        make_thumbnail(str(missing))


def test_thumbnail_not_an_image(data_dir):
    text = _in_images(data_dir, "notes.txt")
    text.write_text("hello")
    with pytest.raises(ValueError, match="not an image"):
        make_thumbnail(str(text))


@pytest.mark.parametrize("size", [0, 15, 2049, True, "128"])
def test_thumbnail_bad_size(data_dir, size):
    with pytest.raises(ValueError, match="size"):
        make_thumbnail(size=size)


# --- batches ----------------------------------------------------------------


def test_process_batch_without_a_job():
    result = process_batch(items=25, delay=0)
    assert_json_safe(result)
    assert result["items"] == result["processed"] == 25
    assert result["job_id"] is None
    assert len(result["checksum"]) == 64
    assert process_batch(items=25, delay=0)["checksum"] == result["checksum"]
    assert process_batch(items=26, delay=0)["checksum"] != result["checksum"]


def test_process_batch_delay_takes_time():
    started = time.monotonic()
    process_batch(items=4, delay=0.02)
    assert time.monotonic() - started >= 0.08


@pytest.mark.parametrize("kwargs", [{"items": 0}, {"items": -3}, {"delay": -1}, {"delay": 11}, {"items": 2.5}])
def test_process_batch_rejects_bad_input(kwargs):
    with pytest.raises(ValueError):
        process_batch(**kwargs)


# --- clean-up ---------------------------------------------------------------


def make_file(path: Path, age_hours: float, size: int = 10) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    then = time.time() - age_hours * 3600
    os.utime(path, (then, then))
    return path


def test_cleanup_deletes_only_old_files(data_dir, tmp_path):
    old = [
        make_file(data_dir / "reports" / "old.csv", 48, size=100),
        make_file(data_dir / "images" / "old.png", 30, size=50),
        make_file(data_dir / "outbox" / "new" / "old-mail", 25, size=7),
    ]
    fresh = [make_file(data_dir / "reports" / "new.csv", 1), make_file(data_dir / "images" / "new.png", 0)]
    unmanaged = make_file(data_dir / "elsewhere" / "keep.txt", 100)
    outside = make_file(tmp_path / "outside" / "precious.txt", 100)
    (data_dir / "reports" / "link-to-outside").symlink_to(outside)
    (data_dir / "images" / "linked-dir").symlink_to(outside.parent, target_is_directory=True)

    result = cleanup_old_files(max_age_hours=24)
    assert_json_safe(result)
    assert not any(p.exists() for p in old)
    assert all(p.exists() for p in fresh)
    assert unmanaged.exists() and outside.exists()
    assert (data_dir / "reports" / "link-to-outside").is_symlink()
    assert result["deleted"] == 3 and result["bytes_freed"] == 157 and result["kept"] == 2
    assert result["by_dir"]["reports"] == {"deleted": 1, "bytes_freed": 100}
    assert sorted(result["deleted_files"]) == ["images/old.png", "outbox/new/old-mail", "reports/old.csv"]
    assert (data_dir / "outbox" / "new").is_dir()  # folders are kept


def test_cleanup_dry_run_deletes_nothing(data_dir):
    old = make_file(data_dir / "reports" / "old.csv", 48, size=20)
    fresh = make_file(data_dir / "reports" / "fresh.csv", 1)
    result = cleanup_old_files(max_age_hours=24, dry_run=True)
    assert old.exists() and fresh.exists()
    assert result["dry_run"] is True and result["deleted"] == 1 and result["bytes_freed"] == 20


def test_cleanup_skips_a_symlinked_subfolder(data_dir, tmp_path):
    outside = make_file(tmp_path / "elsewhere" / "old.csv", 100)
    data_dir.mkdir(parents=True)
    (data_dir / "reports").symlink_to(outside.parent, target_is_directory=True)
    result = cleanup_old_files(max_age_hours=1)
    assert outside.exists()
    assert result["deleted"] == 0 and result["skipped"] == 1


def test_cleanup_of_real_task_output(data_dir):
    report = Path(generate_sales_report(days=1)["path"])
    mail = Path(send_email_notification("x@example.com", "hi")["location"])
    assert cleanup_old_files(max_age_hours=1)["deleted"] == 0
    result = cleanup_old_files(max_age_hours=0)
    assert result["deleted"] == 2 and not report.exists() and not mail.exists()


@pytest.mark.parametrize("bad", [-1, float("nan"), "24", True])
def test_cleanup_rejects_bad_age(data_dir, bad):
    with pytest.raises(ValueError):
        cleanup_old_files(max_age_hours=bad)


# --- flaky external call ------------------------------------------------------


def seeds(fails: bool, failure_rate: float = 0.3):
    """Seeds whose first draw does (or does not) fall under failure_rate."""
    return [s for s in range(50) if (random.Random(s).random() < failure_rate) is fails]


def test_exchange_rate_seeded_failure_and_success():
    failing, succeeding = seeds(True)[0], seeds(False)[0]
    with pytest.raises(ConnectionError, match="upstream timed out"):
        fetch_exchange_rate("EUR", "USD", failure_rate=0.3, seed=failing)
    rate = fetch_exchange_rate("EUR", "USD", failure_rate=0.3, seed=succeeding)
    assert isinstance(rate, float) and rate > 0
    assert fetch_exchange_rate("EUR", "USD", failure_rate=0.3, seed=succeeding) == rate


def test_exchange_rate_is_deterministic_and_consistent():
    eur_usd = fetch_exchange_rate("EUR", "USD", failure_rate=0)
    usd_eur = fetch_exchange_rate("USD", "EUR", failure_rate=0)
    assert eur_usd == pytest.approx(1 / usd_eur, rel=1e-4)
    assert fetch_exchange_rate("GBP", "GBP", failure_rate=0) == 1.0
    odd = fetch_exchange_rate("XYZ", "QQQ", failure_rate=0)
    assert odd > 0 and odd == fetch_exchange_rate("XYZ", "QQQ", failure_rate=0)


def test_exchange_rate_failure_rate_extremes():
    for _ in range(200):
        assert isinstance(fetch_exchange_rate(failure_rate=0), float)
    for seed in range(20):
        with pytest.raises(ConnectionError):
            fetch_exchange_rate(failure_rate=1, seed=seed)


@pytest.mark.parametrize(
    "kwargs", [{"base": "eur"}, {"quote": "US"}, {"base": "EURO"}, {"quote": 123}, {"failure_rate": 1.5}, {"seed": "1"}]
)
def test_exchange_rate_rejects_bad_input(kwargs):
    # Bad input must be a ValueError even when the call would otherwise fail.
    with pytest.raises(ValueError):
        fetch_exchange_rate(**{"failure_rate": 1.0, **kwargs})
