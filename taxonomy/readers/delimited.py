"""CSV and TSV input, read as a stream: the physical line of each record as an editor shows it (header = line 1)."""

from __future__ import annotations

import csv
import io
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import Iterator, Sequence

from taxonomy.errors import InputError
from taxonomy.readers.arrow import plain_bytes
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

    def blocks(self, n: int) -> Iterator[tuple[Sequence[int], list[Sequence[str]]]]:
        """Up to ``n`` records at a time as (their lines, the resolved fields' columns), while every record of a
        block is one line with the header's number of cells (blank lines dropped). At the first block where that
        does not hold (a quoted line break, a ragged row, bad quoting or bad UTF-8: anything the record-by-record
        reader reports or numbers differently) it stops, with :attr:`resume` set to the block's first line; else
        :attr:`resume` stays None.

        The file is read ``n`` lines at a time as bytes; a block is split by pyarrow's CSV parser where that is
        exactly what the csv module would give (:func:`arrow_block`), else by the csv module."""
        binary = self._binary_after_header()
        if binary is None:
            yield from self._csv_blocks(n)
            return
        width, idx = self.width, self.idx
        try:
            while data := list(islice(binary, n)):
                start = self._prev + 1
                cols = arrow_block(data, width, idx, self.delimiter)
                if cols is not None:
                    lines: Sequence[int] = range(start, start + len(data))
                else:
                    parsed = self._csv_block(data, start)
                    if parsed is None:
                        self.resume = start
                        return
                    lines, cols = parsed
                self._prev += len(data)
                if lines:
                    yield lines, cols
        finally:
            binary.close()
            self._f.close()

    def _binary_after_header(self):
        """The file opened as bytes after the header's lines (as the csv module numbered them), or None where its
        numbering could differ from a count of line feeds (a lone carriage return before that)."""
        f = open(self.path, "rb")
        head = b"".join(f.readline() for _ in range(self._prev))
        if head.count(b"\r") != head.count(b"\r\n"):
            f.close()
            return None
        return f

    def _csv_block(self, data: list[bytes], start: int) -> tuple[Sequence[int], list[Sequence[str]]] | None:
        """Whole lines ``data`` (from line ``start``) split by the csv module, when each is one record with the
        header's number of cells or blank; else None."""
        try:
            reader = csv.reader(io.StringIO(b"".join(data).decode("utf-8"), newline=""), delimiter=self.delimiter,
                                strict=True)
            rows = list(reader)
        except (csv.Error, UnicodeDecodeError):
            return None
        if reader.line_num != len(data) or len(rows) != len(data) or not set(map(len, rows)) <= {self.width, 0}:
            return None
        lines: Sequence[int] = range(start, start + len(rows))
        if not all(rows):  # blank lines: no record, but a line
            lines = [line for line, row in zip(lines, rows) if row]
            rows = [row for row in rows if row]
            if not rows:
                return [], []
        cols = list(zip(*rows))
        return lines, [cols[i] for i in self.idx]

    def _csv_blocks(self, n: int) -> Iterator[tuple[Sequence[int], list[Sequence[str]]]]:
        """:meth:`blocks` by the csv module alone, from the text reader."""
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


def arrow_block(data: list[bytes], width: int, idx: Sequence[int], delimiter: str) -> list[list[str]] | None:
    """The columns ``idx`` of the whole lines ``data`` split by pyarrow's CSV parser, or None unless that is
    certainly what the csv module (strict, ``"`` quotes, doubled to escape) gives: valid UTF-8 without a BOM, no
    lone carriage return, no blank line, no line longer than the csv module's field limit, and every quote either
    opening a field (right after the delimiter or at the line's start) or closing the field it opened (right
    before the delimiter or the line's end), two to a field, so no quote inside a field, escaped or not (the
    csv module refuses ``"a"b``, which pyarrow reads as ``ab``); and one record per line of the header's width."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    raw = b"".join(data)
    if not plain_bytes(raw):
        return None
    arr = np.frombuffer(raw, np.uint8)
    nl = np.flatnonzero(arr == 10)
    starts = np.concatenate(([0], nl + 1))[: len(data)]
    ends = np.concatenate((nl, [len(raw)]))[: len(data)]
    lengths = ends - starts
    if lengths.max() > csv.field_size_limit():
        return None
    if not lengths.all() or (lengths == 1).any() and (arr[starts[lengths == 1]] == 13).any():
        return None  # a blank line
    sep = ord(delimiter)
    q = np.flatnonzero(arr == 34)
    if q.size:
        line = np.searchsorted(nl, q)
        new_line = np.concatenate(([True], line[1:] != line[:-1]))
        k = np.arange(q.size)
        rank = k - np.maximum.accumulate(np.where(new_line, k, 0))
        last = np.concatenate((line[1:] != line[:-1], [True]))
        if (rank[last] % 2 == 0).any():
            return None  # an odd number of quotes on a line
        opening, closing = q[rank % 2 == 0], q[rank % 2 == 1]
        before = arr[np.maximum(opening - 1, 0)]
        if not ((opening == 0) | (before == sep) | (before == 10)).all():
            return None
        after = arr[np.minimum(closing + 1, len(raw) - 1)]
        if not ((closing == len(raw) - 1) | (after == sep) | (after == 10) | (after == 13)).all():
            return None
    names = [str(i) for i in range(width)]
    wanted = [names[i] for i in dict.fromkeys(idx)]
    try:
        table = pacsv.read_csv(
            pa.py_buffer(raw),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=False, block_size=len(raw) + 1),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char='"', double_quote=True,
                                             escape_char=False, newlines_in_values=False, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in wanted}, include_columns=wanted,
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except (pa.ArrowException, ValueError):
        return None
    if table.num_rows != len(data):
        return None
    return [table.column(names[i]).to_pylist() for i in idx]
