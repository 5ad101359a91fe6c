"""Many rows in or out through the database driver, without SQLAlchemy's work per row."""

from __future__ import annotations

from sqlalchemy.orm import Session


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
