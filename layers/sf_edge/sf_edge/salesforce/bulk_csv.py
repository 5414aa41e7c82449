"""Bulk API 2.0 CSV (RFC 4180, UTF-8, LF line endings, comma delimited), read as it arrives and written as
Salesforce reads it.

Reading never holds more than a chunk and a row: bytes come in 64 KB pieces, are decoded incrementally (a UTF-8
character split across two pieces is kept whole), cut into lines at LF only, ends kept (a quoted field may hold
line breaks, which the csv module joins back), and parsed strictly. A row the csv module refuses, or one with
another number of fields than the header, is handed on as a `BadRow` saying what and where; the rows after it
are still read. Query results carry no null marker: an empty field is a null (Salesforce stores no empty text).

Writing quotes every field (leading zeros, commas, quotes and line breaks survive as they are) and writes `#N/A`
for a null, which sets the field to null (an empty field leaves it unchanged).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sf_edge.salesforce import SalesforceCallError

CHUNK_BYTES = 64 * 1024
NULL = "#N/A"
_BOM = "\ufeff"


class CsvError(SalesforceCallError, ValueError):
    """The CSV as a whole is unusable (no header, a header field twice, not UTF-8)."""


@dataclass(frozen=True)
class BadRow:
    """A row that could not be read: its line number in the file, why, and its text as far as it was read."""

    line: int
    why: str
    text: str


def lines(read: Callable[[int], bytes], chunk: int = CHUNK_BYTES) -> Iterator[str]:
    """The text of a byte stream, line by line (LF ends kept; a CR before it is left to the csv module)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    pending = ""
    first = True
    while True:
        piece = read(chunk)
        try:
            text = decoder.decode(piece, final=not piece)
        except UnicodeDecodeError as bad:
            raise CsvError(f"not UTF-8 text: {bad.reason} at byte {bad.start} of a piece") from None
        if first and text:
            text, first = text.removeprefix(_BOM), False
        pending += text
        *complete, pending = pending.split("\n")
        for line in complete:
            yield line + "\n"
        if not piece:
            if pending:
                yield pending
            return


Record = dict[str, str | None]


def records(read: Callable[[int], bytes], chunk: int = CHUNK_BYTES) -> tuple[list[str], Iterator[Record | BadRow]]:
    """The header and then each record as {column: value, empty → None}, or a BadRow; streamed."""
    source = lines(read, chunk)
    reader = csv.reader(source, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise CsvError("the CSV is empty: no header") from None
    except csv.Error as bad:
        raise CsvError(f"the header is not CSV: {bad}") from None
    if not header or len(set(header)) != len(header):
        raise CsvError(f"the header is empty or names a column twice: {header!r}")
    return header, _rows(reader, header)


def _rows(reader: Any, header: list[str]) -> Iterator[Record | BadRow]:
    width = len(header)
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as bad:
            yield BadRow(start, f"not CSV: {bad}", "")
            continue
        if len(row) != width:
            if row == [] or row == [""]:
                continue  # a blank line (a trailing LF)
            yield BadRow(start, f"{len(row)} fields where the header has {width}", ",".join(row)[:1000])
            continue
        yield {name: value if value != "" else None for name, value in zip(header, row, strict=True)}


def csv_line(header: Sequence[str], row: Mapping[str, Any]) -> str:
    """One row as a CSV line (its size counts towards a job's upload limit)."""
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n").writerow([_cell(row.get(c)) for c in header])
    return out.getvalue()


def header_line(header: Sequence[str]) -> str:
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n").writerow(header)
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
