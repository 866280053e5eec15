"""A pickle reader that builds plain data only, at a cost bounded by the pickle's size and a budget.

Refusing classes (find_class) is not enough: a few bytes of allowed opcodes can still cost seconds
(40,000 dict keys that hash alike, an int of 100,000 digits, `Fraction("1e10000000")`) or build a value
whose rendering explodes (`x = [x, x]` twenty levels deep). So this reader is Python's pure-Python
unpickler with every opcode counted against a budget, ints capped, dict and set inserts checked for
colliding hashes, and each allowed constructor called only with arguments it handles in linear time.

With `preview=True` (list rows) strings are cut to a few hundred characters as they are read and a
pickle that ends early (only a prefix was decompressed) or runs out of budget yields what was built so
far (`Partial`) instead of an error.
"""

from __future__ import annotations

import io
import pickle
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from dashboard.rqlayer.pickle_allowlist import ALLOWED_CLASSES, check_key, reduce_args_ok
from dashboard.rqlayer.pickle_allowlist import Refused as Refused

# Python refuses int <-> str conversions above 4300 digits (sys.int_max_str_digits): stay below it,
# so rendering an int can never raise or take quadratic time.
MAX_INT_DIGITS = 4000
MAX_INT_BYTES = MAX_INT_DIGITS * 10 // 24  # a LONG4 of this many bytes has at most ~MAX_INT_DIGITS digits
MAX_OPS = 50_000  # about 30 ms of pure-Python unpickling
PREVIEW_OPS = 3_000
PREVIEW_STR = 200
MAX_SAME_HASH = 8  # distinct non-text keys of one container sharing a full hash: past this, an attack


class UnsafePayload(Refused):
    """The pickle names something that is not plain data."""

    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"a pickle of {module}.{name}")
        self.qualified = f"{module}.{name}"


class _Cut(Exception):
    """Preview mode: the data ended (a prefix) or the budget ran out; keep what was built."""


@dataclass(frozen=True)
class Partial:
    """What a preview read built before the data or its budget ended: the top-level items, in order."""

    items: list[Any]


# pickle's private helpers (_Unframer, _Stop) have no stubs.
_PICKLE: Any = pickle


