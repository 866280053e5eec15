"""Showing job payloads (args, kwargs, meta, results) without ever running code from Redis.

RQ's default serializer is pickle, and unpickling runs whatever the pickle says: anyone who can write
a job hash could run code in the console. So, by default:
- JSON payloads (RQ's JSONSerializer) are parsed as JSON;
- pickles go through an unpickler that only builds plain data types (numbers, text, containers,
  dates, UUIDs, decimals); a pickle naming any other class or function is refused, and shown as
  "not displayable safely" with the class it names and its size.
Full unpickling exists only for trusted deployments (UNSAFE_UNPICKLE=true), and the UI says so.
"""

from __future__ import annotations

import base64
import json
import pickle
import pickletools
import struct
import zlib
from dataclasses import dataclass
from typing import Any

from dashboard.rqlayer import preview
from dashboard.rqlayer.safepickle import Partial, Refused, UnsafePayload, bounded_loads

__all__ = [
    "EMPTY",
    "JobCall",
    "RestrictedSerializer",
    "Shown",
    "UnsafePayload",
    "decode",
    "decode_job_data",
    "restricted_loads",
]

# Decompression is bounded: a small zlib bomb in a job hash must not exhaust the web process.
MAX_DECOMPRESSED = 8 * 1024 * 1024
MAX_TEXT = 200_000
# A list row decompresses and reads only this much of a job's data: enough for the call's start.
PREVIEW_BYTES = 16 * 1024
# What is left after the budgets: any of these from a decoder or renderer means "cannot be shown".
DECODE_ERRORS = (
    RecursionError,
    ValueError,
    MemoryError,
    OverflowError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    EOFError,
    pickle.UnpicklingError,
    struct.error,
    UnicodeDecodeError,
)


def restricted_loads(data: bytes) -> Any:
    """Plain data from a pickle (see safepickle): raises Refused/UnsafePayload for anything else."""
    return bounded_loads(data)


class RestrictedSerializer:
    """An RQ serializer for the console's own Queue/Job objects: it writes pickle like RQ's default
    (workers read it as usual) but reads only plain data, so whatever RQ fetches while enqueueing
    (a dependency's meta, say) can never run code in the console."""

    @staticmethod
    def dumps(value: object) -> bytes:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def loads(data: bytes) -> Any:
        return restricted_loads(data)


@dataclass(frozen=True)
class Shown:
    """A payload as it may be displayed. `value` is set only when `safe`: then it is plain data and a
    finite tree of bounded size (preview.measure), so callers may repr or serialise it whole."""

    text: str | None  # pretty text of the value (at most MAX_TEXT characters), when it could be read
    safe: bool
    format: str  # "json", "pickle", "text", "empty", "unknown"
    size: int
    note: str = ""  # why it is not shown, or how it was read
    value: object = None  # the decoded plain value, for callers that need structure (never shown raw)
    complete: bool = True  # False: `text` is the start of the value only

    @property
    def truncated(self) -> bool:
        return self.text is not None and not self.complete


EMPTY = Shown(text=None, safe=True, format="empty", size=0)


def human_size(size: int) -> str:
    scaled = float(size)
    for unit in ("B", "KB", "MB"):
        if scaled < 1024 or unit == "MB":
            return f"{size} {unit}" if unit == "B" else f"{scaled:.1f} {unit}"
        scaled /= 1024
    return f"{scaled:.1f} MB"


def cannot_show(fmt: str, size: int, why: str) -> Shown:
    return Shown(None, False, fmt, size, note=f"cannot be shown safely: {why} ({human_size(size)})")


