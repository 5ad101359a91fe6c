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

:func:`read_input` either returns everything or raises :class:`~taxonomy.errors.InputError` naming the file,
the 1-based line (CSV: the physical line as an editor shows it, header = line 1; JSONL: the line; Parquet: the
row, passed as ``line`` and spelled "row N" in the problem text) and the field. Nothing partial is returned.
Option combinations that cannot work raise :class:`~taxonomy.errors.UsageError`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from taxonomy.errors import InputError, UsageError
from taxonomy.normalize import (
    MAX_SHORT_TEXT,
    MAX_SURFACE_LENGTH,
    MAX_VALUE_LENGTH,
    normalize_value,
    strip_invisible,
    text_problem,
)

__all__ = [
    "ParsedInput",
    "RecordRow",
    "ValueAgg",
    "read_input",
    "FORMATS",
    "SHAPES",
    "EXTENSIONS",
]

SHAPES = ("auto", "aggregated", "records")
FORMATS = ("auto", "csv", "tsv", "jsonl", "parquet")

#: File extension (lower case) -> format.
EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}

#: Column looked for when ``shape="auto"`` and no ``conversation_col`` is given.
DEFAULT_CONVERSATION_COL = "conversation_id"

_ROLES = {"ai": "ai", "assistant": "ai", "model": "ai", "human": "human", "user": "human"}

_BOM = b"\xef\xbb\xbf"


class _Missing:
    """Marker for a JSONL object without the key (as opposed to an explicit null)."""

    __slots__ = ()

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return "<missing>"


_MISSING: Any = _Missing()


@dataclass
class ValueAgg:
    """One distinct (normalized) value string of the input, with its aggregated statistics."""

    text: str  #: normalized value (:func:`taxonomy.normalize.normalize_value`)
    weight: float
    count: int
    n_conversations: int | None = None  #: distinct conversation ids (records shape); None for aggregated
    aliases: dict[str, int] = field(default_factory=dict)  #: stripped surface form -> number of rows
    first_line: int = 0  #: line (Parquet: row) where the value first appears


@dataclass
class RecordRow:
    """One extraction record (records shape only)."""

    line: int  #: line (Parquet: row) of the record
    conversation_id: str
    value: str  #: normalized value
    surface: str  #: the value string as written, stripped of surrounding whitespace
    role: str | None = None  #: "ai" or "human"
    task: str | None = None
    response_type: str | None = None
    excerpt: str | None = None
    slices: dict[str, str | None] | None = None  #: ``--slice-col`` columns: name -> value (None when blank)
    explicit: bool | None = None  #: ``--explicit-col``: the value was stated explicitly


@dataclass
class ParsedInput:
    """Everything read from one input file."""

    path: str
    sha256: str  #: hex digest of the file bytes
    shape: str  #: "aggregated" or "records"
    format: str  #: "csv", "tsv", "jsonl" or "parquet"
    n_rows: int  #: data rows read (blank lines not counted)
    values: list[ValueAgg] = field(default_factory=list)  #: in order of first appearance
    records: list[RecordRow] = field(default_factory=list)  #: empty for the aggregated shape
    columns: dict[str, Any] = field(default_factory=dict)  #: the column options used (resolved)


# --------------------------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------------------------


def read_input(
    path: str | os.PathLike[str],
    *,
    value_col: str = "value",
    weight_col: str | None = None,
    count_col: str | None = None,
    conversation_col: str | None = None,
    role_col: str | None = None,
    task_col: str | None = None,
    response_type_col: str | None = None,
    excerpt_col: str | None = None,
    shape: str = "auto",
    file_format: str = "auto",
    keep_case: bool = False,
    slice_cols: Iterable[str] = (),
    explicit_col: str | None = None,
) -> ParsedInput:
    """Read, validate and aggregate one input file; see the module docstring.

    Raises :class:`InputError` for any problem in the file (the first one found) and :class:`UsageError` for
    options that cannot work together (unknown shape/format, record columns with the aggregated shape, ...).
    """
    spath = str(path)
    if shape not in SHAPES:
        raise UsageError(f"unknown shape {shape!r}; expected one of {', '.join(SHAPES)}")
    if file_format not in FORMATS:
        raise UsageError(f"unknown file format {file_format!r}; expected one of {', '.join(FORMATS)}")
    if not value_col:
        raise UsageError("the value column name must not be empty")
    slice_cols = _check_slice_cols(slice_cols)

    p = Path(spath)
    if not p.exists():
        raise InputError(spath, "no such file")
    if p.is_dir():
        raise InputError(spath, "is a directory, not a file")
    fmt = file_format if file_format != "auto" else _format_from_extension(spath)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InputError(spath, f"cannot read the file: {e.strerror or e}") from None
    if not data:
        raise InputError(spath, "the file is empty (0 bytes)")
    digest = hashlib.sha256(data).hexdigest()

    reader = _READERS[fmt]
    return reader(spath, data, digest, fmt, _Options.make(
        value_col=value_col, weight_col=weight_col, count_col=count_col, conversation_col=conversation_col,
        role_col=role_col, task_col=task_col, response_type_col=response_type_col, excerpt_col=excerpt_col,
        shape=shape, keep_case=keep_case, slice_cols=slice_cols, explicit_col=explicit_col,
    ))


