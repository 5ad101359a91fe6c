"""`taxo ingest`: read a file of values or extraction records and store it as one batch."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from itertools import repeat
from typing import Any, TypeVar

from sqlalchemy import Engine, bindparam, func, select, update
from sqlalchemy.orm import Session

from taxonomy.db.bulk import insert_rows
from taxonomy.db.engine import SQLITE_CACHE_KIB, session_scope, sqlite_big_cache  # noqa: F401 (re-exported)
from taxonomy.db.models import Batch, BatchValue, ExtractionRecord, Value, ValueAlias
from taxonomy.errors import UsageError
from taxonomy.gcpause import without_gc
from taxonomy.ingest_spool import RecordSpool, content_sha256
from taxonomy.readers import CHUNK_ROWS, ReadOptions, RecordColumns, open_input

T = TypeVar("T")
CHUNK = 500


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


@dataclass
class IngestResult:
    batch_id: int
    path: str
    sha256: str
    shape: str
    n_rows: int
    n_values: int  #: distinct values in this file
    n_new_values: int  #: values the database did not have before
    n_records: int
    already_ingested: bool = False
    columns: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def value_ids(session: Session, texts: Iterable[str]) -> dict[str, int]:
    """Map value texts to their ids (only those that exist)."""
    texts = list(texts)
    out: dict[str, int] = {}
    if texts and session.scalar(select(Value.id).limit(1)) is None:
        return out  # no value yet (a first batch): nothing to look up
    for part in chunks(texts):
        out.update({t: i for t, i in session.execute(select(Value.text, Value.id).where(Value.text.in_(part)))})
    return out


def insert_values(session: Session, texts: Sequence[str]) -> dict[str, int]:
    """Insert new value texts (in this order, so ids follow it) and map them to their ids.

    The ids come back with the insert (``RETURNING``), not from a second lookup: on PostgreSQL, a lookup by text
    right after the rows went in, before the planner has statistics for them, scanned the table once per chunk
    of 500 texts (1M records over 100k values: 18 of the 19 minutes of the ingest). One multi-row ``INSERT ...
    VALUES (..), (..) RETURNING text, id`` per :data:`VALUES_PER_INSERT` texts, through the driver (SQLAlchemy's
    sorted RETURNING went one statement per row on SQLite); the rows go in in the order given, and the texts,
    unique, say which id is whose."""
    conn = session.connection()
    mark = _param_mark(conn)
    cur = conn.connection.driver_connection.cursor()
    out: dict[str, int] = {}
    try:
        for part in chunks(texts, VALUES_PER_INSERT):
            cur.execute(f"INSERT INTO {Value.__table__.name} (text) VALUES "
                        f"{', '.join([f'({mark})'] * len(part))} RETURNING text, id", list(part))
            out.update(cur.fetchall())
    finally:
        cur.close()
    return out


#: texts per multi-row INSERT of :func:`insert_values` (well under SQLite's 32,766 parameters)
VALUES_PER_INSERT = 1000


def _param_mark(conn) -> str:
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


@without_gc  # chunks hold no reference cycles; collector passes over 1M records' objects cost more than parsing
def ingest(
    path: str,
    options: ReadOptions | None = None,
    *,
    db: str | Engine | None = None,
    allow_duplicate: bool = False,
    chunk_rows: int = CHUNK_ROWS,
    **read_options: Any,
) -> IngestResult:
    """Read ``path`` (CSV, JSONL or Parquet; aggregated values or extraction records) and store it as a batch.

    How to read it is ``options`` (:class:`~taxonomy.readers.ReadOptions`), with ``read_options`` (its field
    names as keywords) applied on top. The file is streamed twice through memory bounded by ``chunk_rows``
    records: a first pass validates every row (bad input raises InputError before anything is written), adds up
    the values and spools the checked records to a temporary file; the second writes the batch from the spool,
    all in one transaction. Ingesting a file whose bytes were already ingested with the same options changes
    nothing and returns the existing batch (``already_ingested=True``); with different options it is refused.
    A file whose rows equal an earlier batch's in another order or form (same :func:`content_sha256`) is
    refused with :class:`DuplicateBatchError` unless ``allow_duplicate``; when most of its values already came
    with the same weights from one batch, ``warnings`` says so.
    """
    stream = open_input(path, options, chunk_rows=chunk_rows, **read_options)
    options_stored = dict(stream.columns)
    with session_scope(db) as session:
        existing = session.scalar(select(Batch).where(Batch.sha256 == stream.sha256))
        if existing is not None:
            if existing.options != options_stored:
                raise UsageError(
                    f"{path}: this file (sha256 {stream.sha256[:12]}…) was already ingested as batch {existing.id} "
                    f"with other options ({existing.options}); ingesting it again would count its values twice"
                )
            return IngestResult(
                batch_id=existing.id,
                path=str(path),
                sha256=stream.sha256,
                shape=existing.shape,
                n_rows=existing.n_rows,
                n_values=existing.n_values,
                n_new_values=0,
                n_records=existing.n_rows if existing.shape == "records" else 0,
                already_ingested=True,
                columns=options_stored,
            )
        with RecordSpool() as spool:
            for chunk in stream.column_chunks():  # the validation pass: nothing is written to the database here
                spool.add(chunk)
            values = stream.values
            content = content_sha256(((v.text, v.weight, v.count, v.n_conversations) for v in values),
                                     spool.sorted_lines(), n_records=spool.n_records)
            same = session.scalar(select(Batch).where(Batch.content_sha256 == content).order_by(Batch.id).limit(1))
            if same is not None and not allow_duplicate:
                raise DuplicateBatchError(
                    f"{path}: its rows are the same as those of batch {same.id} ({same.source}), in another order "
                    "or form; ingesting it would count every value twice. Nothing was written; pass "
                    "--allow-duplicate if the same data really happened twice"
                )
            texts = [v.text for v in values]
            ids = value_ids(session, texts)
            warnings = _overlap_warnings(session, ids, values)
            new = [t for t in texts if t not in ids]
            old_ids = set(ids.values())
            ids.update(insert_values(session, new))

            batch = Batch(
                source=str(path),
                sha256=stream.sha256,
                content_sha256=content,
                shape=stream.shape,
                file_format=stream.format,
                options=options_stored,
                n_rows=stream.n_rows,
                n_values=len(values),
            )
            session.add(batch)
            session.flush()
            insert_rows(session.connection(), BatchValue.__table__.name,
                        ("batch_id", "value_id", "weight", "count", "n_conversations"),
                        [(batch.id, ids[v.text], float(v.weight), int(v.count), v.n_conversations) for v in values])
            _store_aliases(session, ids, values, old_ids)
            if spool.n_records:
                insert_records(session, batch.id, ids, spool.chunks(), n_records=spool.n_records)
        result = IngestResult(
            batch_id=batch.id,
            path=str(path),
            sha256=stream.sha256,
            shape=stream.shape,
            n_rows=stream.n_rows,
            n_values=len(values),
            n_new_values=len(new),
            n_records=spool.n_records,
            columns=options_stored,
            warnings=warnings,
        )
    if result.n_records >= ANALYZE_AFTER_RECORDS:
        refresh_statistics(db)
    return result


#: after a batch of this many records, PostgreSQL's planner statistics are refreshed (with stale ones, an analysis
#: straight after a bulk ingest of 1M records took 120 s instead of 13 s)
ANALYZE_AFTER_RECORDS = 50_000


def refresh_statistics(db: str | Engine | None = None) -> None:
    """``ANALYZE`` the tables a bulk ingest grows, on PostgreSQL (SQLite's planner needs no help here)."""
    from sqlalchemy import text

    from taxonomy.db.engine import get_engine

    engine = get_engine(db)
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE extraction_records, batch_values, value_strings"))


class DuplicateBatchError(UsageError):
    """The file's rows equal an earlier batch's (another order or form of the same data)."""


def _overlap_warnings(session: Session, ids: dict[str, int], values) -> list[str]:
    """A warning when most values of the new batch already came, with the same weights, from one earlier batch."""
    if not values:
        return []
    by_id = {ids[v.text]: v for v in values if v.text in ids}
    if len(by_id) * 2 <= len(values):
        return []
    same: dict[int, int] = {}
    for part in chunks(sorted(by_id)):
        rows = session.execute(
            select(BatchValue.batch_id, BatchValue.value_id, BatchValue.weight, BatchValue.count).where(
                BatchValue.value_id.in_(part)
            )
        )
        for bid, vid, w, c in rows:
            v = by_id[vid]
            if c == v.count and abs(float(w) - float(v.weight)) <= 1e-9 * max(1.0, abs(float(v.weight))):
                same[bid] = same.get(bid, 0) + 1
    if not same:
        return []
    bid, n = max(same.items(), key=lambda kv: (kv[1], -kv[0]))
    if n * 2 <= len(values):
        return []
    return [
        f"{n} of the {len(values)} values of this batch ({100 * n / len(values):.0f}%) already came with the same "
        f"weights and counts from batch {bid}; if this is the same data again, the next build counts their weights "
        "twice"
    ]


#: the RecordRow attributes stored as extraction_records columns of the same name (besides batch_id, value_id);
#: a new record column only needs its name here
RECORD_FIELDS = ("line", "conversation_id", "surface", "role", "task", "response_type", "excerpt", "slices", "explicit")


def sqlite_indexes_to_rebuild(cur, table: str, n_records: int | None) -> list[tuple[str, str]]:
    """SQLite: the (name, CREATE statement) of the indexes of ``table`` to drop before inserting ``n_records`` rows
    and create again after them, all inside the ingest's transaction (so a failed ingest leaves them as they
    were): every index when the new rows are at least as many as those already there, since building an index
    over sorted keys costs about half of growing it one random key at a time (1M records: 21 against 11 CPU-s
    for the inserts); none for a small batch added to a big table, whose indexes it would rebuild whole."""
    if not n_records:
        return []
    existing = cur.execute(f"SELECT max(id) FROM {table}").fetchone()[0] or 0  # >= the row count: cheap, cautious
    if n_records < existing:
        return []
    return cur.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL ORDER BY name",
        (table,),
    ).fetchall()


