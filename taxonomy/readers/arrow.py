"""Arrow columns (pyarrow's JSON and Parquet readers) as the Python cells the column path of
:meth:`~taxonomy.readers.records.Aggregator.column_chunk` takes, only where they are exactly what reading the
rows one by one would hand to the checks (else None: the caller reads those rows one by one)."""

from __future__ import annotations

from typing import Any

#: fields that must hold a text in every record (a null, a missing key or another type is an error, reported by
#: the record-by-record path)
REQUIRED = frozenset({"value", "conversation"})
#: fields whose integers are read as text (as :func:`~taxonomy.readers.cells.conversation` and
#: :func:`~taxonomy.readers.cells.text` write them: ``str(int)``); a value must be a string
INTEGERS_AS_TEXT = frozenset({"conversation", "role", "task", "response_type", "excerpt"})


def text_cells(arr, field: str) -> list[Any] | None:
    """The cells of an Arrow column (Array or ChunkedArray) of the logical ``field``: a list of str, None for a
    null. None when the column is not text (a dictionary of text counts as text; integers where
    :data:`INTEGERS_AS_TEXT`), or has a null in a :data:`REQUIRED` field."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = arr.type
    if pa.types.is_dictionary(t):
        arr, t = pc.cast(arr, t.value_type), t.value_type
    if pa.types.is_null(t):
        return absent_cells(len(arr), field)
    if pa.types.is_integer(t) and field in INTEGERS_AS_TEXT:
        arr = pc.cast(arr, pa.string())
    elif not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        return None
    if field in REQUIRED and arr.null_count:
        return None
    return arr.to_pylist()


def absent_cells(n: int, field: str) -> list[None] | None:
    """The cells of a column no record of a block has (None each), or None for a :data:`REQUIRED` field."""
    return None if field in REQUIRED else [None] * n


def plain_bytes(raw: bytes) -> bool:
    """Whether ``raw`` is valid UTF-8 with no byte-order mark and no carriage return but in CRLF: bytes that the
    line-by-line readers and pyarrow's parsers split into the same lines and read as the same text."""
    if not raw.isascii():
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return False
        if b"\xef\xbb\xbf" in raw:
            return False
    return raw.count(b"\r") == raw.count(b"\r\n")