class BoundedUnpickler(pickle._Unpickler):
    """See the module docstring. Cost: O(len(data)) bytes read and at most `max_ops` opcodes."""

    if TYPE_CHECKING:  # the pure-Python unpickler's internals, which typeshed does not declare
        stack: list[Any]
        metastack: list[list[Any]]
        append: Callable[[Any], None]
        read: Callable[[int], bytes]
        readinto: Callable[[bytearray], int]
        readline: Callable[[], bytes]
        proto: int
        _file_read: Callable[[int], bytes]
        _file_readline: Callable[[], bytes]

        def pop_mark(self) -> list[Any]: ...

    def __init__(self, data: bytes, preview: bool = False, max_ops: int | None = None) -> None:
        super().__init__(io.BytesIO(data))
        self.preview = preview
        self.max_ops = max_ops or (PREVIEW_OPS if preview else MAX_OPS)
        self.ops = 0
        self._hashes: dict[int, dict[int, int]] = {}

    def find_class(self, module: str, name: str) -> Any:
        found = ALLOWED_CLASSES.get((module, name))
        if found is None:
            raise UnsafePayload(module, name)
        return found

    def persistent_load(self, pid: object) -> NoReturn:
        raise Refused("persistent ids are not allowed")

    # ------------------------------------------------------------ reading, with preview cuts

    def _read_exact(self, n: int) -> bytes:
        data = self.read(n)
        if len(data) < n:
            if self.preview:
                raise _Cut
            raise Refused("the pickle ends early")
        return data

    def _text(self, n: int, binary: bool = False) -> None:
        if self.preview and n > PREVIEW_STR:
            head = self.read(PREVIEW_STR)
            self.append(head + b"..." if binary else str(head, "utf-8", "ignore") + "…")
            self._read_exact(n - PREVIEW_STR)  # in memory already: the buffer is a bounded prefix
            return
        data = self._read_exact(n)
        self.append(data if binary else str(data, "utf-8", "surrogatepass"))

    def load_binunicode(self) -> None:
        self._text(struct.unpack("<I", self.read(4))[0])

    def load_short_binunicode(self) -> None:
        self._text(self.read(1)[0])

    def load_binunicode8(self) -> None:
        self._text(struct.unpack("<Q", self.read(8))[0])

    def load_binbytes(self) -> None:
        self._text(struct.unpack("<I", self.read(4))[0], binary=True)

    def load_short_binbytes(self) -> None:
        self._text(self.read(1)[0], binary=True)

    def load_binbytes8(self) -> None:
        self._text(struct.unpack("<Q", self.read(8))[0], binary=True)

    # ------------------------------------------------------------ ints: never more than MAX_INT_DIGITS

    def _int_text(self) -> bytes:
        line = self.readline()
        if len(line) > MAX_INT_DIGITS + 3:
            raise Refused(f"an integer of more than {MAX_INT_DIGITS:,} digits")
        return line

    def load_int(self) -> None:
        data = self._int_text()
        if data in (b"00\n", b"01\n"):
            self.append(data == b"01\n")
        else:
            self.append(int(data, 0))

    def load_long(self) -> None:
        value = self._int_text()[:-1]
        self.append(int(value[:-1] if value.endswith(b"L") else value, 0))

    def load_long4(self) -> None:
        n = struct.unpack("<i", self.read(4))[0]
        if n < 0 or n > MAX_INT_BYTES:
            raise Refused(f"an integer of more than {MAX_INT_DIGITS:,} digits")
        self.append(pickle.decode_long(self._read_exact(n)))

    # ------------------------------------------------------------ containers: no hash-collision floods

    def _insert_ok(self, counts: dict[int, int], key: object) -> None:
        if type(key) is str or type(key) is bytes:
            return  # SipHash with a per-process key: text cannot be made to collide
        check_key(key)
        value = hash(key)
        counts[value] = counts.get(value, 0) + 1
        if counts[value] > MAX_SAME_HASH:
            raise Refused("dict keys or set items that hash alike (a hash-collision flood)")

    def load_setitem(self) -> None:
        value = self.stack.pop()
        key = self.stack.pop()
        target = self.stack[-1]
        self._insert(target, key, value)

    def load_setitems(self) -> None:
        items = self.pop_mark()
        target = self.stack[-1]
        for i in range(0, len(items) - 1, 2):
            self._insert(target, items[i], items[i + 1])

    def _insert(self, target: object, key: object, value: object) -> None:
        if not isinstance(target, dict):
            raise Refused("SETITEM on something that is not a dict")
        # Containers stay alive on the stack or in the memo while loading, so their id is stable.
        self._insert_ok(self._hashes.setdefault(id(target), {}), key)
        target[key] = value

    def load_dict(self) -> None:
        items = self.pop_mark()
        built: dict[Any, Any] = {}
        for i in range(0, len(items) - 1, 2):
            self._insert(built, items[i], items[i + 1])
        self.append(built)

    def _filled(self, counts: dict[int, int], items: list[Any]) -> list[Any]:
        for item in items:
            self._insert_ok(counts, item)
        return items

    def load_additems(self) -> None:
        items = self.pop_mark()
        target = self.stack[-1]
        if not isinstance(target, set):
            raise Refused("ADDITEMS on something that is not a set")
        target.update(self._filled(self._hashes.setdefault(id(target), {}), items))

    def load_frozenset(self) -> None:
        items = self.pop_mark()
        self.append(frozenset(self._filled({}, items)))

    # ------------------------------------------------------------ constructors

    def load_reduce(self) -> None:
        args = self.stack.pop()
        func = self.stack[-1]
        if not isinstance(args, tuple) or not reduce_args_ok(func, args):
            raise Refused(f"{getattr(func, '__name__', type(func).__name__)} with unexpected arguments")
        if func in (set, frozenset) and args:
            args = (self._filled({}, list(args[0])),)
        self.stack[-1] = func(*args)

    def load_newobj(self) -> None:
        args = self.stack.pop()
        cls = self.stack.pop()
        if cls is not uuid.UUID or args != ():
            raise Refused("NEWOBJ of anything but a UUID")
        self.append(uuid.UUID.__new__(uuid.UUID))

    def load_build(self) -> None:
        state = self.stack.pop()
        target = self.stack[-1]
        if not (
            isinstance(target, uuid.UUID)
            and isinstance(state, dict)
            and type(state.get("int")) is int
            and 0 <= state["int"] < 1 << 128
        ):
            raise Refused("BUILD of anything but a UUID")
        target.__setstate__(state)  # type: ignore[attr-defined]  # UUID has it; typeshed omits it

    def _refuse(self) -> NoReturn:
        raise Refused("old-style object construction (INST/OBJ/NEWOBJ_EX) is not allowed")

    def load(self) -> Any:
        try:
            return self._run()
        except _Cut:
            return Partial(self._built_so_far())
        except EOFError:
            if self.preview:
                return Partial(self._built_so_far())
            raise Refused("the pickle ends early") from None

    def _run(self) -> Any:
        # pickle._Unpickler.load with a budget in its loop (a wrapper per opcode would double the cost).
        self._unframer = _PICKLE._Unframer(self._file_read, self._file_readline)
        self.read = self._unframer.read
        self.readinto = self._unframer.readinto
        self.readline = self._unframer.readline
        self.metastack = []
        self.stack = []
        self.append = self.stack.append
        self.proto = 0
        read = self.read
        dispatch: dict[int, Callable[[Any], None]] = self.dispatch  # typeshed types it for Unpickler only
        budget = self.max_ops
        try:
            while budget > 0:
                budget -= 1
                key = read(1)
                if not key:
                    raise EOFError
                dispatch[key[0]](self)
        except _PICKLE._Stop as stop:
            return stop.value
        if self.preview:
            raise _Cut
        raise Refused(f"more than {self.max_ops:,} pickle operations (too large to show)")

    def _built_so_far(self) -> list[Any]:
        """The stack frames flattened in order; a frame opened over a list being filled is merged into it."""
        frames = [*getattr(self, "metastack", []), getattr(self, "stack", [])]
        items: list[Any] = []
        for frame in frames:
            if items and isinstance(items[-1], list):
                items[-1] = items[-1] + list(frame)
            else:
                items.extend(frame)
        return items


