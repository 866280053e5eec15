"""File tasks stay inside their data directory, and e-mail goes out only from configured senders.

The thumbnail task refuses any path outside the data directory with the message a missing file
gets (so a job cannot probe the worker's files); the clean-up task cannot be redirected outside by
a folder swapped for a symlink while it runs (a real swap, from another thread, mid-run)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from tasks.images import make_thumbnail
from tasks.maintenance import cleanup_old_files
from tasks.notifications import send_digest, send_email_notification


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    monkeypatch.setenv("CONSOLE_DATA_DIR", str(root))
    monkeypatch.delenv("SMTP_HOST", raising=False)
    monkeypatch.delenv("MAIL_ALLOWED_SENDERS", raising=False)
    return root.resolve()


def _error(source: str) -> str:
    with pytest.raises(FileNotFoundError) as error:
        make_thumbnail(source)
    return str(error.value).replace(repr(source), "<source>")


def test_thumbnail_refuses_outside_files_with_the_missing_file_message(data_dir, tmp_path):
    outside = tmp_path / "secret.png"
    Image.new("RGB", (10, 10)).save(outside)
    (data_dir / "images" / "link.png").symlink_to(outside)
    (data_dir / "images" / "dirlink").symlink_to(tmp_path, target_is_directory=True)
    os.mkfifo(data_dir / "images" / "pipe.png")
    missing = _error("nope.png")
    assert missing == "Source image not found in the data directory: <source>"
    for probe in [
        str(outside),
        "../../secret.png",
        "link.png",
        "dirlink/secret.png",
        "/etc/passwd",
        str(data_dir / "images"),
        "pipe.png",
        ".",
    ]:
        assert _error(probe) == missing, probe
    assert str(tmp_path) not in missing


def test_thumbnail_never_reads_through_a_folder_swapped_for_a_link(data_dir, tmp_path):
    inside = data_dir / "images" / "album"
    inside.mkdir()
    Image.new("RGB", (40, 20)).save(inside / "pic.png")
    outside = tmp_path / "outside"
    outside.mkdir()
    Image.new("RGB", (30, 30)).save(outside / "pic.png")
    parked = data_dir / "images" / "album.real"
    stop = threading.Event()

    def swap():
        while not stop.is_set():
            inside.rename(parked)
            inside.symlink_to(outside, target_is_directory=True)
            time.sleep(0.001)
            inside.unlink()
            parked.rename(inside)
            time.sleep(0.001)

    swapper = threading.Thread(target=swap)
    swapper.start()
    sizes = set()
    try:
        for _ in range(100):
            try:
                result = make_thumbnail("album/pic.png", size=16)
                sizes.add((result["source_width"], result["source_height"]))
            except FileNotFoundError:
                sizes.add("refused")
    finally:
        stop.set()
        swapper.join()
    assert (30, 30) not in sizes, "read the outside file through the swapped link"
    assert (40, 20) in sizes, "the real folder was read between swaps"


def _old_file(path: Path) -> None:
    path.write_bytes(b"x")
    os.utime(path, (time.time() - 86400 * 3,) * 2)


def test_cleanup_is_not_redirected_by_a_symlink_swap_mid_run(data_dir, tmp_path):
    count = 4000
    inside = data_dir / "images" / "batch"
    inside.mkdir()
    outside = tmp_path / "precious"
    outside.mkdir()
    for n in range(count):
        _old_file(inside / f"f{n:05}")
        _old_file(outside / f"f{n:05}")
    parked = data_dir / "images" / "batch.real"
    swapped_with_left = []

    def swap_once_deleting_starts():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            left = len(os.listdir(inside))
            if left < count:
                inside.rename(parked)
                inside.symlink_to(outside, target_is_directory=True)
                swapped_with_left.append(left)
                return
            time.sleep(0.0005)

    swapper = threading.Thread(target=swap_once_deleting_starts)
    swapper.start()
    result = cleanup_old_files(max_age_hours=1)
    swapper.join()
    assert swapped_with_left and swapped_with_left[0] > 0, "the swap happened while the clean-up ran"
    assert len(os.listdir(outside)) == count, "nothing outside the data directory was deleted"
    assert inside.is_symlink(), "the link itself is left alone"
    assert os.listdir(parked) == [] and result["deleted"] == count


def test_email_only_from_configured_senders(data_dir, monkeypatch):
    with pytest.raises(ValueError, match="not an allowed sender"):
        send_email_notification("bob@example.com", "hi", from_addr="ceo@example.com")
    assert send_email_notification("bob@example.com", "hi")["delivered_via"] == "maildir"
    monkeypatch.setenv("MAIL_ALLOWED_SENDERS", "alerts@example.com, Ops@Example.com")
    with pytest.raises(ValueError, match="allowed: alerts@example.com, ops@example.com"):
        send_email_notification("bob@example.com", "hi")  # the default is no longer configured
    assert send_email_notification("bob@example.com", "hi", from_addr="Ops <ops@example.COM>")["to"]
    with pytest.raises(ValueError, match="not an allowed sender"):
        send_digest(["bob@example.com"], from_addr="Ops <ceo@example.com>")
    assert len(list((data_dir / "outbox" / "new").iterdir())) == 2, "only the allowed senders' mail went out"
