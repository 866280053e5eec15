"""Error fingerprints: which failures are "the same bug". A fingerprint is blake2b (32 hex digits) of the
exception type, the message with its variable parts replaced by placeholders, and the innermost frames of
the traceback without line numbers — so the same bug hit with other ids, numbers, paths or after an edit
that moved lines gets one fingerprint, and another exception type or another place gets another.

Pure functions over text (no Redis). Hostile input cannot hang them: every input is cut to a bound first
and every pattern is linear (bounded repeats, possessive quantifiers, no nested unbounded repeats).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

MAX_MESSAGE_CHARS = 2_000  # what normalisation reads of a message; the rest never changes a group
MAX_NORMALISED_CHARS = 500  # what a normalised message keeps (the group's title)
MAX_TRACEBACK_CHARS = 200_000  # the tail of a traceback that frames are read from (innermost last)
MAX_TYPE_CHARS = 200
FRAMES = 3  # innermost frames in a fingerprint
FINGERPRINT = re.compile(r"[0-9a-f]{32}")  # what fingerprint() returns: check a fingerprint from outside with it
NO_TRACEBACK_TYPE = "(no traceback)"  # the type a failure without a readable traceback is grouped under

# Order matters: a URL holds a path and numbers, an e-mail address a domain, a UUID hex digits.
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]{0,20}://[^\s'\"<>]++")
_EMAIL = re.compile(r"\b[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}+\b")
_UUID = re.compile(r"\b[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\b")
_DATETIME = re.compile(
    r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?(?![\w])"
)
_SEGMENT = r"[/\\][\w.@+~-]{1,255}+"
_PATH = re.compile(rf"(?<![\w/\\.~:-])(?:(?:[A-Za-z]:|~|\.{{1,2}})(?:{_SEGMENT}){{1,64}}+|(?:{_SEGMENT}){{2,64}}+)")
_HEX_PREFIXED = re.compile(r"\b0[xX][0-9a-fA-F]++\b")
_HEX_LONG = re.compile(r"\b[0-9a-fA-F]{8,}+\b")
_TOKEN = re.compile(r"\b[A-Za-z0-9]{20,}+\b")
_IP = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?(?![\w.])")
# A digit run not glued to a letter before it: "int64", "utf8", "py3" are names, "user_42", "42s" not.
_NUMBER = re.compile(r"(?<![A-Za-z0-9])[-+]?\d++(?:\.\d++)?")
# A quoted value, not an apostrophe inside a word ("can't ... won't").
_QUOTED = re.compile(r"""(?<!\w)(['"])([^'"\n]{0,200}+)\1(?!\w)""")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,80}")
_PLACEHOLDER = re.compile(r"<[a-z]+>")
_SPACE = re.compile(r"\s++")


def _hex_id(match: re.Match[str]) -> str:
    # A run of hex letters alone is a word ("deadbeef", "effaced"); with a digit it is an id.
    return "<hex>" if any(ch.isdigit() for ch in match.group()) else match.group()


def _token(match: re.Match[str]) -> str:
    value = match.group()
    digits = sum(ch.isdigit() for ch in value)
    return "<id>" if digits >= 2 and digits < len(value) else value


def _quoted(match: re.Match[str]) -> str:
    # 'email' in KeyError: 'email' names the bug; 'bob smith' or '<n>' is the data that hit it.
    quote, inner = match.group(1), match.group(2)
    if _IDENTIFIER.fullmatch(inner) or _PLACEHOLDER.fullmatch(inner):
        return match.group()
    return f"{quote}<str>{quote}"


def normalise_message(message: str) -> str:
    """The message with its variable parts replaced: URLs <url>, e-mail addresses <email>, UUIDs <uuid>,
    dates and times <time>, file paths <path>, hex ids <hex>, long mixed tokens <id>, IP addresses <ip>,
    numbers <n>, quoted values that are not names <str>; whitespace collapsed. Reads at most
    MAX_MESSAGE_CHARS and returns at most MAX_NORMALISED_CHARS; linear time in the bounded input."""
    text = message[:MAX_MESSAGE_CHARS]
    text = _URL.sub("<url>", text)
    text = _EMAIL.sub("<email>", text)
    text = _UUID.sub("<uuid>", text)
    text = _DATETIME.sub("<time>", text)
    text = _PATH.sub("<path>", text)
    text = _HEX_PREFIXED.sub("<hex>", text)
    text = _HEX_LONG.sub(_hex_id, text)
    text = _TOKEN.sub(_token, text)
    text = _IP.sub("<ip>", text)
    text = _NUMBER.sub("<n>", text)
    text = _QUOTED.sub(_quoted, text)
    return _SPACE.sub(" ", text).strip()[:MAX_NORMALISED_CHARS]


