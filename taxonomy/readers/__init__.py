"""Reading and validating the input files of ``taxo ingest``.

Two input shapes are accepted, each from CSV/TSV, JSONL (one JSON object per line) or Parquet:

``aggregated``
    One row per value string, optionally with a numeric weight column (e.g. ``pct_convos``) and/or an integer
    count column. Rows whose values normalise to the same text are merged (weights and counts summed, every
    surface form kept as an alias).
``records``
    Extraction records, one row per (conversation id, value), optionally with the role that expressed the value
    (``ai`` / ``human``), the task or context, the response type, an evidence excerpt, any number of free slice
    columns (``slice_cols``, e.g. the model; stored as {name: value}) and whether the value was stated explicitly
    (``explicit_col``: true/false, yes/no, 1/0, explicit/implicit, blank = unknown). Values are aggregated:
    count = number of records, n_conversations = distinct conversation ids, weight = n_conversations.

How to read a file is one :class:`ReadOptions`. :func:`open_input` streams a file: :meth:`InputStream.chunks`
yields the validated records in lists of ``chunk_rows`` while the per-value totals add up, so memory is bounded
by a chunk and the distinct values, not by the file. :func:`read_input` reads a whole file into a
:class:`ParsedInput` (for small files and tests). Both raise :class:`~taxonomy.errors.InputError` naming the
file, the 1-based line (CSV: the physical line as an editor shows it, header = line 1; JSONL: the line; Parquet:
the row, passed as ``line`` and spelled "row N" in the problem text) and the field, for the first problem found;
option combinations that cannot work raise :class:`~taxonomy.errors.UsageError`.

Modules: :mod:`~taxonomy.readers.options` (the options and their resolution against a file's columns),
:mod:`~taxonomy.readers.delimited`, :mod:`~taxonomy.readers.jsonl`, :mod:`~taxonomy.readers.parquet` (one
format each), :mod:`~taxonomy.readers.records` (validation and aggregation), :mod:`~taxonomy.readers.cells`
(checks of one cell).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Iterator

from taxonomy.errors import InputError
from taxonomy.readers import delimited, jsonl, parquet
from taxonomy.readers.options import (
    DEFAULT_CONVERSATION_COL,
    EXTENSIONS,
    FORMATS,
    RESERVED_SLICE_NAMES,
    SHAPES,
    ReadOptions,
    format_from_extension,
)
from taxonomy.readers.records import CHUNK_ROWS, Aggregator, ParsedInput, RecordColumns, RecordRow, ValueAgg

__all__ = [
    "CHUNK_ROWS",
    "DEFAULT_CONVERSATION_COL",
    "EXTENSIONS",
    "FORMATS",
    "InputStream",
    "ParsedInput",
    "RESERVED_SLICE_NAMES",
    "ReadOptions",
    "RecordColumns",
    "RecordRow",
    "SHAPES",
    "ValueAgg",
    "file_sha256",
    "open_input",
    "read_input",
]

_OPENERS = {"csv": delimited.open_rows, "tsv": delimited.open_rows, "jsonl": jsonl.open_rows,
            "parquet": parquet.open_rows}


def file_sha256(path: str) -> tuple[str, int]:
    """The hex sha256 of the file's bytes and their number, read 1 MiB at a time."""
    h = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
                size += len(block)
    except OSError as e:
        raise InputError(path, f"cannot read the file: {e.strerror or e}") from None
    return h.hexdigest(), size


