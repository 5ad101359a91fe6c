"""JSONL input (one JSON object per line, lines split on line feeds only), read as a stream.

The columns are the union of the keys of every object, so the file is read twice: once for the keys (and the
JSON syntax), once for the rows; neither pass holds more than one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from taxonomy.errors import InputError
from taxonomy.readers.cells import BOM, MISSING, json_type, raise_decode_error
from taxonomy.readers.options import ReadOptions, Resolved, resolve

Rows = Iterator[tuple[int, tuple]]


def objects(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, object) for every non-blank line; InputError for bad UTF-8, bad JSON or a non-object."""
    loads = json.loads
    with open(path, "rb") as f:
        for lineno, data in enumerate(f, 1):
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
                raise InputError(
                    path, f"expected a JSON object ({{...}}) on each line, got {json_type(obj)}", line=lineno
                )
            yield lineno, obj


def open_rows(path: str, fmt: str, opts: ReadOptions) -> tuple[Resolved, Rows, int]:
    keys: dict[str, None] = {}  # union of keys, in order of first appearance
    first_line = None
    for lineno, obj in objects(path):
        if first_line is None:
            first_line = lineno
        for k in obj:
            if k not in keys:
                keys[k] = None
    if first_line is None:
        raise InputError(path, "the file has no records (only blank lines)", line=1)
    resolved = resolve(opts, path, list(keys), first_line)
    cols = [col for _, col in resolved.fields]

    def raw() -> Rows:
        for lineno, obj in objects(path):
            yield lineno, tuple([obj.get(c, MISSING) for c in cols])

    return resolved, raw(), 1
