"""Error fingerprints: the same bug with other ids, numbers, paths or line numbers is one group; another
exception type or another place is another; hostile text never hangs (no Redis, no timing asserts beyond
"finishes": the bound is the input cut and linear patterns)."""

from __future__ import annotations

import re
import time

import pytest

from dashboard.rqlayer.fingerprint import (
    NO_TRACEBACK_TYPE,
    exception_of,
    fingerprint,
    normalise_message,
    top_frames,
    traceback_fingerprint,
)


def traceback_of(message: str, line: int = 30, function: str = "send", root: str = "/app") -> str:
    return (
        "Traceback (most recent call last):\n"
        f'  File "{root}/venv/lib/python3.11/site-packages/rq/job.py", line 1200, in perform\n'
        "    self._result = self._execute()\n"
        f'  File "{root}/tasks/__init__.py", line {line - 10}, in run\n'
        "    return send()\n"
        f'  File "{root}/tasks/mail.py", line {line}, in {function}\n'
        '    raise ValueError(f"...")\n'
        f"ValueError: {message}\n"
    )


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("User 42 not found", "User 1234 not found"),
        ("job 3f2a1b4c-1234-4abc-8def-0123456789ab failed", "job 00000000-aaaa-4bbb-8ccc-dddddddddddd failed"),
        ("job 3f2a1b4c12344abc8def0123456789ab failed", "job 99999999aaaa4bbb8cccdddddddddddd failed"),
        ("no such file: /var/data/2024/a.csv", "no such file: /srv/other/b.csv"),
        ("fetch https://api.example.com/v1/users/7?x=1 failed", "fetch http://other.test/a failed"),
        ("bounced: alice@example.com", "bounced: bob.smith+tag@mail.example.org"),
        ("object at 0x7f3a2b1c0d90", "object at 0x10fe"),
        ("connect 10.0.0.1:6379 refused", "connect 192.168.1.20:6380 refused"),
        ("deadline 2024-01-02T10:11:12Z passed", "deadline 2025-12-31 23:59:59.123+02:00 passed"),
        ("invalid literal for int() with base 10: 'abc def'", "invalid literal for int() with base 10: '12 x'"),
        ("took 2.5s  then\tgave up", "took 30s then gave up"),
    ],
)
def test_variable_parts_do_not_change_the_fingerprint(one: str, other: str) -> None:
    assert normalise_message(one) == normalise_message(other)
    assert fingerprint("ValueError", one, traceback_of(one)) == fingerprint("ValueError", other, traceback_of(other))


def test_placeholders_and_names_kept() -> None:
    assert normalise_message("User 42 at /a/b.py") == "User <n> at <path>"
    # Names are the bug: a key, a dtype, an encoding stay; data in quotes goes.
    assert normalise_message("KeyError: 'email'") != normalise_message("KeyError: 'name'")
    assert normalise_message("int64 overflow in utf8") == "int64 overflow in utf8"
    assert normalise_message("can't, won't") == "can't, won't"
    assert normalise_message("value 'bob smith'") == "value '<str>'"


def test_type_and_frames_make_other_groups() -> None:
    tb = traceback_of("User 42")
    base = fingerprint("ValueError", "User 42", tb)
    assert re.fullmatch(r"[0-9a-f]{32}", base)
    assert fingerprint("KeyError", "User 42", tb) != base
    assert fingerprint("ValueError", "Order 42", tb) != base
    assert fingerprint("ValueError", "User 42", traceback_of("User 42", function="resend")) != base


def test_line_numbers_and_install_paths_do_not_matter() -> None:
    one = traceback_of("User 42", line=30, root="/app")
    other = traceback_of("User 7", line=95, root="/srv/releases/2024-06-01")
    assert top_frames(one) == ["job:perform", "tasks:run", "mail:send"] == top_frames(other)
    assert top_frames(one, 1) == ["mail:send"]
    assert traceback_fingerprint(one) == traceback_fingerprint(other)


def test_chained_traceback_counts_the_raised_one() -> None:
    chained = (
        traceback_of("first")
        + "\nDuring handling of the above exception, another exception occurred:\n\n"
        + 'Traceback (most recent call last):\n  File "/app/tasks/other.py", line 3, in handler\n'
        + "    raise KeyError('x')\nKeyError: 'x'\n"
    )
    assert top_frames(chained) == ["other:handler"]
    assert exception_of(chained) == ("KeyError", "'x'")


def test_no_traceback_has_one_fingerprint() -> None:
    assert exception_of("") == (NO_TRACEBACK_TYPE, "")
    assert top_frames("not a traceback") == []
    assert traceback_fingerprint("") == traceback_fingerprint("   ")


@pytest.mark.parametrize(
    "hostile",
    [
        "a" * 1_000_000,
        "/a" * 500_000,
        "a@" * 500_000,
        "a." * 500_000,
        "'" * 1_000_000,
        "1." * 500_000,
        "0x" + "f" * 1_000_000,
        "-" * 1_000_000,
        ("x" * 63 + "@") * 16_000,
    ],
)
def test_hostile_megabyte_is_fast(hostile: str) -> None:
    started = time.monotonic()
    normalise_message(hostile)
    top_frames('  File "' + hostile + '", line 1, in f\n' + hostile)
    fingerprint("E", hostile, hostile)
    # Generous: milliseconds in practice; a super-linear pattern would take minutes.
    assert time.monotonic() - started < 5