class InputStream:
    """One input file opened for reading: its digest, format, shape and stored options are known; iterate
    :meth:`chunks` once to validate every row; then :attr:`values` and :attr:`n_rows` hold the totals."""

    def __init__(self, path: str, options: ReadOptions, *, chunk_rows: int = CHUNK_ROWS) -> None:
        options.check()
        p = Path(path)
        if not p.exists():
            raise InputError(path, "no such file")
        if p.is_dir():
            raise InputError(path, "is a directory, not a file")
        self.path = path
        self.format = options.file_format if options.file_format != "auto" else format_from_extension(path)
        self.sha256, size = file_sha256(path)
        if size == 0:
            raise InputError(path, "the file is empty (0 bytes)")
        resolved, self._rows, self._empty_line = _OPENERS[self.format](path, self.format, options)
        self.shape = resolved.shape
        self.columns: dict[str, Any] = resolved.columns  #: the options as stored with the batch
        self.chunk_rows = chunk_rows
        self._agg = Aggregator(path, resolved, keep_case=options.keep_case,
                               unit="row" if self.format == "parquet" else "line")
        self._values: list[ValueAgg] | None = None

    def chunks(self) -> Iterator[list[RecordRow]]:
        """Validate every row; yield the records (records shape) in lists of at most ``chunk_rows``.

        The aggregated shape yields nothing. Raises InputError at the first bad row; once exhausted,
        :attr:`values` is complete."""
        for chunk in self.column_chunks():
            yield chunk.rows()

    def column_chunks(self) -> Iterator[RecordColumns]:
        """As :meth:`chunks`, each chunk column by column. The records are checked a block of columns at a time
        (:meth:`~taxonomy.readers.records.Aggregator.column_chunk`) where the format's reader can hand them so:
        a CSV/TSV file for as long as its records are one line each and pass, and from the first block that
        does not, record by record; a JSONL or Parquet file block by block, a block that does not going record
        by record (see :mod:`~taxonomy.readers.jsonl`, :mod:`~taxonomy.readers.parquet`)."""
        if self._values is not None:
            raise RuntimeError("an InputStream is read once")
        agg = self._agg
        if self.shape == "aggregated":
            agg.aggregated(self._rows)
        else:
            rows = self._rows
            by_columns = set(agg.names) <= agg.COLUMN_FIELDS
            if isinstance(rows, delimited.DelimitedRows) and by_columns:
                for lines, cols in rows.blocks(self.chunk_rows):
                    chunk = agg.column_chunk(lines, cols)
                    if chunk is None:
                        rows.resume = lines[0]
                        break
                    yield chunk
                rows = rows.rows_from(rows.resume) if rows.resume is not None else iter(())
            elif isinstance(rows, (jsonl.JsonlRows, parquet.ParquetRows)) and by_columns:
                for block in rows.blocks(self.chunk_rows, agg.names):
                    chunk = None if block.columns is None else agg.column_chunk(block.lines, block.columns)
                    if chunk is not None:
                        yield chunk
                        continue
                    for part in agg.records(block.rows(), self.chunk_rows):
                        yield RecordColumns.of_rows(part)
                rows = iter(())
            for part in agg.records(rows, self.chunk_rows):
                yield RecordColumns.of_rows(part)
        self._values = agg.finish(self._empty_line)

    @property
    def values(self) -> list[ValueAgg]:
        """The distinct values in order of first appearance, with their totals (after :meth:`chunks`)."""
        if self._values is None:
            raise RuntimeError("read the chunks first")
        return self._values

    @property
    def n_rows(self) -> int:
        return self._agg.n_rows


def open_input(
    path: str | os.PathLike[str], options: ReadOptions | None = None, *, chunk_rows: int = CHUNK_ROWS,
    **read_options: Any,
) -> InputStream:
    """Open one input file for streaming (see the module docstring); ``read_options`` are
    :class:`ReadOptions` fields that override ``options``."""
    return InputStream(str(path), ReadOptions.of(options, **read_options), chunk_rows=chunk_rows)


def read_input(path: str | os.PathLike[str], options: ReadOptions | None = None, **read_options: Any) -> ParsedInput:
    """Read, validate and aggregate one whole input file, records included; see the module docstring."""
    stream = open_input(path, options, **read_options)
    records: list[RecordRow] = []
    for chunk in stream.chunks():
        records.extend(chunk)
    return ParsedInput(
        path=stream.path, sha256=stream.sha256, shape=stream.shape, format=stream.format, n_rows=stream.n_rows,
        values=stream.values, records=records, columns=stream.columns,
    )