#: Names the analyses use for the built-in record columns; a slice column cannot take one of them.
RESERVED_SLICE_NAMES = ("task", "response_type", "role", "value", "conversation", "explicit")

_TRUE = {"true", "t", "yes", "y", "1", "explicit"}
_FALSE = {"false", "f", "no", "n", "0", "implicit"}


def _check_slice_cols(slice_cols: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for name in slice_cols:
        if not name or not name.strip():
            raise UsageError("--slice-col: the column name must not be empty")
        if name in RESERVED_SLICE_NAMES:
            raise UsageError(
                f"--slice-col {name}: {name!r} is a built-in record column name; ingest it with "
                f"--{name.replace('_', '-')}-col if it is that column, or rename the column"
            )
        if name in out:
            raise UsageError(f"--slice-col {name} is given twice")
        out.append(name)
    return tuple(out)


def _format_from_extension(path: str) -> str:
    suffix = Path(path).suffix.lower()
    fmt = EXTENSIONS.get(suffix)
    if fmt is None:
        shown = f"extension {suffix!r}" if suffix else "no extension"
        raise InputError(
            path,
            f"unsupported file type ({shown}); expected one of {', '.join(sorted(EXTENSIONS))}, "
            "or name the format explicitly (csv, tsv, jsonl, parquet)",
        )
    return fmt


# --------------------------------------------------------------------------------------------------------------
# Options and column resolution
# --------------------------------------------------------------------------------------------------------------

# Logical fields, in the order of the raw tuples handed to the aggregators.
_RECORD_OPTIONAL = ("role", "task", "response_type", "excerpt")


@dataclass
class _Options:
    value_col: str
    weight_col: str | None
    count_col: str | None
    conversation_col: str | None
    role_col: str | None
    task_col: str | None
    response_type_col: str | None
    excerpt_col: str | None
    shape: str
    keep_case: bool
    slice_cols: tuple[str, ...] = ()
    explicit_col: str | None = None

    @classmethod
    def make(cls, **kw: Any) -> "_Options":
        return cls(**kw)

    def resolve(self, path: str, available: list[str], line: int | None) -> tuple[str, list[tuple[str, str]]]:
        """Decide the shape and return it with the list of (logical field, column name) to read.

        ``available`` are the column names of the file; an unknown requested column raises InputError at
        ``line`` (the header line, or None where the format has none).
        """
        shape = self.shape
        conv = self.conversation_col
        if shape == "auto":
            if conv is not None:
                shape = "records"
            elif DEFAULT_CONVERSATION_COL in available:
                shape, conv = "records", DEFAULT_CONVERSATION_COL
            else:
                shape = "aggregated"
        elif shape == "records" and conv is None:
            conv = DEFAULT_CONVERSATION_COL
        self.conversation_col = conv

        record_opts = {
            "role": self.role_col, "task": self.task_col,
            "response_type": self.response_type_col, "excerpt": self.excerpt_col,
        }
        if shape == "aggregated":
            given = [f"{k}_col" for k, v in record_opts.items() if v is not None]
            given += ["slice_col"] * bool(self.slice_cols) + ["explicit_col"] * (self.explicit_col is not None)
            if conv is not None:
                given.insert(0, "conversation_col")
            if given:
                raise UsageError(
                    f"{', '.join(given)} only apply to record input (one row per conversation and value); "
                    f"{path} is read as aggregated input (no conversation id column)"
                )
            fields = [("value", self.value_col)]
            if self.weight_col is not None:
                fields.append(("weight", self.weight_col))
            if self.count_col is not None:
                fields.append(("count", self.count_col))
        else:
            given = [n for n, v in (("weight_col", self.weight_col), ("count_col", self.count_col)) if v]
            if given:
                raise UsageError(
                    f"{', '.join(given)} only apply to aggregated input; for record input the weight of a "
                    "value is its number of distinct conversations"
                )
            assert conv is not None
            fields = [("value", self.value_col), ("conversation", conv)]
            fields += [(k, v) for k, v in record_opts.items() if v is not None]
            fields += [(f"slice:{c}", c) for c in self.slice_cols]
            if self.explicit_col is not None:
                fields.append(("explicit", self.explicit_col))

        avail = set(available)
        for _, col in fields:
            if col not in avail:
                listed = ", ".join(repr(c) for c in available) if available else "(none)"
                problem = f"unknown column {col!r}; available columns: {listed}"
                if len(available) == 1 and any(d in available[0] for d in (";", "\t", ",", "|")):
                    problem += " (the header has a single column: is the delimiter right?)"
                raise InputError(path, problem, line=line, field=col)
        return shape, fields

    def as_dict(self) -> dict[str, Any]:
        return {
            "value_col": self.value_col,
            "weight_col": self.weight_col,
            "count_col": self.count_col,
            "conversation_col": self.conversation_col,
            "role_col": self.role_col,
            "task_col": self.task_col,
            "response_type_col": self.response_type_col,
            "excerpt_col": self.excerpt_col,
            "keep_case": self.keep_case,
            # Only when used, so that batches ingested before these options keep the same options.
            **({"slice_cols": list(self.slice_cols)} if self.slice_cols else {}),
            **({"explicit_col": self.explicit_col} if self.explicit_col is not None else {}),
        }


# --------------------------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------------------------


def _decode(path: str, data: bytes, *, lone_cr_breaks: bool = True) -> str:
    """Strict UTF-8 (a leading BOM is dropped); a decoding error names the line of the bad bytes.

    ``lone_cr_breaks``: whether a lone carriage return ends a line (CSV, read with universal newlines) or not
    (JSONL, split on line feeds only), so that the line reported matches the reader's own numbering.
    """
    bom = len(_BOM) if data.startswith(_BOM) else 0
    if bom:
        data = data[bom:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        prefix = data[: e.start]
        line = prefix.count(b"\n") + 1
        line_start = prefix.rfind(b"\n") + 1
        if lone_cr_breaks:  # universal newlines: \n, \r\n and a lone \r
            line += prefix.count(b"\r") - prefix.count(b"\r\n")
            line_start = max(line_start, prefix.rfind(b"\r") + 1)
        column = e.start - line_start + 1
        bad = data[e.start: min(e.end, e.start + 4)]
        problem = (
            f"not valid UTF-8: byte(s) {bad.hex(' ')} at byte {column} of the line "
            f"(file offset {e.start + bom}); "
            "save the file as UTF-8"
        )
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            problem += " (it looks like UTF-16)"
        raise InputError(path, problem, line=line) from None


# --------------------------------------------------------------------------------------------------------------
# Format readers: each produces (shape, fields, rows) where rows yields (line, tuple of raw values)
# --------------------------------------------------------------------------------------------------------------


def _read_csv(path: str, data: bytes, digest: str, fmt: str, opts: _Options) -> ParsedInput:
    text = _decode(path, data)
    delimiter = "\t" if fmt == "tsv" else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)

    header: list[str] | None = None
    header_line = 0
    prev = 0  # reader.line_num after the previous record: the next record starts on prev + 1

    def rows() -> Iterator[tuple[int, list[str]]]:
        nonlocal prev
        it = iter(reader)
        while True:
            start = prev + 1
            try:
                row = next(it)
            except StopIteration:
                return
            except csv.Error as e:
                raise InputError(path, _csv_problem(str(e), start, reader.line_num), line=start) from None
            prev = reader.line_num
            yield start, row

    row_iter = rows()
    for start, row in row_iter:
        if not row:  # blank line
            continue
        header, header_line = [c.strip() for c in row], start
        break
    if header is None:
        raise InputError(path, "the file has no header row (it holds only blank lines)", line=1)

    shape, fields = opts.resolve(path, header, header_line)
    positions = {}
    for name in header:
        positions[name] = positions.get(name, 0) + 1
    for _, col in fields:
        if positions[col] > 1:
            raise InputError(
                path, f"the header has {positions[col]} columns named {col!r}; rename them", line=header_line,
                field=col,
            )
    index = {name: i for i, name in enumerate(header)}
    idx = [index[col] for _, col in fields]
    width = len(header)

    def raw() -> Iterator[tuple[int, tuple[Any, ...]]]:
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
            yield start, tuple(row[i] for i in idx)

    return _aggregate(path, digest, fmt, shape, fields, raw(), opts, empty_line=header_line)


def _csv_problem(msg: str, start: int, end: int) -> str:
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


def _read_jsonl(path: str, data: bytes, digest: str, fmt: str, opts: _Options) -> ParsedInput:
    text = _decode(path, data, lone_cr_breaks=False)
    objects: list[tuple[int, dict[str, Any]]] = []
    keys: dict[str, None] = {}  # union of keys, in order of first appearance
    loads = json.loads
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            obj = loads(line)
        except json.JSONDecodeError as e:
            raise InputError(path, f"invalid JSON: {e.msg} (column {e.colno})", line=lineno) from None
        except RecursionError:
            raise InputError(path, "invalid JSON: nested too deeply", line=lineno) from None
        if type(obj) is not dict:
            raise InputError(
                path, f"expected a JSON object ({{...}}) on each line, got {_json_type(obj)}", line=lineno
            )
        for k in obj:
            if k not in keys:
                keys[k] = None
        objects.append((lineno, obj))
    if not objects:
        raise InputError(path, "the file has no records (only blank lines)", line=1)

    first_line = objects[0][0]
    shape, fields = opts.resolve(path, list(keys), first_line)
    cols = [col for _, col in fields]

    def raw() -> Iterator[tuple[int, tuple[Any, ...]]]:
        for lineno, obj in objects:
            yield lineno, tuple(obj.get(c, _MISSING) for c in cols)

    return _aggregate(path, digest, fmt, shape, fields, raw(), opts, empty_line=1)


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "an array"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


def _read_parquet(path: str, data: bytes, digest: str, fmt: str, opts: _Options) -> ParsedInput:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(pa.BufferReader(data))
        names = list(pf.schema_arrow.names)
    except (pa.ArrowException, OSError, ValueError) as e:
        raise InputError(path, f"not a valid Parquet file ({_first_line(e)})") from None

    shape, fields = opts.resolve(path, names, None)
    cols = [col for _, col in fields]
    try:
        table = pf.read(columns=list(dict.fromkeys(cols)))
    except (pa.ArrowException, OSError, ValueError) as e:
        raise InputError(path, f"cannot read the Parquet data ({_first_line(e)})") from None
    if table.num_rows == 0:
        raise InputError(path, "the file has no data rows (0 rows)")

    columns = [table.column(c).to_pylist() for c in cols]

    def raw() -> Iterator[tuple[int, tuple[Any, ...]]]:
        return enumerate(zip(*columns), 1)

    return _aggregate(path, digest, fmt, shape, fields, raw(), opts, empty_line=None, unit="row")


def _first_line(e: BaseException) -> str:
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__


_READERS = {"csv": _read_csv, "tsv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet}


# --------------------------------------------------------------------------------------------------------------
# Validation and aggregation (shared by all formats)
# --------------------------------------------------------------------------------------------------------------


def _aggregate(
    path: str,
    digest: str,
    fmt: str,
    shape: str,
    fields: list[tuple[str, str]],
    rows: Iterable[tuple[int, tuple[Any, ...]]],
    opts: _Options,
    *,
    empty_line: int | None,
    unit: str = "line",
) -> ParsedInput:
    keep_case = opts.keep_case
    names = [k for k, _ in fields]
    colname = dict(fields)
    pos = {k: i for i, k in enumerate(names)}
    # In Parquet the "line" is the row: say so in the problem text.
    suffix = " (Parquet row {})" if unit == "row" else ""

    def fail(line: int, key: str, problem: str) -> InputError:
        return InputError(path, problem + (suffix.format(line) if suffix else ""), line=line, field=colname[key])

    norm_cache: dict[str, str] = {}

    def value_of(line: int, raw: Any) -> tuple[str, str]:
        if raw is _MISSING:
            raise fail(line, "value", "missing value field")
        if raw is None:
            raise fail(line, "value", "value is null")
        if not isinstance(raw, str):
            raise fail(line, "value", f"value must be a string, got {_json_type(raw)} ({raw!r})")
        norm = norm_cache.get(raw)
        if norm is None:
            problem = text_problem(raw, multiline=True)  # tabs and line breaks are whitespace: they collapse
            if problem:
                raise fail(line, "value", f"value {problem}")
            norm = normalize_value(raw, keep_case=keep_case)
            if not norm:
                raise fail(line, "value", "empty value" if not raw else "value is blank (only whitespace)")
            if len(norm) > MAX_VALUE_LENGTH:
                raise fail(
                    line, "value",
                    f"value is {len(norm)} characters long after normalisation; the limit is {MAX_VALUE_LENGTH}",
                )
            surface = strip_invisible(raw).strip()
            if len(surface) > MAX_SURFACE_LENGTH:
                raise fail(
                    line, "value", f"value is {len(surface)} characters long as written; the limit is {MAX_SURFACE_LENGTH}"
                )
            norm_cache[raw] = norm
        return norm, strip_invisible(raw).strip()

    values: dict[str, ValueAgg] = {}
    n_rows = 0
    records: list[RecordRow] = []

    if shape == "aggregated":
        iw = pos.get("weight")
        ic = pos.get("count")
        for line, r in rows:
            n_rows += 1
            norm, surface = value_of(line, r[0])
            count = _count(r[ic], line, fail) if ic is not None else 1
            weight = _weight(r[iw], line, fail) if iw is not None else float(count)
            agg = values.get(norm)
            if agg is None:
                values[norm] = ValueAgg(norm, weight, count, None, {surface: 1}, line)
            else:
                agg.weight += weight
                agg.count += count
                agg.aliases[surface] = agg.aliases.get(surface, 0) + 1
    else:
        opt_idx = [(k, pos[k]) for k in _RECORD_OPTIONAL if k in pos]
        slice_idx = [(k[6:], k, pos[k]) for k in names if k.startswith("slice:")]
        ix = pos.get("explicit")
        convs: dict[str, set[str]] = {}
        for line, r in rows:
            n_rows += 1
            norm, surface = value_of(line, r[0])
            conv = _conversation(r[1], line, fail)
            extra: dict[str, str | None] = {}
            for k, i in opt_idx:
                v = _text(r[i], line, k, fail)
                if k == "role" and v is not None:
                    role = _ROLES.get(v.casefold())
                    if role is None:
                        raise fail(
                            line, "role",
                            f"unknown role {v!r}; expected ai/assistant/model or human/user (any case)",
                        )
                    v = role
                extra[k] = v
            if slice_idx:
                extra["slices"] = {name: _text(r[i], line, k, fail) for name, k, i in slice_idx}
            if ix is not None:
                extra["explicit"] = _explicit(r[ix], line, fail)
            records.append(RecordRow(line, conv, norm, surface, **extra))
            agg = values.get(norm)
            if agg is None:
                values[norm] = ValueAgg(norm, 0.0, 1, 0, {surface: 1}, line)
                convs[norm] = {conv}
            else:
                agg.count += 1
                agg.aliases[surface] = agg.aliases.get(surface, 0) + 1
                convs[norm].add(conv)
        for norm, agg in values.items():
            agg.n_conversations = len(convs[norm])
            agg.weight = float(agg.n_conversations)

    if n_rows == 0:
        where = "a header row but no data rows" if unit == "line" else "no data rows"
        raise InputError(path, f"the file has {where}", line=empty_line)

    return ParsedInput(
        path=path, sha256=digest, shape=shape, format=fmt, n_rows=n_rows,
        values=list(values.values()), records=records, columns=opts.as_dict(),
    )


def _number(raw: Any, line: int, key: str, fail: Any) -> float | int:
    """A JSON/Parquet number, or a string holding one (CSV); booleans, blanks and other types are errors."""
    if raw is _MISSING:
        raise fail(line, key, f"missing {key} field")
    if raw is None:
        raise fail(line, key, f"{key} is null")
    if isinstance(raw, bool):
        raise fail(line, key, f"{key} must be a number, got a boolean ({raw!r})")
    if isinstance(raw, (int, float)):
        return raw
    if isinstance(raw, str):
        s = raw.strip()
        if not s:
            raise fail(line, key, f"{key} is empty")
        if "_" not in s:
            try:
                return int(s)
            except ValueError:
                pass
            try:
                return float(s)
            except ValueError:
                pass
        raise fail(line, key, f"{key} is not a number: {raw!r}")
    try:  # e.g. decimal.Decimal from a Parquet decimal column
        return float(raw)
    except (TypeError, ValueError):
        raise fail(line, key, f"{key} must be a number, got {type(raw).__name__} ({raw!r})") from None


def _weight(raw: Any, line: int, fail: Any) -> float:
    w = float(_number(raw, line, "weight", fail))
    if math.isnan(w):
        raise fail(line, "weight", "weight is NaN")
    if math.isinf(w):
        raise fail(line, "weight", "weight is infinite")
    if w < 0:
        raise fail(line, "weight", f"weight is negative ({raw!r})")
    return w + 0.0  # -0.0 -> 0.0


def _count(raw: Any, line: int, fail: Any) -> int:
    c = _number(raw, line, "count", fail)
    if isinstance(c, float):
        if not math.isfinite(c) or c != int(c):
            raise fail(line, "count", f"count must be a whole number, got {raw!r}")
        c = int(c)
    if c < 0:
        raise fail(line, "count", f"count is negative ({raw!r})")
    return c


def _conversation(raw: Any, line: int, fail: Any) -> str:
    if raw is _MISSING or raw is None:
        raise fail(line, "conversation", "missing conversation id")
    if isinstance(raw, bool) or isinstance(raw, (list, dict)):
        raise fail(line, "conversation", f"conversation id must be a string or integer, got {_json_type(raw)}")
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)  # an integer column that went through a float (pandas with nulls)
    s = str(raw).strip()
    if not s:
        raise fail(line, "conversation", "missing conversation id (empty)")
    problem = text_problem(s)
    if problem:
        raise fail(line, "conversation", f"conversation id {problem}")
    if len(s) > MAX_SHORT_TEXT:
        raise fail(line, "conversation", f"conversation id is {len(s)} characters long; the limit is {MAX_SHORT_TEXT}")
    return s


#: optional text fields stored in short columns: the full character policy and a length limit apply
_SHORT_TEXT_FIELDS = frozenset({"role", "response_type"})
def _explicit(raw: Any, line: int, fail: Any) -> bool | None:
    """The explicitness field: a boolean, 1/0, or true/false, yes/no, explicit/implicit (any case); blank = unknown."""
    if raw is _MISSING or raw is None:
        return None
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, (int, float)) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str):
        s = raw.strip().casefold()
        if not s:
            return None
        if s in _TRUE:
            return True
        if s in _FALSE:
            return False
    raise fail(
        line, "explicit",
        f"explicitness must be true/false, yes/no, 1/0 or explicit/implicit, got {raw!r}",
    )


def _text(raw: Any, line: int, key: str, fail: Any) -> str | None:
    """An optional text field: missing, null or blank -> None."""
    if raw is _MISSING or raw is None:
        return None
    if isinstance(raw, str):
        if "\x00" in raw:  # PostgreSQL cannot store NUL in text; refused on every database alike
            raise fail(line, key, f"{key} contains a NUL character (at character {raw.index(chr(0)) + 1})")
        s = raw.strip() or None
        if s is not None and key in _SHORT_TEXT_FIELDS:
            problem = text_problem(s)
            if problem:
                raise fail(line, key, f"{key} {problem}")
            if len(s) > MAX_SHORT_TEXT:
                raise fail(line, key, f"{key} is {len(s)} characters long; the limit is {MAX_SHORT_TEXT}")
        return s
    if isinstance(raw, (list, dict)):
        raise fail(line, key, f"{key} must be a string, got {_json_type(raw)}")
    if isinstance(raw, bool):
        raise fail(line, key, f"{key} must be a string, got a boolean")
    return str(raw)
