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
import io
import json
import pickle
import pickletools
import pprint
import zlib
from dataclasses import dataclass

# Decompression is bounded: a small zlib bomb in a job hash must not exhaust the web process.
MAX_DECOMPRESSED = 8 * 1024 * 1024
MAX_TEXT = 200_000

# Plain data only, and nothing that a few bytes can make huge (bytearray(10**9), range(...) fed to a
# set): decoding must stay as cheap as the pickle is small.
_ALLOWED_CLASSES = {
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "complex"),
    ("datetime", "datetime"), ("datetime", "date"), ("datetime", "time"), ("datetime", "timedelta"),
    ("datetime", "timezone"), ("decimal", "Decimal"), ("uuid", "UUID"), ("collections", "OrderedDict"),
    ("fractions", "Fraction"),
}


class UnsafePayload(pickle.UnpicklingError):
    """The pickle names something that is not plain data."""

    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.qualified = f"{module}.{name}"


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED_CLASSES:
            return super().find_class(module, name)
        raise UnsafePayload(module, name)

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("persistent ids are not allowed")


def restricted_loads(data: bytes):
    return RestrictedUnpickler(io.BytesIO(data)).load()


class RestrictedSerializer:
    """An RQ serializer for the console's own Queue/Job objects: it writes pickle like RQ's default
    (workers read it as usual) but reads only plain data, so whatever RQ fetches while enqueueing
    (a dependency's meta, say) can never run code in the console."""

    @staticmethod
    def dumps(value) -> bytes:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def loads(data: bytes):
        return restricted_loads(data)


@dataclass(frozen=True)
class Shown:
    """A payload as it may be displayed."""

    text: str | None  # pretty text of the value, when it could be read safely
    safe: bool
    format: str  # "json", "pickle", "text", "empty", "unknown"
    size: int
    note: str = ""  # why it is not shown, or how it was read
    value: object = None  # the decoded plain value, for callers that need structure (never shown raw)

    @property
    def truncated(self) -> bool:
        return self.text is not None and len(self.text) >= MAX_TEXT


EMPTY = Shown(text=None, safe=True, format="empty", size=0)


def human_size(size: int) -> str:
    for unit in ("B", "KB", "MB"):
        if size < 1024 or unit == "MB":
            return f"{size} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} MB"


def _pretty(value) -> str:
    try:
        text = json.dumps(value, indent=2, ensure_ascii=False, default=str, sort_keys=False)
    except (TypeError, ValueError):
        text = pprint.pformat(value, width=100, sort_dicts=False)
    return text[:MAX_TEXT]


def _no_text(_value) -> None:
    return None


def decompress(raw: bytes) -> bytes | None:
    """zlib-decompressed bytes, at most MAX_DECOMPRESSED; None when not zlib data."""
    try:
        decompressor = zlib.decompressobj()
        out = decompressor.decompress(raw, MAX_DECOMPRESSED)
        return out
    except zlib.error:
        return None


def sniff(raw: bytes) -> str:
    if not raw:
        return "empty"
    if raw[:1] == b"\x80":
        return "pickle"
    if raw[:1] in (b"[", b"{", b'"') or raw.strip()[:1] in (b"[", b"{"):
        return "json"
    return "unknown"


def decode(raw: bytes | None, unsafe: bool = False, pretty: bool = True) -> Shown:
    """A serialized value (RQ's pickle or JSON) as something safe to display."""
    render = _pretty if pretty else _no_text
    if not raw:
        return EMPTY
    size = len(raw)
    kind = sniff(raw)
    if kind == "json":
        try:
            value = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return Shown(None, False, "unknown", size, note=f"unreadable JSON ({human_size(size)})")
        return Shown(render(value), True, "json", size, value=value)
    if kind == "pickle":
        if unsafe:
            try:
                value = pickle.loads(raw)  # noqa: S301 — only with UNSAFE_UNPICKLE, announced in the UI
            except Exception as error:  # any failure of arbitrary code is "cannot show"
                return Shown(None, False, "pickle", size, note=f"could not unpickle: {type(error).__name__}")
            return Shown(render(value) if _is_plain(value) else repr(value)[:MAX_TEXT], True, "pickle", size,
                         note="unpickled without restrictions (UNSAFE_UNPICKLE)", value=value)
        try:
            value = restricted_loads(raw)
        except UnsafePayload as blocked:
            return Shown(None, False, "pickle", size,
                         note=f"not displayable safely: a pickle of {blocked.qualified} ({human_size(size)})")
        except Exception as error:  # truncated or corrupt pickles: say so, never crash a page
            return Shown(None, False, "pickle", size, note=f"unreadable pickle ({type(error).__name__}, "
                                                           f"{human_size(size)})")
        return Shown(render(value), True, "pickle", size, value=value)
    text = raw.decode("utf-8", errors="replace")
    return Shown(text[:MAX_TEXT], True, "text", size, note="raw bytes shown as text")