def _shown_value(value: object, fmt: str, size: int, pretty: bool, note: str = "") -> Shown:
    """A decoded value as Shown: text rendered within MAX_TEXT; a value that is no bounded tree (shared
    references expanding to millions of items, a cycle, extreme depth) keeps only its bounded text."""
    problem = preview.measure(value)
    if problem:
        text, _ = preview.render(value, 2_000)
        return Shown(text, False, fmt, size, note=f"shown in part only: {problem}", complete=False)
    if not pretty:
        return Shown(None, True, fmt, size, note=note, value=value)
    text, complete = preview.render(value, MAX_TEXT)
    return Shown(text, True, fmt, size, note=note, value=value, complete=complete)


def decompress(raw: bytes, limit: int = MAX_DECOMPRESSED) -> bytes | None:
    """zlib-decompressed bytes, at most `limit`; None when not zlib data."""
    return _decompress(raw, limit)[0]


def _decompress(raw: bytes, limit: int) -> tuple[bytes | None, bool]:
    """(at most `limit` decompressed bytes or None when not zlib, whether that is all of it)."""
    try:
        decompressor = zlib.decompressobj()
        out = decompressor.decompress(raw, limit)
    except zlib.error:
        return None, False
    return out, decompressor.eof and not decompressor.unconsumed_tail


def sniff(raw: bytes) -> str:
    if not raw:
        return "empty"
    if raw[:1] == b"\x80":
        return "pickle"
    if raw[:1] in (b"[", b"{", b'"') or raw.strip()[:1] in (b"[", b"{"):
        return "json"
    return "unknown"


def decode(raw: bytes | None, unsafe: bool = False, pretty: bool = True) -> Shown:
    """A serialized value (RQ's pickle or JSON) as something safe to display. Cost: O(len(raw)) plus the
    restricted reader's opcode budget and MAX_TEXT of rendering; never raises."""
    if not raw:
        return EMPTY
    try:
        return _decode(raw, unsafe, pretty)
    except DECODE_ERRORS as error:  # whatever the budgets did not catch becomes a cell, never a 500
        return cannot_show(sniff(raw), len(raw), type(error).__name__)


def _decode(raw: bytes, unsafe: bool, pretty: bool) -> Shown:
    size = len(raw)
    kind = sniff(raw)
    if kind == "json":
        try:
            value = json.loads(raw)
        except RecursionError:
            return cannot_show("json", size, "JSON nested too deeply")
        except (ValueError, UnicodeDecodeError):
            return Shown(None, False, "unknown", size, note=f"unreadable JSON ({human_size(size)})")
        return _shown_value(value, "json", size, pretty)
    if kind == "pickle":
        if unsafe:
            try:
                value = pickle.loads(raw)  # noqa: S301 — only with UNSAFE_UNPICKLE, announced in the UI
            except Exception as error:  # any failure of arbitrary code is "cannot show"
                return Shown(None, False, "pickle", size, note=f"could not unpickle: {type(error).__name__}")
            note = "unpickled without restrictions (UNSAFE_UNPICKLE)"
            if _is_plain(value):
                return _shown_value(value, "pickle", size, pretty, note=note)
            return Shown(preview.short(value, MAX_TEXT), True, "pickle", size, note=note, value=value)
        try:
            value = restricted_loads(raw)
        except UnsafePayload as blocked:
            return Shown(
                None,
                False,
                "pickle",
                size,
                note=f"not displayable safely: a pickle of {blocked.qualified} ({human_size(size)})",
            )
        except Refused as refused:
            return cannot_show("pickle", size, refused.reason)
        except DECODE_ERRORS as error:  # truncated or corrupt pickles: say so, never crash a page
            return Shown(
                None, False, "pickle", size, note=f"unreadable pickle ({type(error).__name__}, {human_size(size)})"
            )
        return _shown_value(value, "pickle", size, pretty)
    text = raw[: MAX_TEXT * 4].decode("utf-8", errors="replace")
    return Shown(
        text[:MAX_TEXT],
        True,
        "text",
        size,
        note="raw bytes shown as text",
        complete=len(text) <= MAX_TEXT and len(raw) <= MAX_TEXT * 4,
    )


