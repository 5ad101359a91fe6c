"""The options of ``taxo ingest`` that say how to read a file (:class:`ReadOptions`), and how they resolve
against the columns a file has (:func:`resolve`)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Iterable

from taxonomy.errors import InputError, UsageError

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

#: Names the analyses use for the built-in record columns; a slice column cannot take one of them.
RESERVED_SLICE_NAMES = ("task", "response_type", "role", "value", "conversation", "explicit")

#: Optional record fields, in the order of the raw tuples handed to the aggregator.
RECORD_OPTIONAL = ("role", "task", "response_type", "excerpt")


@dataclass(frozen=True)
class ReadOptions:
    """How to read one input file: the column names, the shape and format, case folding.

    The one place these options are defined: :func:`taxonomy.readers.read_input`, :func:`taxonomy.ingest.ingest`,
    :func:`taxonomy.api.ingest` and ``taxo ingest`` all take a ``ReadOptions`` (or its field names as keywords).
    """

    value_col: str = "value"  #: column holding the value string
    weight_col: str | None = None  #: aggregated input: numeric weight column (e.g. ``pct_convos``)
    count_col: str | None = None  #: aggregated input: integer count column
    conversation_col: str | None = None  #: records: conversation id column (given: the file holds records)
    role_col: str | None = None  #: records: role that expressed the value (ai/human)
    task_col: str | None = None  #: records: task or context
    response_type_col: str | None = None  #: records: response type
    excerpt_col: str | None = None  #: records: evidence excerpt
    shape: str = "auto"  #: "aggregated", "records" or "auto" (records when a conversation column exists)
    file_format: str = "auto"  #: "csv", "tsv", "jsonl", "parquet" or "auto" (from the extension)
    keep_case: bool = False  #: do not case-fold values
    slice_cols: tuple[str, ...] = ()  #: records: free slice columns (e.g. the model), stored as {name: value}
    explicit_col: str | None = None  #: records: whether the value was stated explicitly

    @classmethod
    def of(cls, options: "ReadOptions | None" = None, **overrides: Any) -> "ReadOptions":
        """``options`` (default: all defaults) with ``overrides`` (field names of this class) applied.

        An unknown keyword raises TypeError, as it would for a function that spelled the options out."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise TypeError(f"unknown read option(s): {', '.join(unknown)}")
        base = options if options is not None else cls()
        if "slice_cols" in overrides:
            overrides["slice_cols"] = tuple(overrides["slice_cols"] or ())
        return replace(base, **overrides) if overrides else base

    def check(self) -> None:
        """Raise UsageError for options that cannot work whatever the file (unknown shape or format, ...)."""
        if self.shape not in SHAPES:
            raise UsageError(f"unknown shape {self.shape!r}; expected one of {', '.join(SHAPES)}")
        if self.file_format not in FORMATS:
            raise UsageError(f"unknown file format {self.file_format!r}; expected one of {', '.join(FORMATS)}")
        if not self.value_col:
            raise UsageError("the value column name must not be empty")
        check_slice_cols(self.slice_cols)


@dataclass(frozen=True)
class Resolved:
    """The options resolved against one file's columns."""

    shape: str  #: "aggregated" or "records"
    fields: list[tuple[str, str]]  #: (logical field, column name), in the order of the raw tuples
    columns: dict[str, Any]  #: the options as stored with the batch (conversation column resolved)


def check_slice_cols(slice_cols: Iterable[str]) -> tuple[str, ...]:
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


def format_from_extension(path: str) -> str:
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


def resolve(opts: ReadOptions, path: str, available: list[str], line: int | None) -> Resolved:
    """Decide the shape and the (logical field, column name) pairs to read.

    ``available`` are the column names of the file; an unknown requested column raises InputError at ``line``
    (the header line, or None where the format has none).
    """
    shape = opts.shape
    conv = opts.conversation_col
    if shape == "auto":
        if conv is not None:
            shape = "records"
        elif DEFAULT_CONVERSATION_COL in available:
            shape, conv = "records", DEFAULT_CONVERSATION_COL
        else:
            shape = "aggregated"
    elif shape == "records" and conv is None:
        conv = DEFAULT_CONVERSATION_COL

    record_opts = {
        "role": opts.role_col, "task": opts.task_col,
        "response_type": opts.response_type_col, "excerpt": opts.excerpt_col,
    }
    if shape == "aggregated":
        given = [f"{k}_col" for k, v in record_opts.items() if v is not None]
        given += ["slice_col"] * bool(opts.slice_cols) + ["explicit_col"] * (opts.explicit_col is not None)
        if conv is not None:
            given.insert(0, "conversation_col")
        if given:
            raise UsageError(
                f"{', '.join(given)} only apply to record input (one row per conversation and value); "
                f"{path} is read as aggregated input (no conversation id column)"
            )
        pairs = [("value", opts.value_col)]
        if opts.weight_col is not None:
            pairs.append(("weight", opts.weight_col))
        if opts.count_col is not None:
            pairs.append(("count", opts.count_col))
    else:
        given = [n for n, v in (("weight_col", opts.weight_col), ("count_col", opts.count_col)) if v]
        if given:
            raise UsageError(
                f"{', '.join(given)} only apply to aggregated input; for record input the weight of a "
                "value is its number of distinct conversations"
            )
        assert conv is not None
        pairs = [("value", opts.value_col), ("conversation", conv)]
        pairs += [(k, v) for k, v in record_opts.items() if v is not None]
        pairs += [(f"slice:{c}", c) for c in opts.slice_cols]
        if opts.explicit_col is not None:
            pairs.append(("explicit", opts.explicit_col))

    avail = set(available)
    for _, col in pairs:
        if col not in avail:
            listed = ", ".join(repr(c) for c in available) if available else "(none)"
            problem = f"unknown column {col!r}; available columns: {listed}"
            if len(available) == 1 and any(d in available[0] for d in (";", "\t", ",", "|")):
                problem += " (the header has a single column: is the delimiter right?)"
            raise InputError(path, problem, line=line, field=col)
    return Resolved(shape, pairs, stored_options(opts, conv))


def stored_options(opts: ReadOptions, conversation_col: str | None) -> dict[str, Any]:
    """The options as recorded with a batch (re-ingesting the same bytes must give the same dict)."""
    return {
        "value_col": opts.value_col,
        "weight_col": opts.weight_col,
        "count_col": opts.count_col,
        "conversation_col": conversation_col,
        "role_col": opts.role_col,
        "task_col": opts.task_col,
        "response_type_col": opts.response_type_col,
        "excerpt_col": opts.excerpt_col,
        "keep_case": opts.keep_case,
        # Only when used, so that batches ingested before these options keep the same options.
        **({"slice_cols": list(opts.slice_cols)} if opts.slice_cols else {}),
        **({"explicit_col": opts.explicit_col} if opts.explicit_col is not None else {}),
    }
