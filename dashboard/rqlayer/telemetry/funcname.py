"""The function name of a job, read from its data without unpickling it (Flask-free).

RQ stores a job's call as `serializer.dumps((func_name, instance, args, kwargs))`. With RQ's default
serializer (pickle, protocol 2 or later) the function name is the first string of the pickle stream,
so the worker can read it before it forks, without running any of the pickle (which may import the
application's modules: that is the work horse's business). Anything else — another serializer, an
unusual pickle — gives None, and the work horse asks RQ (`job.func_name`) as usual.
"""

from __future__ import annotations

PROTO, FRAME, MARK, NONE = 0x80, 0x95, 0x28, 0x4E
SHORT_BINUNICODE, BINUNICODE, BINUNICODE8 = 0x8C, 0x58, 0x8D
# The memo opcodes that may follow a string: MEMOIZE (protocol 4+), BINPUT and LONG_BINPUT, with their sizes.
MEMO = {0x94: 1, 0x71: 2, 0x72: 5}
LIMIT = 100_000


def _string(data: bytes, at: int) -> tuple[int, int] | None:
    """(start, size) of the string whose opcode is at `at`, None when there is none."""
    op = data[at]
    if op == SHORT_BINUNICODE:
        start, size = at + 2, data[at + 1] if at + 1 < len(data) else -1
    elif op == BINUNICODE:
        start, size = at + 5, int.from_bytes(data[at + 1 : at + 5], "little")
    elif op == BINUNICODE8:
        start, size = at + 9, int.from_bytes(data[at + 1 : at + 9], "little")
    else:
        return None
    return (start, size) if 0 <= size <= LIMIT and start + size < len(data) else None


def peek_function(data: bytes | None) -> str | None:
    """The first element of a pickled (func_name, None, args, kwargs) tuple: a string followed by the
    instance None (a plain function, RQ's usual case; anything else, such as a method's instance or a
    string that belongs to a global reference, gives None). O(length of the name)."""
    if not isinstance(data, bytes) or len(data) < 4 or data[0] != PROTO or data[1] < 2:
        return None
    at = 11 if data[2] == FRAME else 2
    at += 1 if at < len(data) and data[at] == MARK else 0
    found = _string(data, at) if at < len(data) else None
    if found is None:
        return None
    start, size = found
    at = start + size
    for _ in range(3):  # a new FRAME (after a long string) and the string's memo entry may come between
        at += 9 if data[at] == FRAME else MEMO.get(data[at], 0)
        if at >= len(data):
            return None
    if data[at] != NONE:
        return None
    try:
        return data[start : start + size].decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return None