_FRAME = re.compile(r'File "([^"\n]{1,1000}+)", line \d++, in ([^\n]{1,300}+)')


def _frame_name(path: str, function: str) -> str:
    parts = [part for part in re.split(r"[/\\]", path) if part]
    name = parts[-1] if parts else path
    if name == "__init__.py" and len(parts) > 1:
        name = parts[-2]  # a package's __init__ is the package
    if name.endswith(".py"):
        name = name[:-3]
    return f"{name}:{function.strip()}"


def top_frames(traceback_text: str, n: int = FRAMES) -> list[str]:
    """The `n` innermost frames of a Python traceback as "file-basename:function" (no directories, no
    line numbers: moving code or deploying elsewhere keeps them), outermost of them first. Only the last
    traceback of a chained one counts (the exception that was raised). Reads at most the last
    MAX_TRACEBACK_CHARS; linear time; [] for text without frames."""
    if n <= 0:
        return []
    text = traceback_text[-MAX_TRACEBACK_CHARS:]
    start = text.rfind("Traceback (most recent call last):")
    if start > 0:
        text = text[start:]
    frames = [_frame_name(match.group(1), match.group(2)) for match in _FRAME.finditer(text)]
    return frames[-n:]


def fingerprint(exc_type: str, message: str, traceback_text: str) -> str:
    """32 hex digits: blake2b of the exception type, the normalised message and the innermost frames.
    Equal for the same bug with other ids, numbers, paths or line numbers; cost linear in the bounded
    inputs (see normalise_message, top_frames)."""
    return fingerprint_of_frames(exc_type, message, top_frames(traceback_text))


def fingerprint_of_frames(exc_type: str, message: str, frames: Sequence[str]) -> str:
    """fingerprint() when the frames were read already (a row keeps them: rows.Failure.frames)."""
    parts = [exc_type.strip()[:MAX_TYPE_CHARS], normalise_message(message), *frames[-FRAMES:]]
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8", errors="replace"), digest_size=16).hexdigest()


def exception_line(traceback_text: str) -> tuple[str, str] | None:
    """(type, message) from the exception line of a Python traceback: the first unindented line after
    the last frame (later lines are the rest of a multi-line message, or notes); None for empty text.
    A line that is no "Type: message" is ("Error", the line)."""
    lines = traceback_text[-MAX_TRACEBACK_CHARS:].strip().splitlines()
    if not lines:
        return None
    last_frame = max((i for i, line in enumerate(lines) if line.startswith('  File "')), default=-1)
    tail = [line for line in lines[last_frame + 1 :] if line.strip() and not line.startswith((" ", "\t"))]
    if last_frame < 0 or not tail:  # no frames: the last line is the best guess
        tail = [line for line in lines if line.strip()][-1:]
    first = tail[0].strip()
    exc_type, sep, message = first.partition(": ")
    if not sep:
        exc_type, message = first.rstrip(":"), ""
    if " " in exc_type or not exc_type:
        return "Error", first
    return exc_type, message


def exception_of(traceback_text: str) -> tuple[str, str]:
    """(exception type, message) of a traceback as RQ stores it; (NO_TRACEBACK_TYPE, "") without one."""
    return exception_line(traceback_text) or (NO_TRACEBACK_TYPE, "")


def traceback_fingerprint(traceback_text: str) -> str:
    """The fingerprint of a failure known only by its traceback text (a job hash's exc_info): its
    exception line gives type and message. A failure without a traceback has one fingerprint of its own
    (NO_TRACEBACK_FINGERPRINT)."""
    exc_type, message = exception_of(traceback_text)
    return fingerprint(exc_type, message, traceback_text)


NO_TRACEBACK_FINGERPRINT = fingerprint_of_frames(NO_TRACEBACK_TYPE, "", ())
