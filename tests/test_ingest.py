"""`ingest` into the database (SQLite and PostgreSQL): batches, idempotence, aliases, records, no partial writes."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from taxonomy.db.engine import session_scope
from taxonomy.db.models import Batch, BatchValue, ExtractionRecord, Value, ValueAlias
from taxonomy.errors import InputError, UsageError
from taxonomy.ingest import ingest, value_totals


def _counts(db) -> dict[str, int]:
    with session_scope(db) as s:
        return {
            model.__tablename__: s.scalar(select(func.count()).select_from(model))
            for model in (Batch, Value, ValueAlias, BatchValue, ExtractionRecord)
        }


def _totals(db) -> dict[str, tuple[float, int]]:
    with session_scope(db) as s:
        return {t.text: (t.weight, t.count) for t in value_totals(s)}


def test_aggregated_csv_with_weights_and_aliases(db, write):
    path = write("v.csv", "value,pct\nHonesty,2.5\nhonesty ,1.5\nHONESTY,1\nclarity,3\n")
    res = ingest(str(path), db=db, weight_col="pct")
    assert (res.n_rows, res.n_values, res.n_new_values, res.already_ingested) == (4, 2, 2, False)
    assert _totals(db) == {"honesty": (5.0, 3), "clarity": (3.0, 1)}
    with session_scope(db) as s:
        surfaces = set(
            s.scalars(select(ValueAlias.surface).join(Value, Value.id == ValueAlias.value_id).where(Value.text == "honesty"))
        )
    assert surfaces == {"Honesty", "honesty", "HONESTY"}


def test_reingesting_the_same_file_changes_nothing(db, write):
    path = write("v.csv", "value,pct\nhonesty,2\nclarity,3\n")
    first = ingest(str(path), db=db, weight_col="pct")
    before = _counts(db)
    again = ingest(str(path), db=db, weight_col="pct")
    assert again.already_ingested and again.batch_id == first.batch_id
    assert _counts(db) == before
    assert _totals(db) == {"honesty": (2.0, 1), "clarity": (3.0, 1)}


def test_same_file_with_other_options_is_refused(db, write):
    path = write("v.csv", "value,pct,n\nhonesty,2,4\n")
    ingest(str(path), db=db, weight_col="pct")
    before = _counts(db)
    with pytest.raises(UsageError, match="already ingested as batch 1"):
        ingest(str(path), db=db, weight_col="n")
    assert _counts(db) == before


def test_a_new_file_adds_to_the_counts_as_a_new_batch(db, write):
    ingest(str(write("a.csv", "value,pct\nhonesty,2\nclarity,3\n")), db=db, weight_col="pct")
    res = ingest(str(write("b.csv", "value,pct\nHonesty,1\nempathy,4\n")), db=db, weight_col="pct")
    assert res.batch_id == 2 and res.n_new_values == 1
    assert _totals(db) == {"honesty": (3.0, 2), "clarity": (3.0, 1), "empathy": (4.0, 1)}
    assert _counts(db)["batches"] == 2


def test_extraction_records_are_stored_and_aggregated(db, write):
    lines = [
        {"conversation_id": "c1", "value": "Honesty", "role": "assistant", "excerpt": "I must be honest with you"},
        {"conversation_id": "c1", "value": "honesty", "role": "ai", "excerpt": "to be truthful"},
        {"conversation_id": "c2", "value": "honesty", "role": "human", "excerpt": "tell me the truth"},
        {"conversation_id": "c2", "value": "autonomy", "role": "user", "excerpt": "my choice"},
    ]
    path = write("r.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")
    res = ingest(str(path), db=db, conversation_col="conversation_id", role_col="role", excerpt_col="excerpt")
    assert res.shape == "records" and res.n_records == 4
    # weight of a record-shaped value = distinct conversations; count = records
    assert _totals(db) == {"honesty": (2.0, 3), "autonomy": (1.0, 1)}
    with session_scope(db) as s:
        recs = s.execute(
            select(ExtractionRecord.conversation_id, ExtractionRecord.role, ExtractionRecord.excerpt, Value.text)
            .join(Value, Value.id == ExtractionRecord.value_id)
            .order_by(ExtractionRecord.line)
        ).all()
        nconv = s.scalar(select(func.sum(BatchValue.n_conversations)))
    assert [r.role for r in recs] == ["ai", "ai", "human", "human"]
    assert recs[0].excerpt == "I must be honest with you" and recs[0].text == "honesty"
    assert nconv == 3


def test_bad_input_writes_nothing(db, write):
    ingest(str(write("ok.csv", "value,pct\nhonesty,2\n")), db=db, weight_col="pct")
    before = _counts(db)
    bad = write("bad.csv", "value,pct\nclarity,3\nempathy,-1\n")
    with pytest.raises(InputError) as exc:
        ingest(str(bad), db=db, weight_col="pct")
    assert "bad.csv" in str(exc.value) and "line 3" in str(exc.value)
    assert _counts(db) == before


def test_a_failure_while_writing_rolls_everything_back(db, write, monkeypatch):
    """An error in the middle of the transaction (after values were inserted) leaves the database as it was."""
    import taxonomy.ingest as ingest_mod

    before = _counts(db)

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ingest_mod, "_store_aliases", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest(str(write("v.csv", "value\nhonesty\nclarity\n")), db=db)
    assert _counts(db) == before


def test_keep_case_keeps_distinct_values(db, write):
    ingest(str(write("v.csv", "value\nAI safety\nai safety\n")), db=db, keep_case=True)
    assert set(_totals(db)) == {"AI safety", "ai safety"}
