"""The ingest's content hash and its on-disk spool of checked records (between the validation and the write
pass of :func:`taxonomy.ingest.ingest`): the hash lines of every record, sorted per chunk and merged, so that the
same rows in another order or form give the same batch hash, with one chunk in memory at a time."""

from __future__ import annotations

import json
import marshal
import os
import tempfile
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from itertools import repeat
from typing import Any

from taxonomy.readers import RecordColumns, RecordRow
from taxonomy.readers.options import RECORD_OPTIONAL


def content_cell(x) -> str:
    """One cell of a line of :func:`content_sha256`."""
    if x is None:
        return "\x00"
    if isinstance(x, float):
        return f"{x:.12g}"
    return str(x).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def content_sha256(values: Iterable[tuple], records: Iterable = (), *, n_records: int | None = None) -> str:
    """sha256 of a batch's content, independent of row order and file form: its values (normalized text,
    weight, count, conversations) and its extraction records (conversation, value, role, task, response type,
    excerpt), each sorted. Weights are written with 12 significant digits, so that sums in another order agree.

    ``records`` are tuples; or, with ``n_records`` given, their lines already encoded and sorted, each ending in
    a line feed, in blocks of any number of lines (as :meth:`RecordSpool.sorted_lines` gives them, without
    holding them all)."""
    import hashlib

    h = hashlib.sha256()

    def feed(kind: str, n: int, lines: Iterable[bytes]) -> None:
        h.update(f"{kind}{n}\n".encode())
        for line in lines:
            h.update(line)
            h.update(b"\n")

    def encoded(rows: Iterable[tuple]) -> list[bytes]:
        return sorted("\t".join(content_cell(c) for c in row).encode("utf-8", "surrogatepass") for row in rows)

    vlines = encoded(values)
    feed("v", len(vlines), vlines)
    if n_records is None:
        rlines = encoded(records)
        feed("r", len(rlines), rlines)
    else:
        h.update(f"r{n_records}\n".encode())
        for lines in records:
            h.update(lines)
    return h.hexdigest()


def record_line(r) -> str:
    """A record's line of :func:`content_sha256` (conversation, value, role, task, response type, excerpt; and
    the slice columns and explicitness only where given, so that batches hashed before they existed agree)."""
    line = "\t".join((
        r.conversation_id, r.value,
        "\x00" if r.role is None else r.role,
        "\x00" if r.task is None else r.task,
        "\x00" if r.response_type is None else r.response_type,
        "\x00" if r.excerpt is None else r.excerpt,
    ))
    if r.slices or r.explicit is not None or line.count("\t") != 5 or "\\" in line or "\n" in line:
        key = (r.conversation_id, r.value, r.role, r.task, r.response_type, r.excerpt)  # the general case
        if r.slices or r.explicit is not None:
            key += (json.dumps(r.slices, sort_keys=True), r.explicit)
        line = "\t".join(content_cell(c) for c in key)
    return line


def record_lines(chunk: RecordColumns, packed: dict[str, Any] | None = None) -> list[str]:
    """The :func:`record_line` of every record of a chunk: joined column by column when no cell needs the
    general case (no slices or explicitness, no tab, line feed or backslash), else record by record. ``packed``:
    the chunk's text columns as :func:`pack_column` gave them (joined once for the spool, looked at here)."""
    if chunk.slices is None and chunk.explicit is None:
        n = len(chunk)
        names = ("conversation_id", "value", *RECORD_OPTIONAL)
        if packed is None:
            packed = {name: pack_column(getattr(chunk, name)) for name in names}
        cols: list[Iterable[str]] = []
        for name in names:
            p = packed[name]
            if p is None:
                cols.append(repeat("\x00", n))
                continue
            if type(p) is not tuple or "\\" in p[1] or "\t" in p[1] or "\n" in p[1]:
                break  # a cell with a NUL (a list), or one that needs escaping
            col = getattr(chunk, name)
            cols.append(["\x00" if x is None else x for x in col] if p[2] else col)
        else:
            return list(map("\t".join, zip(*cols)))
    return list(map(record_line, chunk.rows()))


