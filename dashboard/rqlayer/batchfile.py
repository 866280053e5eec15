"""Batch files (CSV with a header of parameter names, or JSON lines of objects) checked as a stream.

Memory stays bounded whatever the file's size: the file is read line by line (each line capped at
MAX_LINE_BYTES), each row is validated and encoded at once, and the encoded jobs are spooled to a
temporary file on disk. Nothing reaches Redis until every row was read, so "nothing is enqueued
unless asked to skip bad rows" still holds: the caller writes the spool only when the report allows.
"""

from __future__ import annotations

import csv
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from dashboard.rqlayer.enqueue import EnqueueOptions, encode_call
from dashboard.rqlayer.errors import InvalidInput
from dashboard.rqlayer.params import parse_json, validate_call
from tasks.registry import TaskSpec

MAX_ROWS = 200_000
MAX_LINE_BYTES = 1024 * 1024
MAX_KEPT_ERRORS = 200  # the page shows these; the rest are counted
JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
_BOM = b"\xef\xbb\xbf"
_RECORD = struct.Struct(">II")


class BatchFileError(ValueError):
    """The file as a whole cannot be read (not UTF-8, broken CSV): nothing is enqueued."""


@dataclass
class BatchReport:
    rows: int = 0
    valid: int = 0
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # (line, field, message), the first few
    error_count: int = 0
    too_many_rows: bool = False

    def add_errors(self, line: int, errors: dict[str, str]) -> None:
        self.error_count += len(errors)
        room = MAX_KEPT_ERRORS - len(self.errors)
        self.errors.extend(list((line, name, message) for name, message in errors.items())[: max(room, 0)])

    @property
    def errors_not_shown(self) -> int:
        return self.error_count - len(self.errors)


class Spool:
    """Encoded jobs (data, description) on disk, in file order; a context manager that deletes it."""

    def __init__(self) -> None:
        # Not a `with` block: the file lives as long as the spool, which closes it (close, __exit__).
        self._file = tempfile.TemporaryFile(prefix="rq-console-batch-")  # noqa: SIM115
        self.count = 0

    def add(self, data: bytes, description: str) -> None:
        text = description.encode()
        self._file.write(_RECORD.pack(len(data), len(text)))
        self._file.write(data)
        self._file.write(text)
        self.count += 1

    def __iter__(self) -> Iterator[tuple[bytes, str]]:
        self._file.flush()
        self._file.seek(0)
        for _ in range(self.count):
            data_size, text_size = _RECORD.unpack(self._file.read(_RECORD.size))
            yield self._file.read(data_size), self._file.read(text_size).decode()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _lines(stream: BinaryIO) -> Iterator[tuple[int, str | None]]:
    """(line number, text) per line; text is None for a line longer than MAX_LINE_BYTES (skipped
    without being held). Raises BatchFileError on bytes that are not UTF-8."""
    number = 0
    while True:
        line = stream.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        number += 1
        if number == 1 and line.startswith(_BOM):
            line = line[len(_BOM) :]
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while (rest := stream.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass
            yield number, None
            continue
        try:
            yield number, line.decode("utf-8")
        except UnicodeDecodeError:
            raise BatchFileError(f"line {number} is not UTF-8 text") from None


def read_rows(stream: BinaryIO, filename: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, raw row) per row, or (line number, the problem as text) for a row that cannot be
    read. Blank JSON lines are skipped. Raises BatchFileError when the file cannot be read at all."""
    if filename.lower().endswith(JSON_SUFFIXES):
        for number, line in _lines(stream):
            if line is None:
                yield number, f"longer than {MAX_LINE_BYTES // 1024} KiB"
                continue
            if not line.strip():
                continue
            try:
                row = parse_json(line)
            except ValueError as error:
                yield number, str(error)
                continue
            if isinstance(row, dict):
                yield number, row
            else:
                yield number, "each line must be a JSON object"
        return
    yield from _csv_rows(stream)


def _csv_rows(stream: BinaryIO) -> Iterator[tuple[int, dict[str, Any] | str]]:
    def texts() -> Iterator[str]:
        for number, line in _lines(stream):
            if line is None:
                raise BatchFileError(f"line {number} is longer than {MAX_LINE_BYTES // 1024} KiB")
            yield line

    reader = csv.DictReader(texts())
    try:
        for row in reader:
            # Cells past the header land under None; empty cells mean "use the default".
            yield reader.line_num, {k: v for k, v in row.items() if k is not None and v not in (None, "")}
    except csv.Error as error:
        raise BatchFileError(f"unreadable CSV (line {reader.line_num}): {error}") from None


def check_file(
    stream: BinaryIO, filename: str, spec: TaskSpec, options: EnqueueOptions, max_rows: int = MAX_ROWS
) -> tuple[BatchReport, Spool]:
    """Pass one: every row validated and, when valid, encoded into the returned spool (which the caller
    closes). Cost: one read of the file, memory bounded by one line plus MAX_KEPT_ERRORS messages.
    Stops reading at max_rows + 1 rows (report.too_many_rows). Raises BatchFileError."""
    report, spool = BatchReport(), Spool()
    try:
        for line, raw in read_rows(stream, filename):
            if report.rows == max_rows:
                report.too_many_rows = True
                break
            report.rows += 1
            if isinstance(raw, str):  # the row's problem
                report.add_errors(line, {"row": raw})
                continue
            kwargs, errors = validate_call(spec, raw)
            if errors:
                report.add_errors(line, errors)
                continue
            try:
                spool.add(*encode_call(spec, kwargs, options))
            except InvalidInput as error:  # a value the instance's serializer (JSON) cannot hold
                report.add_errors(line, error.fields)
                continue
            report.valid += 1
    except BaseException:
        spool.close()
        raise
    return report, spool