def insert_records(
    session: Session, batch_id: int, ids: dict[str, int], parts: Iterable[Sequence], *, n_records: int | None = None
) -> None:
    """Bulk-insert extraction records inside the session's transaction.

    ``parts``: chunks of records, :class:`~taxonomy.readers.RecordColumns` as :meth:`RecordSpool.chunks` gives
    them (or lists of :class:`~taxonomy.readers.RecordRow`). PostgreSQL: one ``COPY ... FROM STDIN`` (psycopg),
    several times faster than INSERTs. Other databases (SQLite): the driver's ``executemany``, one chunk at a
    time. The rows are zipped from the columns, bypassing the ORM and any per-row Python code (1M records: the
    ORM's dicts cost ~16 s on SQLite). On SQLite, given ``n_records`` (the number of records ``parts`` hold),
    the table's indexes may be rebuilt after the rows instead of grown with them
    (:func:`sqlite_indexes_to_rebuild`).
    """
    conn = session.connection()
    table = ExtractionRecord.__table__.name
    columns = ("batch_id", "value_id", *RECORD_FIELDS)
    cols = ", ".join(columns)

    def tuples(part) -> Iterator[tuple]:  # the JSON column goes to the driver as JSON text (NULL without slices)
        if not isinstance(part, RecordColumns):
            part = RecordColumns.of_rows(part)
        fields = [part.filled(f) for f in RECORD_FIELDS]
        if part.slices is not None:
            fields[RECORD_FIELDS.index("slices")] = [
                None if x is None else json.dumps(x, ensure_ascii=False) for x in part.slices
            ]
        return zip(repeat(batch_id), map(ids.__getitem__, part.value), *fields)

    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        raw = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
            for part in parts:
                if not isinstance(part, RecordColumns):
                    part = RecordColumns.of_rows(part)
                copy.write(copy_text(batch_id, ids, part))
        return
    marks = ", ".join(["?" if conn.dialect.paramstyle == "qmark" else "%s"] * len(columns))
    raw = conn.connection.driver_connection
    cur = raw.cursor()
    try:  # (SQLite: a bigger page cache for this connection while the indexes grow, ~35 % faster)
        with sqlite_big_cache(cur, conn.dialect.name == "sqlite"):
            rebuild = sqlite_indexes_to_rebuild(cur, table, n_records)
            for name, _ in rebuild:
                cur.execute(f'DROP INDEX "{name}"')
            for part in parts:
                cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", tuples(part))
            for _, sql in rebuild:
                cur.execute(sql)
    finally:
        cur.close()


