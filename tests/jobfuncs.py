"""Tiny job functions for planting jobs in every state; workers import them by dotted path."""

import time


def add(a, b):
    return a + b


def fail(message="planned failure"):
    raise RuntimeError(message)


def sleep_for(seconds):
    time.sleep(seconds)
    return seconds
