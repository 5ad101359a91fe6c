"""CSV and TSV input, read as a stream: the physical line of each record as an editor shows it (header = line 1)."""

from __future__ import annotations

import csv
from operator import itemgetter
from pathlib import Path
from typing import Iterator

from taxonomy.errors import InputError
from taxonomy.readers.cells import raise_decode_error
from taxonomy.readers.options import ReadOptions, Resolved, resolve

Rows = Iterator[tuple[int, tuple]]


def open_rows(path: str, fmt: str, opts: ReadOptions) -> tuple[Resolved, Rows, int]:
    """Read the header and resolve the options; return them, the data rows and the header line."""
    delimiter = "\t" if fmt == "tsv" else ","
    f = open(path, encoding="utf-8-sig", newline="")  # a leading BOM is dropped; lines as universal newlines
    reader = csv.reader(f, delimiter=delimiter, strict=True)
    prev = 0  # reader.line_num after the previous record: the next record starts on prev + 1

    def records() -> Iterator[tuple[int, list[str]]]:
        nonlocal prev
        it = iter(reader)
        try:
            while True:
                start = prev + 1
                try:
                    row = next(it)
                except StopIteration:
                    return
                except csv.Error as e:
                    raise InputError(path, csv_problem(str(e), start, reader.line_num), line=start) from None
                except UnicodeDecodeError:
                    raise_decode_error(path, Path(path).read_bytes(), lone_cr_breaks=True)
                    raise
                prev = reader.line_num
                yield start, row
        finally:
            f.close()

    row_iter = records()
    header: list[str] | None = None
    header_line = 0
    for start, row in row_iter:
        if not row:  # blank line
            continue
        header, header_line = [c.strip() for c in row], start
        break
    if header is None:
        raise InputError(path, "the file has no header row (it holds only blank lines)", line=1)

    resolved = resolve(opts, path, header, header_line)
    positions: dict[str, int] = {}
    for name in header:
        positions[name] = positions.get(name, 0) + 1
    for _, col in resolved.fields:
        if positions[col] > 1:
            raise InputError(
                path, f"the header has {positions[col]} columns named {col!r}; rename them", line=header_line,
                field=col,
            )
    index = {name: i for i, name in enumerate(header)}
    idx = [index[col] for _, col in resolved.fields]
    pick = itemgetter(*idx) if len(idx) > 1 else (lambda row, i=idx[0]: (row[i],))
    width = len(header)

    def raw() -> Rows:
        for start, row in row_iter:
            n = len(row)
            if n != width:
                if n == 0:
                    continue  # blank line
                end = prev
                where = f"line {start}" if end == start else f"lines {start}-{end}"
                raise InputError(
                    path,
                    f"ragged row: {n} field{'s' if n != 1 else ''} on {where}, but the header (line "
                    f"{header_line}) has {width}",
                    line=start,
                )
            yield start, pick(row)

    return resolved, raw(), header_line


def csv_problem(msg: str, start: int, end: int) -> str:
    if msg == "unexpected end of data":
        return (
            f"truncated CSV: a quoted field opened in the record starting on line {start} is never closed "
            f"(reached the end of the file at line {end})"
        )
    if "field larger than field limit" in msg:
        return (
            f"a field in the record starting on line {start} is longer than {csv.field_size_limit()} characters "
            f"(read up to line {end}); is a quoted field left unterminated?"
        )
    if "expected after" in msg:
        return f"malformed CSV quoting: {msg} (a quoted field must end at the delimiter or the end of the line)"
    return f"malformed CSV: {msg}"
