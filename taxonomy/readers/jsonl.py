"""JSONL input (one JSON object per line, lines split on line feeds only), read as a stream.

The columns are the union of the keys of every object. When the first lines already hold every column the options
name (and, for ``shape="auto"``, the conversation id column), the file is read once; else once for the keys (and
the JSON syntax) and once for the rows. No pass holds more than a block of lines.

Record files are read a block of lines at a time by pyarrow's JSON parser, column by column
(:meth:`JsonlRows.blocks`); a block it cannot read exactly as :mod:`json` would (bad JSON or UTF-8, a blank line,
a lone carriage return, a lone surrogate, a number or null where text is needed, ...) is read line by line with
:mod:`json` instead (:meth:`JsonlBlock.rows`), which also gives every error its exact line and text."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from taxonomy.errors import InputError
from taxonomy.readers.arrow import absent_cells, plain_bytes, text_cells
from taxonomy.readers.cells import BOM, MISSING, json_type, raise_decode_error
from taxonomy.readers.options import DEFAULT_CONVERSATION_COL, ReadOptions, Resolved, resolve

Rows = Iterator[tuple[int, tuple]]

#: a surrogate escape (pyarrow refuses a lone one that json takes): such a block goes line by line
_SURROGATE = re.compile(rb"\\u[dD][89abcdefABCDEF]")
#: lines whose keys decide the columns without a first pass over the whole file
KEY_LINES = 1000


def parse_lines(path: str, lines: Iterable[tuple[int, bytes]]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, object) for every non-blank line of ``(line number, bytes)``; InputError for bad UTF-8, bad JSON or a
    non-object."""
    loads = json.loads
    for lineno, data in lines:
        if lineno == 1 and data.startswith(BOM):
            data = data[len(BOM):]
        try:
            line = data.decode("utf-8")
        except UnicodeDecodeError:
            raise_decode_error(path, Path(path).read_bytes(), lone_cr_breaks=False)
            raise
        if not line.strip():
            continue
        try:
            obj = loads(line)
        except json.JSONDecodeError as e:
            raise InputError(path, f"invalid JSON: {e.msg} (column {e.colno})", line=lineno) from None
        except RecursionError:
            raise InputError(path, "invalid JSON: nested too deeply", line=lineno) from None
        if type(obj) is not dict:
            raise InputError(path, f"expected a JSON object ({{...}}) on each line, got {json_type(obj)}", line=lineno)
        yield lineno, obj


