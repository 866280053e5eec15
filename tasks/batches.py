"""A long-running batch job that reports its progress."""

from __future__ import annotations

import hashlib
import time

from rq import get_current_job

from .registry import task

MAX_ITEMS = 1_000_000
MAX_DELAY = 10.0
# Progress is written to Redis at most this often; the final 100% is always saved.
SAVE_INTERVAL_SECONDS = 0.2
# Hashing rounds per item: enough to be real CPU work, small enough to stay quick.
ROUNDS_PER_ITEM = 200


def _progress(done: int, total: int) -> dict:
    return {"done": done, "total": total, "percent": round(100 * done / total, 1)}


def _process_item(index: int) -> bytes:
    digest = f"item-{index}".encode()
    for _ in range(ROUNDS_PER_ITEM):
        digest = hashlib.sha256(digest).digest()
    return digest


@task(queue="low", timeout=3600)
def process_batch(items: int = 100, delay: float = 0.05) -> dict:
    """Process a batch of items one by one, reporting progress as it goes.

    Each item is fingerprinted (repeated SHA-256) and folded into a checksum
    for the whole batch. While it runs, the job's progress (done / total /
    percent) is visible in the console.

    - items: number of items to process (1-1,000,000)
    - delay: extra pause per item in seconds (0-10), to simulate slow items

    Expected run time is roughly items x delay seconds.
    """
    if isinstance(items, bool) or not isinstance(items, int) or not 1 <= items <= MAX_ITEMS:
        raise ValueError(f"items must be a whole number from 1 to {MAX_ITEMS:,}, got {items!r}")
    if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= MAX_DELAY:
        raise ValueError(f"delay must be between 0 and {MAX_DELAY:g} seconds, got {delay!r}")

    job = get_current_job()  # None when called directly rather than by a worker
    started = time.monotonic()
    last_save = started
    if job is not None:
        job.meta["progress"] = _progress(0, items)
        job.save_meta()

    batch = hashlib.sha256()
    for i in range(1, items + 1):
        batch.update(_process_item(i))
        if delay:
            time.sleep(delay)
        if job is not None:
            job.meta["progress"] = _progress(i, items)
            now = time.monotonic()
            if i == items or now - last_save >= SAVE_INTERVAL_SECONDS:
                job.save_meta()
                last_save = now

    return {
        "items": items,
        "processed": items,
        "checksum": batch.hexdigest(),
        "elapsed_seconds": round(time.monotonic() - started, 3),
        "job_id": job.id if job is not None else None,
    }
