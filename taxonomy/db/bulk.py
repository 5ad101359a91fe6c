"""Many rows in or out through the database driver, without SQLAlchemy's work per row."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import islice

from sqlalchemy import insert
from sqlalchemy.orm import Session

from taxonomy.db.engine import sqlite_big_cache
from taxonomy.db.models import Base

#: rows per ``executemany`` of :func:`insert_rows` (SQLite and other drivers)
ROWS_PER_CALL = 20_000


def insert_rows(conn, table: str, columns: Sequence[str], rows: Iterable[tuple],
                meanwhile: Callable[[], object] | None = None) -> None:
    """``rows`` (tuples of the ``columns``, e.g. ``zip`` of columns) into ``table``, in the connection's
    transaction, in their order: on PostgreSQL (psycopg) one ``COPY ... FROM STDIN`` of the rows through psycopg's
    ``write_row`` (several times faster than INSERTs, for the client and the server; faster than building the
    text in Python), elsewhere the driver's ``executemany`` on plain tuples, :data:`ROWS_PER_CALL` at a time (no
    per-row dicts; SQLite with a bigger page cache meanwhile). ``meanwhile`` is called once: on PostgreSQL while a
    thread sends the rows and waits for the server to take them in (most of that time is the server's, its
    foreign-key checks at the end of the COPY), then the COPY's end is awaited; elsewhere after the insert."""
    if isinstance(rows, Sequence) and not rows:  # (no statement for nothing)
        if meanwhile is not None:
            meanwhile()
        return None
    cols = ", ".join(columns)
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        def copy_rows() -> None:
            with raw.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)

        if meanwhile is None:
            return copy_rows()
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1, thread_name_prefix="taxo-copy") as pool:  # (its end waits for the thread)
            copying = pool.submit(copy_rows)
            meanwhile()
            copying.result()
        return None
    rows = iter(rows)
    if conn.dialect.paramstyle not in ("qmark", "format", "pyformat"):  # another driver: through SQLAlchemy
        while part := list(islice(rows, ROWS_PER_CALL)):
            conn.execute(insert(Base.metadata.tables[table]), [dict(zip(columns, r, strict=True)) for r in part])
    else:
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        sql = f"INSERT INTO {table} ({cols}) VALUES ({', '.join([mark] * len(columns))})"
        cur = raw.cursor()
        try:
            with sqlite_big_cache(cur, conn.dialect.name == "sqlite"):
                while part := list(islice(rows, ROWS_PER_CALL)):
                    cur.executemany(sql, part)
        finally:
            cur.close()
    if meanwhile is not None:
        meanwhile()


def driver_rows(session: Session, stmt) -> list[tuple]:
    """The rows of a Core ``select`` as the driver gives them: plain tuples, without SQLAlchemy's row objects (100,000
    rows of a version ~0.05 s sooner). Only for columns SQLAlchemy passes through unconverted on SQLite and
    PostgreSQL: integers, floats, text."""
    conn = session.connection()
    compiled = stmt.compile(dialect=conn.dialect)
    params = compiled.params
    if conn.dialect.paramstyle in ("qmark", "format", "numeric"):
        params = tuple(params[key] for key in compiled.positiontup)
    cur = conn.connection.driver_connection.cursor()
    try:
        cur.execute(str(compiled), params)
        return list(cur.fetchall())
    finally:
        cur.close()