#: what COPY's text format escapes in a cell (every other character goes as it is)
COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_cells(col: Iterable[Any] | None, n: int) -> Iterable[str]:
    """One column of ``n`` cells (str, int, float, bool or None; None: every cell NULL) in ``COPY``'s text
    format: NULL as ``\\N``, booleans as t/f, numbers as :class:`str` writes them, text with backslash, tab, line
    feed and carriage return escaped; column by column, as ``write_row`` would send each cell."""
    if col is None:
        return repeat("\\N", n)
    if not isinstance(col, (list, tuple)):
        col = list(col)
    kinds = set(map(type, col))
    has_none = type(None) in kinds
    kinds.discard(type(None))
    if kinds <= {str}:
        joined = "\x00".join(filter(None, col))
        if "\\" in joined or "\t" in joined or "\n" in joined or "\r" in joined:
            col = [None if x is None else x.translate(COPY_ESCAPES) for x in col]
        return ["\\N" if x is None else x for x in col] if has_none else col
    if kinds <= {int, float}:
        return ["\\N" if x is None else str(x) for x in col] if has_none else map(str, col)
    return ["\\N" if x is None else ("t" if x else "f") if type(x) is bool
            else str(x) if type(x) in (int, float) else x.translate(COPY_ESCAPES) for x in col]


