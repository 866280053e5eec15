"""Tiny job functions for planting jobs in every state; workers import them by dotted path."""

import time


def add(a, b):
    return a + b


def fail(message="planned failure"):
    raise RuntimeError(message)


def sleep_for(seconds):
    time.sleep(seconds)
    return seconds


def record_run(tag="runs"):
    """Counts its executions per job id in Redis, so tests can prove a job ran exactly once."""
    from rq import get_current_job

    job = get_current_job()
    job.connection.hincrby(f"test:{tag}", job.id, 1)
    return job.id