def objects(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, object) for every non-blank line of the file (see :func:`parse_lines`)."""
    with open(path, "rb") as f:
        yield from parse_lines(path, enumerate(f, 1))


def _keys(objs: Iterable[tuple[int, dict[str, Any]]]) -> tuple[list[str], int | None]:
    """The union of the keys (in order of first appearance) and the line of the first object."""
    keys: dict[str, None] = {}
    first_line = None
    for lineno, obj in objs:
        if first_line is None:
            first_line = lineno
        for k in obj:
            if k not in keys:
                keys[k] = None
    return list(keys), first_line


def _resolve_early(opts: ReadOptions, path: str) -> Resolved | None:
    """The options resolved against the keys of the first :data:`KEY_LINES` lines, when those decide them: every
    column named is there, and the shape does not hang on a column that might first appear further down. None
    otherwise (or at any problem in those lines: the whole-file pass reports it)."""
    with open(path, "rb") as f:
        try:
            keys, first_line = _keys(parse_lines(path, enumerate(islice(f, KEY_LINES), 1)))
        except InputError:
            return None
    if first_line is None:
        return None
    if opts.shape == "auto" and opts.conversation_col is None and DEFAULT_CONVERSATION_COL not in keys:
        return None  # aggregated only if no object further down has a conversation id
    try:
        return resolve(opts, path, keys, first_line)
    except InputError:  # a column not in the first lines: maybe further down
        return None


def open_rows(path: str, fmt: str, opts: ReadOptions) -> tuple[Resolved, "JsonlRows", int]:
    resolved = _resolve_early(opts, path)
    if resolved is None:
        keys, first_line = _keys(objects(path))
        if first_line is None:
            raise InputError(path, "the file has no records (only blank lines)", line=1)
        resolved = resolve(opts, path, keys, first_line)
    return resolved, JsonlRows(path, [col for _, col in resolved.fields]), 1


@dataclass
class JsonlBlock:
    """A block of consecutive lines of a JSONL file: ``columns`` (the resolved fields' cells, in order) and their
    ``lines`` when pyarrow read the block exactly as :mod:`json` would, else None; :meth:`rows` reads it with
    :mod:`json`, record by record."""

    path: str
    start: int  #: the line number of the block's first line
    data: list[bytes]  #: its lines, as read (line feed included)
    cols: Sequence[str]
    lines: Sequence[int] | None = None
    columns: list[list[Any]] | None = None

    def rows(self) -> Rows:
        cols = self.cols
        for lineno, obj in parse_lines(self.path, enumerate(self.data, self.start)):
            yield lineno, tuple([obj.get(c, MISSING) for c in cols])


class JsonlRows:
    """The data rows of a JSONL file: iterated, ``(line, tuple of the resolved fields' cells)`` one object at a
    time (:mod:`json`, a missing key as :data:`~taxonomy.readers.cells.MISSING`); or by :meth:`blocks`."""

    def __init__(self, path: str, cols: list[str]) -> None:
        self.path = path
        self.cols = cols

    def __iter__(self) -> Rows:
        cols = self.cols
        for lineno, obj in objects(self.path):
            yield lineno, tuple([obj.get(c, MISSING) for c in cols])

    def blocks(self, n: int, fields: Sequence[str]) -> Iterator[JsonlBlock]:
        """The file in blocks of ``n`` lines, each read column by column where it can be (see the module docstring;
        ``fields``: the logical field of each column, as :func:`~taxonomy.readers.arrow.text_cells` takes it)."""
        start = 1
        with open(self.path, "rb") as f:
            while data := list(islice(f, n)):
                block = JsonlBlock(self.path, start, data, self.cols)
                columns = arrow_columns(data, self.cols, fields, first=start == 1)
                if columns is not None:
                    block.lines, block.columns = range(start, start + len(data)), columns
                start += len(data)
                yield block


def arrow_columns(data: list[bytes], cols: Sequence[str], fields: Sequence[str], *,
                  first: bool) -> list[list[Any]] | None:
    """The cells of ``cols`` for the lines ``data`` (one object each), parsed by pyarrow; None where that could
    differ from :mod:`json` line by line, or where pyarrow itself is not safe (a line that starts with ``null``
    crashes pyarrow 26): anything but valid UTF-8 (no BOM but at the file's start), line feeds, CRLF, lines
    that all start with ``{``, one object each, cells as :func:`~taxonomy.readers.arrow.text_cells`
    takes them, no surrogate escape, no key given twice."""
    import pyarrow as pa
    import pyarrow.json as pj

    raw = b"".join(data)
    if first and raw.startswith(BOM):
        raw = raw[len(BOM):]
    if not raw.startswith(b"{") or raw.count(b"\n{") != len(data) - 1:
        return None  # a line that is blank (json skips it: its number would be lost) or not an object ({...})
    if not plain_bytes(raw):
        return None  # bad UTF-8, a BOM, a lone CR (no line break for json, one for pyarrow)
    if b"\r" in raw:
        raw = raw.replace(b"\r\n", b"\n")
    if b"\\u" in raw and _SURROGATE.search(raw):
        return None
    try:
        table = pj.read_json(pa.py_buffer(raw), read_options=pj.ReadOptions(use_threads=False,
                                                                             block_size=len(raw) + 1))
    except (pa.ArrowException, UnicodeDecodeError, ValueError):
        return None
    if table.num_rows != len(data):
        return None
    names = table.schema.names
    out: list[list[Any]] = []
    for col, field in zip(cols, fields):
        cells = text_cells(table.column(col), field) if col in names else absent_cells(len(data), field)
        if cells is None:
            return None
        out.append(cells)
    return out
