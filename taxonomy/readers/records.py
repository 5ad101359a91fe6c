"""Validation and incremental aggregation of the rows of an input file, shared by every format.

:class:`Aggregator` takes the raw rows of a file (``(line, tuple of raw cells)``, in the order of
:attr:`~taxonomy.readers.options.Resolved.fields`) and, for extraction records, hands them back validated in
chunks of :class:`RecordRow` while it adds them up per value; only the chunk in hand and the per-value totals are
held (the distinct (value, conversation) pairs as one int64 each), never every record of the file.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter
from typing import Any, Iterable, Iterator, NamedTuple, Sequence

from taxonomy.errors import InputError
from taxonomy.normalize import MAX_SURFACE_LENGTH, MAX_VALUE_LENGTH, normalize_value, strip_invisible, text_problem
from taxonomy.readers import cells
from taxonomy.readers.options import RECORD_OPTIONAL, Resolved

#: records per chunk handed to the caller (memory is bounded by this many rows plus the per-value totals)
CHUNK_ROWS = 50_000


@dataclass
class ValueAgg:
    """One distinct (normalized) value string of the input, with its aggregated statistics."""

    text: str  #: normalized value (:func:`taxonomy.normalize.normalize_value`)
    weight: float
    count: int
    n_conversations: int | None = None  #: distinct conversation ids (records shape); None for aggregated
    aliases: dict[str, int] = field(default_factory=dict)  #: stripped surface form -> number of rows
    first_line: int = 0  #: line (Parquet: row) where the value first appears


class RecordRow(NamedTuple):
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


class RecordColumns:
    """A chunk of extraction records column by column: one sequence per :class:`RecordRow` field, of the same
    length (an optional field the file does not have may be None: no value in any record). ``len()`` is the
    number of records."""

    __slots__ = RecordRow._fields + ("n",)

    def __init__(self, *columns: Sequence[Any] | None) -> None:
        for name, col in zip(RecordRow._fields, columns, strict=True):
            setattr(self, name, col)
        self.n = len(columns[0])

    def __len__(self) -> int:
        return self.n

    def columns(self) -> list[Sequence[Any] | None]:
        """The columns in :class:`RecordRow` field order."""
        return [getattr(self, name) for name in RecordRow._fields]

    def filled(self, name: str, fill: Any = None) -> Iterable[Any]:
        """The column ``name``, an absent one as ``fill`` for every record."""
        col = getattr(self, name)
        return repeat(fill, self.n) if col is None else col

    def rows(self) -> list[RecordRow]:
        new = tuple.__new__
        return [new(RecordRow, r) for r in zip(*(self.filled(name) for name in RecordRow._fields))]

    @classmethod
    def of_rows(cls, rows: Sequence[RecordRow]) -> "RecordColumns":
        return cls(*zip(*rows))


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


class Aggregator:
    """Validates raw rows and adds them up per normalized value (see the module docstring)."""

    def __init__(self, path: str, resolved: Resolved, *, keep_case: bool, unit: str = "line") -> None:
        self.path = path
        self.shape = resolved.shape
        self.names = [k for k, _ in resolved.fields]
        self.colname = dict(resolved.fields)
        self.pos = {k: i for i, k in enumerate(self.names)}
        self.keep_case = keep_case
        # In Parquet the "line" is the row: say so in the problem text.
        self.suffix = " (Parquet row {})" if unit == "row" else ""
        self.unit = unit
        self.values: dict[str, ValueAgg] = {}
        self.n_rows = 0
        self._norm: dict[str, tuple[str, str]] = {}  # raw value -> (normalized, surface)
        self._index: dict[str, int] = {}  # normalized value -> position in self.values
        self._convs: dict[str, tuple[str, int]] = {}  # raw conversation id -> (checked id, number)
        self._conv_ids: dict[str, int] = {}  # checked conversation id -> number
        self._vcache: dict[str, tuple[str, str, ValueAgg, int]] = {}  # records: raw value -> (norm, surface, total, index)
        self._pairs: list = []  # numpy int64 arrays  # per chunk: distinct value << 32 | conversation
        self._roles: dict[str, str | None] = {}  # column chunks: raw role -> checked role
        self._short: dict[str, str | None] = {}  # column chunks: raw response type -> checked one
        self._raw_counts: Counter = Counter()  # column chunks: raw value -> records not yet in its total
        self._same_convs = True  # column chunks: every conversation id seen is written as it is checked
        self._done = False

    def fail(self, line: int, key: str, problem: str) -> InputError:
        text = problem + (self.suffix.format(line) if self.suffix else "")
        return InputError(self.path, text, line=line, field=self.colname[key])

    def value_of(self, line: int, raw: Any) -> tuple[str, str]:
        hit = self._norm.get(raw) if type(raw) is str else None
        if hit is not None:
            return hit
        fail = self.fail
        if raw is cells.MISSING:
            raise fail(line, "value", "missing value field")
        if raw is None:
            raise fail(line, "value", "value is null")
        if not isinstance(raw, str):
            raise fail(line, "value", f"value must be a string, got {cells.json_type(raw)} ({raw!r})")
        problem = text_problem(raw, multiline=True)  # tabs and line breaks are whitespace: they collapse
        if problem:
            raise fail(line, "value", f"value {problem}")
        norm = normalize_value(raw, keep_case=self.keep_case)
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
        self._norm[raw] = hit = (norm, surface)
        return hit

    def _add(self, line: int, norm: str, surface: str, weight: float, count: int) -> int:
        agg = self.values.get(norm)
        if agg is None:
            self._index[norm] = len(self.values)
            self.values[norm] = ValueAgg(norm, weight, count, None, {surface: 1}, line)
        else:
            agg.weight += weight
            agg.count += count
            agg.aliases[surface] = agg.aliases.get(surface, 0) + 1
        return self._index[norm]

    def aggregated(self, rows: Iterable[tuple[int, tuple[Any, ...]]]) -> None:
        """Consume the rows of an aggregated file."""
        iw, ic = self.pos.get("weight"), self.pos.get("count")
        fail = self.fail
        for line, r in rows:
            self.n_rows += 1
            norm, surface = self.value_of(line, r[0])
            c = cells.count(r[ic], line, fail) if ic is not None else 1
            w = cells.weight(r[iw], line, fail) if iw is not None else float(c)
            self._add(line, norm, surface, w, c)

    def _conversation(self, line: int, raw: Any) -> tuple[str, int]:
        """The checked conversation id and its number (the same id written differently gets one number)."""
        is_str = type(raw) is str
        if is_str:
            hit = self._convs.get(raw)
            if hit is not None:
                return hit
        conv = cells.conversation(raw, line, self.fail)
        hit = (conv, self._conv_ids.setdefault(conv, len(self._conv_ids)))
        if is_str:
            self._convs[raw] = hit
            if conv != raw:
                self._same_convs = False
        return hit

    def _record_value(self, line: int, raw: Any) -> tuple[str, str, ValueAgg, int]:
        """First sight of a raw value string in a records file: checked, and its total started."""
        norm, surface = self.value_of(line, raw)
        agg = self.values.get(norm)
        if agg is None:
            self._index[norm] = len(self.values)
            self.values[norm] = agg = ValueAgg(norm, 0.0, 0, None, {}, line)
        hit = (norm, surface, agg, self._index[norm])
        if type(raw) is str:
            self._vcache[raw] = hit
        return hit

    def records(
        self, rows: Iterable[tuple[int, tuple[Any, ...]]], chunk_rows: int = CHUNK_ROWS
    ) -> Iterator[list[RecordRow]]:
        """Validate the rows of a records file and yield them in lists of at most ``chunk_rows`` records.

        The loop is written out (caches looked up in place, no call per cell on the common path): it runs once
        per record."""
        import numpy as np

        if chunk_rows < 1:
            raise ValueError("chunk_rows must be at least 1")
        self._add_raw_counts()  # the column chunks' counts first: the aliases keep their order of first sight
        pos, fail = self.pos, self.fail
        ir, it, irt, ie = (pos.get(k) for k in RECORD_OPTIONAL)
        slice_idx = [(k[6:], k, pos[k]) for k in self.names if k.startswith("slice:")]
        ix = pos.get("explicit")
        text, explicit = cells.text, cells.explicit
        vget, cget = self._vcache.get, self._convs.get
        roles: dict[Any, str | None] = {}  # raw role -> checked role (few distinct strings)
        rtypes: dict[Any, str | None] = {}
        unseen = cells.MISSING

        def checked(cache: dict, x: Any, line: int, key: str) -> str | None:
            v = cache.get(x, unseen) if type(x) is str else unseen
            if v is unseen:
                v = cells.role(x, line, fail) if key == "role" else text(x, line, key, fail)
                if type(x) is str:
                    cache[x] = v
            return v

        new = tuple.__new__
        chunk: list[RecordRow] = []
        pairs: list[int] = []
        for line, r in rows:
            raw_v, raw_c = r[0], r[1]
            try:
                hv, hc = vget(raw_v), cget(raw_c)
            except TypeError:  # an unhashable JSON array or object: refused by the checks below
                hv = hc = None
            if hv is None:
                hv = self._record_value(line, raw_v)
            if hc is None:
                hc = self._conversation(line, raw_c)
            norm, surface, agg, vi = hv
            rl = None if ir is None else checked(roles, r[ir], line, "role")
            tk = None if it is None else (
                (x.strip() or None) if type(x := r[it]) is str and "\x00" not in x else text(x, line, "task", fail))
            rt = None if irt is None else checked(rtypes, r[irt], line, "response_type")
            ex = None if ie is None else (
                (x.strip() or None) if type(x := r[ie]) is str and "\x00" not in x else text(x, line, "excerpt", fail))
            chunk.append(new(RecordRow, (
                line, hc[0], norm, surface, rl, tk, rt, ex,
                {name: text(r[i], line, k, fail) for name, k, i in slice_idx} if slice_idx else None,
                None if ix is None else explicit(r[ix], line, fail),
            )))
            agg.count += 1
            aliases = agg.aliases
            aliases[surface] = aliases.get(surface, 0) + 1
            pairs.append(vi << 32 | hc[1])
            if len(chunk) >= chunk_rows:
                self.n_rows += len(chunk)
                self._pairs.append(np.unique(np.array(pairs, dtype=np.int64)))
                pairs = []
                yield chunk
                chunk = []
        self.n_rows += len(chunk)
        if pairs:
            self._pairs.append(np.unique(np.array(pairs, dtype=np.int64)))
        if chunk:
            yield chunk

    #: the fields :meth:`column_chunk` takes (no slice or explicitness column: those go record by record)
    COLUMN_FIELDS = frozenset({"value", "conversation", *RECORD_OPTIONAL})

    def column_chunk(self, lines: Sequence[int], cols: Sequence[Sequence[str | None]]) -> RecordColumns | None:
        """Validate and add up a chunk of records given as text columns (a CSV's cells, or a JSONL or Parquet
        block's, in the order of :attr:`~taxonomy.readers.options.Resolved.fields`, only :attr:`COLUMN_FIELDS`;
        str, or None for a null in an optional field) on ``lines``: the same
        result as :meth:`records` for them, with the work done per distinct cell (values, conversation ids,
        roles, response types) or by whole columns (task, excerpt) instead of per record.

        Returns None, having changed no total, when any cell is refused: :meth:`records` then reads the chunk
        again, record by record, and reports the first problem with its line and field."""
        import numpy as np

        pos = self.pos
        values, convs = cols[0], cols[1]
        ir, it, irt, ie = (pos.get(k) for k in RECORD_OPTIONAL)
        vcache, ccache = self._vcache, self._convs
        fail = self.fail
        try:  # 1. check what is new, changing no total (value_of only caches what it has checked)
            new_values = [x for x in dict.fromkeys(values) if x not in vcache]
            for x in new_values:
                self.value_of(0, x)
            new_convs = [x for x in dict.fromkeys(convs) if x not in ccache]
            checked_convs = [cells.conversation(x, 0, fail) for x in new_convs]
            for i, check in ((ir, lambda x: cells.role(x, 0, fail)),
                             (irt, lambda x: cells.text(x, 0, "response_type", fail))):
                if i is not None:
                    known = self._short if i == irt else self._roles
                    for x in set(cols[i]) - known.keys():
                        known[x] = check(x)
            for i in (it, ie):
                if i is not None and "\x00" in _joined(cols[i]):
                    return None
        except InputError:
            return None
        # 2. add up (the counts per raw value in C, into the totals at the end: :meth:`_add_raw_counts`)
        if new_values:
            first = dict(zip(reversed(values), range(len(values) - 1, -1, -1)))
            for x in new_values:
                self._record_value(lines[first[x]], x)
        conv_ids = self._conv_ids
        for x, conv in zip(new_convs, checked_convs):
            ccache[x] = (conv, conv_ids.setdefault(conv, len(conv_ids)))
            if conv != x:
                self._same_convs = False
        self._raw_counts.update(values)
        hv = list(map(vcache.__getitem__, values))
        hc = list(map(ccache.__getitem__, convs))
        vi = np.fromiter(map(itemgetter(3), hv), np.int64, len(hv))
        ci = np.fromiter(map(itemgetter(1), hc), np.int64, len(hc))
        self._pairs.append(np.unique(vi << 32 | ci))
        self.n_rows += len(values)

        def stripped(i: int | None) -> list[str | None] | None:
            if i is None:
                return None
            col = cols[i]
            if None in col:  # JSONL, Parquet: a null or missing cell
                return [None if x is None else x.strip() or None for x in col]
            return [x or None for x in map(str.strip, col)]

        return RecordColumns(
            lines, list(convs) if self._same_convs else list(map(itemgetter(0), hc)), list(map(itemgetter(0), hv)),
            list(map(itemgetter(1), hv)),
            None if ir is None else list(map(self._roles.__getitem__, cols[ir])), stripped(it),
            None if irt is None else list(map(self._short.__getitem__, cols[irt])), stripped(ie), None, None,
        )

    def _add_raw_counts(self) -> None:
        """Add the records counted per raw value by :meth:`column_chunk` to their values' counts and aliases (in
        the order the raw values were first seen, as record by record)."""
        vcache = self._vcache
        for x, k in self._raw_counts.items():
            _, surface, agg, _ = vcache[x]
            agg.count += k
            agg.aliases[surface] = agg.aliases.get(surface, 0) + k
        self._raw_counts = Counter()

    def finish(self, empty_line: int | None) -> list[ValueAgg]:
        """The values in order of first appearance, with their totals; raises when the file had no data rows."""
        self._add_raw_counts()
        if self.n_rows == 0:
            where = "a header row but no data rows" if self.unit == "line" else "no data rows"
            raise InputError(self.path, f"the file has {where}", line=empty_line)
        values = list(self.values.values())
        if self.shape == "records" and not self._done:
            import numpy as np

            pairs = np.unique(np.concatenate(self._pairs)) if self._pairs else np.zeros(0, np.int64)
            per_value = np.bincount(pairs >> 32, minlength=len(values))
            for agg, n in zip(values, per_value.tolist()):
                agg.n_conversations = n
                agg.weight = float(n)
            self._pairs = []
        self._done = True
        return values


def _joined(col: Sequence[str | None]) -> str:
    """The cells of a text column joined (None as nothing)."""
    try:
        return "".join(col)  # type: ignore[arg-type]
    except TypeError:
        return "".join(x for x in col if x is not None)
