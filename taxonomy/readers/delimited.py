"""CSV and TSV input, read as a stream: the physical line of each record as an editor shows it (header = line 1)."""

from __future__ import annotations

import csv
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import Iterator, Sequence

from taxonomy.errors import InputError
from taxonomy.readers.cells import raise_decode_error
from taxonomy.readers.options import ReadOptions, Resolved, resolve

Rows = Iterator[tuple[int, tuple]]


def open_rows(path: str, fmt: str, opts: ReadOptions) -> tuple[Resolved, "DelimitedRows", int]:
    """Read the header and resolve the options; return them, the data rows and the header line."""
    delimiter = "\t" if fmt == "tsv" else ","
    rows = DelimitedRows(path, delimiter)
    header: list[str] | None = None
    header_line = 0
    for start, row in rows.lines:
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
    rows.columns([index[col] for _, col in resolved.fields], len(header), header_line)
    return resolved, rows, header_line


class DelimitedRows:
    """The data rows of a CSV/TSV file, after its header: iterated, ``(line, tuple of the resolved fields' cells)``
    one record at a time (blank lines skipped, a ragged row or bad quoting raised as InputError); or read by
    :meth:`blocks`, whole chunks at once where every record is one line, and then by :meth:`rows_from` from the
    line where that stopped."""

    def __init__(self, path: str, delimiter: str) -> None:
        self.path = path
        self.delimiter = delimiter
        self.header_line = 0
        self.width = 0
        self.resume: int | None = None  #: after :meth:`blocks`: the line to go on from with :meth:`rows_from`
        self._f = open(path, encoding="utf-8-sig", newline="")  # a leading BOM is dropped; universal newlines
        self._reader = csv.reader(self._f, delimiter=delimiter, strict=True)
        self._prev = 0  # reader.line_num after the previous record: the next record starts on prev + 1
        self.lines = self._records(self._f, self._reader)

    def columns(self, idx: list[int], width: int, header_line: int) -> None:
        self.idx, self.width, self.header_line = idx, width, header_line
        self._pick = itemgetter(*idx) if len(idx) > 1 else (lambda row, i=idx[0]: (row[i],))

    def _records(self, f, reader) -> Iterator[tuple[int, list[str]]]:
        """(line where the record starts, its cells) for every record, blank lines as empty lists."""
        path = self.path
        it = iter(reader)
        try:
            while True:
                start = self._prev + 1
                try:
                    row = next(it)
                except StopIteration:
                    return
                except csv.Error as e:
                    raise InputError(path, csv_problem(str(e), start, reader.line_num), line=start) from None
                except UnicodeDecodeError:
                    raise_decode_error(path, Path(path).read_bytes(), lone_cr_breaks=True)
                    raise
                self._prev = reader.line_num
                yield start, row
        finally:
            f.close()

    def __iter__(self) -> Rows:
        return self._checked(self.lines)

    def _checked(self, records: Iterator[tuple[int, list[str]]]) -> Rows:
        path, width, pick, header_line = self.path, self.width, self._pick, self.header_line
        for start, row in records:
            n = len(row)
            if n != width:
                if n == 0:
                    continue  # blank line
                end = self._prev
                where = f"line {start}" if end == start else f"lines {start}-{end}"
                raise InputError(
                    path,
                    f"ragged row: {n} field{'s' if n != 1 else ''} on {where}, but the header (line "
                    f"{header_line}) has {width}",
                    line=start,
                )
            yield start, pick(row)

    def blocks(self, n: int) -> Iterator[tuple[Sequence[int], list[tuple[str, ...]]]]:
        """Up to ``n`` records at a time as (their lines, the resolved fields' columns), read by the csv module in
        one call, while every record of a block is one line with the header's number of cells (blank lines
        dropped). At the first block where that does not hold (a quoted line break, a ragged row, bad quoting
        or bad UTF-8: anything the record-by-record reader reports or numbers differently) it stops, with
        :attr:`resume` set to the block's first line; else :attr:`resume` stays None."""
        reader, width, idx = self._reader, self.width, self.idx
        while True:
            start = self._prev + 1
            try:
                rows = list(islice(reader, n))
            except (csv.Error, UnicodeDecodeError):
                self.resume = start
                return
            if not rows:
                self._f.close()
                return
            lens = set(map(len, rows))
            if reader.line_num - self._prev != len(rows) or not lens <= {width, 0}:
                self.resume = start
                return
            self._prev = reader.line_num
            lines: Sequence[int] = range(start, start + len(rows))
            if 0 in lens:  # blank lines: no record, but a line
                lines = [line for line, row in zip(lines, rows) if row]
                rows = [row for row in rows if row]
                if not rows:
                    continue
            cols = list(zip(*rows))
            yield lines, [cols[i] for i in idx]

    def rows_from(self, line: int) -> Rows:
        """The rows as :meth:`__iter__` gives them, from the record that starts on ``line`` on (the file is read
        again from its start, record by record, to find it)."""
        self._f.close()
        self._prev = 0
        f = open(self.path, encoding="utf-8-sig", newline="")
        records = self._records(f, csv.reader(f, delimiter=self.delimiter, strict=True))
        for start, _ in records:  # the header (and what precedes it)
            if start >= self.header_line:
                break
        return self._checked((start, row) for start, row in records if start >= line)


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