def _is_plain(value: object, depth: int = 0) -> bool:
    if depth > preview.MAX_DEPTH:
        return False
    if isinstance(value, str | int | float | bool | type(None)):
        return True
    if isinstance(value, list | tuple | set | frozenset):
        return all(_is_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(_is_plain(k, depth + 1) and _is_plain(v, depth + 1) for k, v in value.items())
    return False


@dataclass(frozen=True)
class JobCall:
    """What a job's `data` field says: the function and its arguments. `preview` is set by list rows:
    a one-line text of the arguments built from a bounded prefix of the data."""

    func_name: str
    args: Shown
    kwargs: Shown
    format: str
    note: str = ""
    preview: str | None = None


def first_string(pickled: bytes) -> str | None:
    """The first text constant of a pickle, read with pickletools (no code runs): in an RQ job's
    data that is the function's dotted name, even when the arguments cannot be shown safely."""
    try:
        for opcode, arg, _ in pickletools.genops(pickled):
            if isinstance(arg, str) and opcode.name in (
                "SHORT_BINUNICODE",
                "BINUNICODE",
                "UNICODE",
                "BINUNICODE8",
                "STRING",
                "SHORT_BINSTRING",
            ):
                return arg[:500]
    except Exception:  # a corrupt or cut pickle has no readable name
        return None
    return None


def decode_job_data(
    raw: bytes | None, unsafe: bool = False, pretty: bool = True, preview_only: bool = False
) -> JobCall:
    """Function name and arguments from a job hash's `data` (zlib of the serialized 4-tuple
    (func_name, instance, args, kwargs)). `pretty=False` skips the display text. `preview_only` (list
    rows) reads at most PREVIEW_BYTES of it and sets `preview` instead of values: O(PREVIEW_BYTES)
    whatever the size of the arguments. Never raises."""
    if not raw:
        return JobCall("", EMPTY, EMPTY, "empty", note="the job has no data field")
    try:
        if preview_only:
            return _job_data_preview(raw, unsafe)
        return _job_data(raw, unsafe, pretty)
    except DECODE_ERRORS as error:
        unreadable = cannot_show("unknown", len(raw), type(error).__name__)
        return JobCall("", unreadable, unreadable, "unknown", note=unreadable.note)


def _job_data(raw: bytes, unsafe: bool, pretty: bool) -> JobCall:
    data = decompress(raw)
    if data is None:
        return JobCall("", EMPTY, EMPTY, "unknown", note="the data field is not zlib-compressed")
    shown = decode(data, unsafe=unsafe, pretty=False)
    value = shown.value
    if shown.safe and isinstance(value, list | tuple) and len(value) == 4:
        func_name, _instance, args, kwargs = value
        args, kwargs = _as_args(args), _as_kwargs(kwargs)
        if args is not None and kwargs is not None:
            return JobCall(
                str(func_name)[:500],
                _shown_value(args, shown.format, 0, pretty),
                _shown_value(kwargs, shown.format, 0, pretty),
                shown.format,
            )
    name = first_string(data) if shown.format == "pickle" else ""
    note = shown.note or "unrecognised job data"
    unreadable = Shown(
        shown.text if not shown.safe else None, False, shown.format, len(data), note=note, complete=False
    )
    return JobCall(name or "", unreadable, unreadable, shown.format, note=note)


def _as_args(args: object) -> list[Any] | None:
    if args is None:
        return []
    return list(args) if isinstance(args, list | tuple) else None


def _as_kwargs(kwargs: object) -> dict[Any, Any] | None:
    if kwargs is None:
        return {}
    return dict(kwargs) if isinstance(kwargs, dict) else None


PREVIEW_CHARS = 160
PART_CHARS = 60


def _job_data_preview(raw: bytes, unsafe: bool) -> JobCall:
    data, whole = _decompress(raw, PREVIEW_BYTES)
    if data is None:
        return JobCall("", EMPTY, EMPTY, "unknown", note="the data field is not zlib-compressed")
    kind = sniff(data)
    if kind == "pickle" and not (unsafe and whole):
        try:
            value = bounded_loads(data, preview=True)
        except UnsafePayload as blocked:
            return _preview_refused(data, "pickle", f"not displayable safely: a pickle of {blocked.qualified}")
        except Refused as refused:
            return _preview_refused(data, "pickle", f"cannot be shown safely: {refused.reason}")
        except DECODE_ERRORS as error:
            return _preview_refused(data, "pickle", f"unreadable pickle ({type(error).__name__})")
        items = value.items if isinstance(value, Partial) else value
        cut = isinstance(value, Partial) or not whole
        if not isinstance(items, list | tuple) or not items or not isinstance(items[0], str):
            return _preview_refused(data, "pickle", "unrecognised job data")
        return _preview_call(str(items[0])[:500], list(items[2:]), cut, "pickle")
    if kind == "json" and not whole:
        # A JSON prefix cannot be parsed: its text is the preview (it is plain text already).
        text = data.decode("utf-8", errors="ignore")
        head, _, rest = text.lstrip("[ ").partition(",")
        name = head.strip().strip('"')[:500]
        shown = Shown(None, True, "json", 0)
        return JobCall(name, shown, shown, "json", preview=_cut_preview(rest.strip(), True))
    call = _job_data(raw, unsafe, pretty=False)
    if not call.args.safe:
        return call
    return _preview_call(call.func_name, [call.args.value, call.kwargs.value], False, call.format)


def func_name_of(raw: bytes | None) -> str:
    """Only the function's dotted name from a job's `data`, from its first PREVIEW_BYTES: nothing is
    unpickled (pickletools reads the first text constant). Cost O(PREVIEW_BYTES)."""
    data = decompress(raw, PREVIEW_BYTES) if raw else None
    if not data:
        return ""
    if sniff(data) == "pickle":
        return first_string(data) or ""
    head = data.decode("utf-8", errors="ignore").lstrip("[ ").partition(",")[0]
    return head.strip().strip('"')[:500]


def _preview_refused(data: bytes, fmt: str, note: str) -> JobCall:
    shown = Shown(None, False, fmt, len(data), note=note)
    return JobCall(first_string(data) or "" if fmt == "pickle" else "", shown, shown, fmt, note=note)


def _preview_call(func_name: str, rest: list[Any], cut: bool, fmt: str) -> JobCall:
    """The one-line preview of `args, k=v` from what was read: a complete (args, kwargs) pair, or the
    pieces a cut read built (then ending in "…")."""
    parts = []
    if rest and isinstance(rest[0], list | tuple):
        parts += [preview.short(v, PART_CHARS) for v in rest[0]]
        if len(rest) > 1 and isinstance(rest[1], dict):
            parts += [f"{k}={preview.short(v, PART_CHARS)}" for k, v in list(rest[1].items())[:20]]
            rest = rest[2:]
        else:
            rest = rest[1:]
    parts += [preview.short(v, PART_CHARS) for v in rest[:20] if not (isinstance(v, dict | tuple) and not v)]
    shown = Shown(None, True, fmt, 0)
    return JobCall(func_name, shown, shown, fmt, preview=_cut_preview(", ".join(parts), cut))


def _cut_preview(text: str, cut: bool) -> str:
    if len(text) > PREVIEW_CHARS:
        return text[:PREVIEW_CHARS] + "…"
    return text + " …" if cut else text


def decode_b64_value(raw: bytes | None, unsafe: bool = False) -> Shown:
    """The `return_value` of a results-stream entry: base64 of the serialized value."""
    if not raw:
        return EMPTY
    try:
        return decode(base64.b64decode(raw), unsafe=unsafe)
    except (ValueError, TypeError):
        return Shown(None, False, "unknown", len(raw), note="unreadable result")
