"""What the restricted unpickler (safepickle.py) may build: the allowed classes and functions, and the
argument checks that keep each constructor linear in its input (no Fraction, no huge Decimal text, small
hashable keys only). Kept apart so the list of what is allowed reads in one place."""

from __future__ import annotations

import codecs
import collections
import datetime
import decimal
import pickle
import uuid
from typing import Any


class Refused(pickle.UnpicklingError):
    """The pickle is refused: `reason` says why, in words for the page."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


MAX_KEY_NODES = 64  # a dict key or set item is hashed recursively: keep it small
MAX_DECIMAL_TEXT = 120


def plain_scalar(value: object) -> bool:
    return value is None or isinstance(
        value,
        str
        | bytes
        | int
        | float
        | complex
        | decimal.Decimal
        | uuid.UUID
        | datetime.date
        | datetime.time
        | datetime.timedelta
        | datetime.tzinfo,
    )


def check_key(value: object) -> None:
    """A dict key or set item must hash in bounded time: scalars, or small tuples/frozensets of them."""
    budget = MAX_KEY_NODES
    pending: list[object] = [value]
    while pending:
        item = pending.pop()
        budget -= 1
        if budget < 0:
            raise Refused("a dict key or set item is too large to hash safely")
        if isinstance(item, tuple | frozenset):
            pending.extend(item)
        elif not plain_scalar(item):
            raise Refused(f"a dict key or set item of type {type(item).__name__}")


def numbers_within(args: tuple[Any, ...], limit: int) -> bool:
    return len(args) <= limit and all(type(a) in (int, float, bool) for a in args)


def reduce_args_ok(func: object, args: tuple[Any, ...]) -> bool:
    """Allowed constructors, with the only argument shapes pickle writes for them."""
    if func in (set, frozenset):
        return args == () or (len(args) == 1 and isinstance(args[0], list | tuple))
    if func is complex:
        return numbers_within(args, 2)
    if func in (datetime.datetime, datetime.date, datetime.time):
        return (
            len(args) <= 2
            and isinstance(args[0], bytes | str)
            and len(args[0]) <= 16
            and (len(args) == 1 or isinstance(args[1], datetime.tzinfo))
        )
    if func is datetime.timedelta:
        return numbers_within(args, 3)
    if func is datetime.timezone:
        return (
            len(args) <= 2
            and isinstance(args[0], datetime.timedelta)
            and (len(args) == 1 or (isinstance(args[1], str) and len(args[1]) <= 100))
        )
    if func is decimal.Decimal:
        # Decimal("1e999999999") is cheap to build and print; a huge coefficient is not worth showing.
        return len(args) == 1 and isinstance(args[0], str) and len(args[0]) <= MAX_DECIMAL_TEXT
    if func is collections.OrderedDict:
        return args == ()
    if func is codecs.encode:  # how protocols 0-2 write bytes
        return len(args) == 2 and isinstance(args[0], str) and bool(args[1] == "latin1")
    return False


# Plain data only, and nothing that a few bytes can make huge (bytearray(10**9), range(...) fed to a
# set, Fraction("1e10000000") whose construction is superlinear in the exponent).
ALLOWED_CLASSES = {
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "complex"): complex,
    ("__builtin__", "set"): set,
    ("__builtin__", "frozenset"): frozenset,
    ("__builtin__", "complex"): complex,
    ("datetime", "datetime"): datetime.datetime,
    ("datetime", "date"): datetime.date,
    ("datetime", "time"): datetime.time,
    ("datetime", "timedelta"): datetime.timedelta,
    ("datetime", "timezone"): datetime.timezone,
    ("decimal", "Decimal"): decimal.Decimal,
    ("uuid", "UUID"): uuid.UUID,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("_codecs", "encode"): codecs.encode,
}