class RecordSpool:
    """The checked records of the validation pass, kept on disk until the write pass: the records themselves
    (marshal, one chunk of columns at a time, in file order) and, per chunk, their :func:`content_sha256` lines
    sorted (merged at the end). Holds one chunk in memory at a time; the files go when the ``with`` block ends."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="taxo-ingest-")
        self._records = open(os.path.join(self._dir.name, "records"), "w+b")
        self._runs: list[str] = []
        self.n_records = 0

    def __enter__(self) -> "RecordSpool":
        return self

    def __exit__(self, *exc) -> None:
        self._records.close()
        self._dir.cleanup()

    def add(self, chunk: RecordColumns) -> None:
        packed = {name: pack_column(col) if name in TEXT_FIELDS else None if col is None else list(col)
                  for name, col in zip(RecordRow._fields, chunk.columns())}
        blob = marshal.dumps(list(packed.values()))
        self._records.write(len(blob).to_bytes(8, "little"))
        self._records.write(blob)
        lines = record_lines(chunk, packed)
        lines.sort()  # as str: the same order as their UTF-8 bytes
        run = os.path.join(self._dir.name, f"run{len(self._runs)}")
        with open(run, "wb") as f:
            f.write("\n".join(lines).encode("utf-8", "surrogatepass"))
            f.write(b"\n")
        self._runs.append(run)
        self.n_records += len(chunk)

    def sorted_lines(self) -> Iterator[bytes]:
        """Every record's hash line, each ending in a line feed, in sorted order (of the lines without it), in
        blocks of many lines: a merge of the sorted runs, done a block at a time (:func:`merge_runs`)."""
        files = [open(run, "rb") for run in self._runs]
        try:
            yield from merge_runs(files)
        finally:
            for f in files:
                f.close()

    def chunks(self) -> Iterator[RecordColumns]:
        """The records, one chunk of columns at a time, in file order."""
        self._records.flush()
        self._records.seek(0)
        while size := self._records.read(8):
            yield RecordColumns(*map(unpack_column, marshal.loads(self._records.read(int.from_bytes(size, "little")))))


#: the record fields that hold text (or None): :func:`pack_column` joins them
TEXT_FIELDS = frozenset({"conversation_id", "value", "surface", *RECORD_OPTIONAL})


def pack_column(col: Sequence[str | None] | None) -> Any:
    """A spool chunk's text column as marshal writes and reads it fast: one string joined by NUL (which no
    checked text holds) and the positions of its Nones; a list where a NUL is there after all."""
    if col is None:
        return None
    try:
        text, nones = "\x00".join(col), []  # type: ignore[arg-type]
    except TypeError:  # a None
        nones = [i for i, x in enumerate(col) if x is None]
        text = "\x00".join("" if x is None else x for x in col)
    if text.count("\x00") == len(col) - 1:
        return ("text", text, nones)
    return list(col)


def unpack_column(packed: Any) -> Sequence | None:
    if type(packed) is not tuple:
        return packed
    _, text, nones = packed
    col: list[str | None] = text.split("\x00")
    for i in nones:
        col[i] = None
    return col


MERGE_BLOCK_BYTES = 1 << 20


def _read_lines(f, block: int, tail: list[bytes]) -> list[bytes]:
    """The next whole lines (without their line feeds) of a file of lines each ending in one, about ``block``
    bytes of them; ``tail`` holds the part line left over from the previous read. [] at the end."""
    while True:
        data = f.read(block)
        if not data:
            return []  # every line ends in a line feed: nothing is left in tail
        data = tail.pop() + data if tail else data
        cut = data.rfind(b"\n")
        if cut < 0:
            tail.append(data)
            continue
        if cut + 1 < len(data):
            tail.append(data[cut + 1:])
        return data[:cut].split(b"\n")


def merge_runs(files: Sequence, block: int = MERGE_BLOCK_BYTES) -> Iterator[bytes]:
    """Merge files of sorted lines (each ending in a line feed; sorted as the lines without it) into blocks of
    bytes of whole lines, in sorted order. A block at a time: each file's next lines are read (about ``block``
    bytes), every line up to the smallest last line read is taken (no line still unread can be smaller), and
    those are sorted together; no Python work per line."""
    bufs: list[list[bytes]] = []
    heads: list[int] = []
    live: list = []
    for f in files:
        tail: list[bytes] = []
        lines = _read_lines(f, block, tail)
        if lines:
            bufs.append(lines)
            heads.append(0)
            live.append((f, tail))
    while bufs:
        bound = min(buf[-1] for buf in bufs)
        taken: list[bytes] = []
        for i, buf in enumerate(bufs):
            k = bisect_right(buf, bound, heads[i])
            taken += buf[heads[i]:k]
            heads[i] = k
        for i in range(len(bufs) - 1, -1, -1):
            if heads[i] == len(bufs[i]):
                f, tail = live[i]
                more = _read_lines(f, block, tail)
                if more:
                    bufs[i], heads[i] = more, 0
                else:
                    del bufs[i], heads[i], live[i]
        taken.sort()
        taken.append(b"")
        yield b"\n".join(taken)
