"""taxonomy.db.bulk: many rows in (COPY on PostgreSQL, executemany elsewhere) and out through the driver."""

from __future__ import annotations

from sqlalchemy import select

import taxonomy.db.bulk as bulk
from taxonomy.db.engine import session_scope
from taxonomy.db.models import Value, ValueAlias
from taxonomy.ingest import insert_values


def test_rows_go_in_as_given_in_parts_and_come_back(db, monkeypatch):
    """Rows from any iterable (a generator here), in parts of ROWS_PER_CALL; text with COPY's special characters
    stored as it is; nothing given, nothing done (``meanwhile`` still called once)."""
    monkeypatch.setattr(bulk, "ROWS_PER_CALL", 2)
    surfaces = ["plain", "tab\there", "back\\slash", "line\nfeed\r", "é ünïcode", "\\N", ""]
    called = []
    with session_scope(db) as s:
        ids = insert_values(s, ["v"])
        conn = s.connection()
        bulk.insert_rows(conn, ValueAlias.__table__.name, ("value_id", "surface", "n_rows"),
                         ((ids["v"], t, i) for i, t in enumerate(surfaces)),
                         meanwhile=lambda: called.append("rows"))
        bulk.insert_rows(conn, ValueAlias.__table__.name, ("value_id", "surface", "n_rows"), [],
                         meanwhile=lambda: called.append("none"))
    assert called == ["rows", "none"]
    with session_scope(db) as s:
        rows = bulk.driver_rows(s, select(ValueAlias.surface, ValueAlias.n_rows, Value.text)
                                .join(Value, Value.id == ValueAlias.value_id).order_by(ValueAlias.id))
    assert [tuple(r) for r in rows] == [(t, i, "v") for i, t in enumerate(surfaces)]