_OVERRIDES: dict[int, Callable[[Any], None]] = {
    pickle.BINUNICODE[0]: BoundedUnpickler.load_binunicode,
    pickle.SHORT_BINUNICODE[0]: BoundedUnpickler.load_short_binunicode,
    pickle.BINUNICODE8[0]: BoundedUnpickler.load_binunicode8,
    pickle.BINBYTES[0]: BoundedUnpickler.load_binbytes,
    pickle.SHORT_BINBYTES[0]: BoundedUnpickler.load_short_binbytes,
    pickle.BINBYTES8[0]: BoundedUnpickler.load_binbytes8,
    pickle.INT[0]: BoundedUnpickler.load_int,
    pickle.LONG[0]: BoundedUnpickler.load_long,
    pickle.LONG4[0]: BoundedUnpickler.load_long4,
    pickle.SETITEM[0]: BoundedUnpickler.load_setitem,
    pickle.SETITEMS[0]: BoundedUnpickler.load_setitems,
    pickle.DICT[0]: BoundedUnpickler.load_dict,
    pickle.ADDITEMS[0]: BoundedUnpickler.load_additems,
    pickle.FROZENSET[0]: BoundedUnpickler.load_frozenset,
    pickle.REDUCE[0]: BoundedUnpickler.load_reduce,
    pickle.NEWOBJ[0]: BoundedUnpickler.load_newobj,
    pickle.BUILD[0]: BoundedUnpickler.load_build,
    pickle.INST[0]: BoundedUnpickler._refuse,
    pickle.OBJ[0]: BoundedUnpickler._refuse,
    pickle.NEWOBJ_EX[0]: BoundedUnpickler._refuse,
}
BoundedUnpickler.dispatch = {**pickle._Unpickler.dispatch, **_OVERRIDES}


def bounded_loads(data: bytes, preview: bool = False) -> Any:
    """Plain data from a pickle, or Refused/UnsafePayload. Cost O(len(data) + MAX_OPS); with `preview`,
    strings are cut and a prefix yields a `Partial`."""
    return BoundedUnpickler(data, preview=preview).load()
