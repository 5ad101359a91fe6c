"""The bulk insert path of record ingest (executemany on SQLite, COPY on PostgreSQL): awkward text survives it
byte for byte, and a failure after the records were written leaves the database as it was."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

import taxonomy.ingest as ingest_mod
from taxonomy.db.engine import session_scope
from taxonomy.db.models import ExtractionRecord, Value
from taxonomy.ingest import ingest

AWKWARD = [
    "tab\there, newline\nthere, carriage\rreturn",
    "back\\slash \\N \\. and \"quotes\" 'single'",
    "unicode: naïve café — 日本語 🙂",
    "comma, separated; ,,",
    "",
]


@pytest.mark.parametrize("slices", [True, False], ids=["record-path", "column-path"])
def test_awkward_record_text_round_trips(db, write, monkeypatch, slices):
    lines = [
        {"conversation_id": f"c{i}\\{i}'\"", "value": "Honesty" if i % 2 else "care", "role": "ai",
         "task": None if i == 0 else f"task {i}", "excerpt": text, "model": text or None,
         "explicit": [True, False, None, "yes", "no"][i]}
        for i, text in enumerate(AWKWARD)
    ]
    path = write("r.jsonl", "\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n")
    extra = {"slice_cols": ["model"], "explicit_col": "explicit"} if slices else {}
    res = ingest(str(path), db=db, conversation_col="conversation_id", role_col="role", task_col="task",
                 excerpt_col="excerpt", chunk_rows=2, **extra)  # several chunks
    assert res.n_records == len(AWKWARD)
    with session_scope(db) as s:
        rows = s.execute(
            select(ExtractionRecord.line, ExtractionRecord.conversation_id, ExtractionRecord.task,
                   ExtractionRecord.slices, ExtractionRecord.explicit,
                   ExtractionRecord.excerpt, ExtractionRecord.surface, ExtractionRecord.batch_id, Value.text)
            .join(Value, Value.id == ExtractionRecord.value_id)
            .order_by(ExtractionRecord.line)
        ).all()
    assert [r.line for r in rows] == [1, 2, 3, 4, 5]
    assert [r.excerpt for r in rows[:4]] == AWKWARD[:4]
    assert rows[4].excerpt in ("", None)  # an empty field: stored as the reader gives it
    assert [r.conversation_id for r in rows] == [f"c{i}\\{i}'\"" for i in range(5)]
    # the JSON slice column and the boolean go through the bulk path (COPY / executemany) intact
    if slices:
        assert [r.slices for r in rows[:4]] == [{"model": t} for t in AWKWARD[:4]] and rows[4].slices == {"model": None}
        assert [r.explicit for r in rows] == [True, False, None, True, False]
    else:
        assert {r.slices for r in rows} == {r.explicit for r in rows} == {None}
    assert rows[0].task is None and rows[1].task == "task 1"
    assert {r.text for r in rows} == {"honesty", "care"} and rows[1].surface == "Honesty"
    assert {r.batch_id for r in rows} == {res.batch_id}


def test_failure_after_bulk_records_rolls_back(db, write, monkeypatch):
    path = write("r.csv", "conversation_id,value\nc1,honesty\nc2,care\nc2,honesty\n")
    real = ingest_mod.insert_records

    def insert_then_fail(*args, **kwargs):
        real(*args, **kwargs)
        with session_scope(db) as other:  # another connection does not see the uncommitted rows
            assert other.scalar(select(func.count()).select_from(ExtractionRecord)) == 0
        raise RuntimeError("disk full")

    monkeypatch.setattr(ingest_mod, "insert_records", insert_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest(str(path), db=db)
    with session_scope(db) as s:
        assert s.scalar(select(func.count()).select_from(ExtractionRecord)) == 0
        assert s.scalar(select(func.count()).select_from(Value)) == 0


def test_a_big_batch_refreshes_the_planner_statistics(db, write, monkeypatch):
    """PostgreSQL: after a batch of at least ANALYZE_AFTER_RECORDS records the tables are ANALYZEd (stale
    statistics made analyses straight after a bulk ingest several times slower); SQLite: nothing to do."""
    from sqlalchemy import text

    monkeypatch.setattr(ingest_mod, "ANALYZE_AFTER_RECORDS", 2)
    path = write("r.csv", "conversation_id,value\nc1,honesty\nc2,care\nc2,honesty\n")
    assert ingest(str(path), db=db).n_records == 3
    if not db.startswith("postgresql"):
        return
    with session_scope(db) as s:
        analyzed = s.execute(text(
            "SELECT relname, last_analyze FROM pg_stat_user_tables "
            "WHERE relname IN ('extraction_records', 'batch_values', 'value_strings')"
        )).all()
    assert len(analyzed) == 3 and all(when is not None for _, when in analyzed), analyzed