def _is_plain(value) -> bool:
    if isinstance(value, str | int | float | bool | type(None)):
        return True
    if isinstance(value, list | tuple | set | frozenset):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(_is_plain(k) and _is_plain(v) for k, v in value.items())
    return False


@dataclass(frozen=True)
class JobCall:
    """What a job's `data` field says: the function and its arguments."""

    func_name: str
    args: Shown
    kwargs: Shown
    format: str
    note: str = ""


def first_string(pickled: bytes) -> str | None:
    """The first text constant of a pickle, read with pickletools (no code runs): in an RQ job's
    data that is the function's dotted name, even when the arguments cannot be shown safely."""
    try:
        for opcode, arg, _ in pickletools.genops(pickled):
            if isinstance(arg, str) and opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE",
                                                         "BINUNICODE8", "STRING", "SHORT_BINSTRING"):
                return arg
    except Exception:  # a corrupt pickle has no readable name
        return None
    return None


def decode_job_data(raw: bytes | None, unsafe: bool = False, pretty: bool = True) -> JobCall:
    """Function name and arguments from a job hash's `data` (zlib of the serialized 4-tuple
    (func_name, instance, args, kwargs)). `pretty=False` skips the display text (list rows only
    need the values for a one-line preview)."""
    if not raw:
        return JobCall("", EMPTY, EMPTY, "empty", note="the job has no data field")
    data = decompress(raw)
    if data is None:
        return JobCall("", EMPTY, EMPTY, "unknown", note="the data field is not zlib-compressed")
    shown = decode(data, unsafe=unsafe, pretty=False)
    value = shown.value
    if shown.safe and isinstance(value, list | tuple) and len(value) == 4:
        func_name, _instance, args, kwargs = value
        args, kwargs = list(args or []), dict(kwargs or {})
        return JobCall(
            str(func_name),
            Shown(_pretty(args) if pretty else None, True, shown.format, 0, value=args),
            Shown(_pretty(kwargs) if pretty else None, True, shown.format, 0, value=kwargs),
            shown.format,
        )
    name = first_string(data) if shown.format == "pickle" else ""
    unreadable = Shown(None, False, shown.format, len(data), note=shown.note or "unrecognised job data")
    return JobCall(name or "", unreadable, unreadable, shown.format, note=shown.note)


def decode_exc_info(raw: bytes | None) -> str:
    """A traceback as text: RQ stores it zlib-compressed (older versions: plain text)."""
    if not raw:
        return ""
    data = decompress(raw)
    text = (data if data is not None else raw).decode("utf-8", errors="replace")
    return text[:MAX_TEXT]


def decode_b64_exc_string(raw: bytes | None) -> str:
    """The `exc_string` of a results-stream entry: base64 of zlib of the traceback text."""
    if not raw:
        return ""
    try:
        return decode_exc_info(base64.b64decode(raw))
    except (ValueError, TypeError):
        return ""


def decode_b64_value(raw: bytes | None, unsafe: bool = False) -> Shown:
    """The `return_value` of a results-stream entry: base64 of the serialized value."""
    if not raw:
        return EMPTY
    try:
        return decode(base64.b64decode(raw), unsafe=unsafe)
    except (ValueError, TypeError):
        return Shown(None, False, "unknown", len(raw), note="unreadable result")