def copy_lines(columns: Sequence[Iterable[Any] | None], n: int) -> bytes:
    """``n`` rows given column by column as the data of ``COPY ... FROM STDIN`` (text format, UTF-8)."""
    lines = list(map("\t".join, zip(*(copy_cells(c, n) for c in columns))))
    lines.append("")
    return "\n".join(lines).encode("utf-8")


def copy_text(batch_id: int, ids: dict[str, int], part: RecordColumns) -> bytes:
    """A chunk of records as the data of ``COPY extraction_records (batch_id, value_id, RECORD_FIELDS) FROM
    STDIN``, built column by column (:func:`copy_lines`): the cells are what ``write_row`` would send for each
    record, without a Python call per record."""
    n = len(part)
    columns: list[Iterable[Any] | None] = [repeat(batch_id, n), list(map(ids.__getitem__, part.value))]
    for name in RECORD_FIELDS:
        col = getattr(part, name)
        if name == "slices" and col is not None:
            col = [None if x is None else json.dumps(x, ensure_ascii=False) for x in col]
        columns.append(col)
    return copy_lines(columns, n)


def _store_aliases(session: Session, ids: dict[str, int], values, old_ids: set[int] | None = None) -> None:
    """Add the batch's surface forms to the values' aliases (``old_ids``: the ids of the values that were there
    before this batch; only theirs can have aliases already; None: any)."""
    wanted = {(ids[v.text], surface): n for v in values for surface, n in v.aliases.items()}
    existing: dict[tuple[int, str], int] = {}
    vids = sorted({k[0] for k in wanted if old_ids is None or k[0] in old_ids})
    for part in chunks(vids):
        rows = session.execute(
            select(ValueAlias.value_id, ValueAlias.surface, ValueAlias.id).where(ValueAlias.value_id.in_(part))
        )
        existing.update({(vid, s): aid for vid, s, aid in rows})
    new = [(k, n) for k, n in wanted.items() if k not in existing] if existing else list(wanted.items())
    insert_rows(session.connection(), ValueAlias.__table__.name, ("value_id", "surface", "n_rows"),
                [(k[0], k[1], n) for k, n in new])
    bumps = [{"alias_id": existing[key], "more": n} for key, n in wanted.items() if key in existing]
    if bumps:  # one executemany, not one statement per alias (a second batch of 100k values has ~100k)
        t = ValueAlias.__table__
        session.connection().execute(
            update(t).where(t.c.id == bindparam("alias_id")).values(n_rows=t.c.n_rows + bindparam("more")), bumps
        )


@dataclass
class ValueTotal:
    id: int
    text: str
    weight: float
    count: int


def value_totals(session: Session) -> list[ValueTotal]:
    """Every stored value with its weight and count summed over all batches, ordered by id."""
    rows = session.execute(
        select(Value.id, Value.text, func.sum(BatchValue.weight), func.sum(BatchValue.count))
        .join(BatchValue, BatchValue.value_id == Value.id)
        .group_by(Value.id, Value.text)
        .order_by(Value.id)
    )
    return [ValueTotal(int(i), t, float(w or 0.0), int(c or 0)) for i, t, w, c in rows]
