"""Streaming ingest (SQLite and PostgreSQL): the reader hands records over in chunks of the configured size, a bad
row late in a large file is reported before anything is written and leaves the database as it was, the content
hash does not depend on the chunking, and the read options are one ``ReadOptions``."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select

import taxonomy.ingest as ingest_mod
from taxonomy.db.engine import get_engine, session_scope
from taxonomy.db.models import Batch, BatchValue, ExtractionRecord, Value, ValueAlias
from taxonomy.errors import InputError
from taxonomy.ingest import DuplicateBatchError, content_sha256, ingest
from taxonomy.readers import ReadOptions, open_input, read_input


def _records_csv(n: int, bad_at: int | None = None) -> str:
    rows = ["conversation_id,value,role,task,excerpt"]
    for i in range(n):
        role = "robot" if i == bad_at else ("ai" if i % 3 else "human")
        rows.append(f"c{i // 4},value {i % 37},{role},task {i % 5},\"excerpt, {i}\"")
    return "\n".join(rows) + "\n"


def _counts(db) -> dict[str, int]:
    with session_scope(db) as s:
        return {
            model.__tablename__: s.scalar(select(func.count()).select_from(model))
            for model in (Batch, Value, ValueAlias, BatchValue, ExtractionRecord)
        }


def test_the_reader_yields_chunks_of_the_configured_size(write):
    path = write("r.csv", _records_csv(23))
    stream = open_input(path, ReadOptions(role_col="role", task_col="task", excerpt_col="excerpt"), chunk_rows=5)
    sizes, lines = [], []
    for chunk in stream.chunks():
        sizes.append(len(chunk))
        lines += [r.line for r in chunk]
    assert sizes == [5, 5, 5, 5, 3]
    assert lines == list(range(2, 25))
    whole = read_input(path, role_col="role", task_col="task", excerpt_col="excerpt")
    # the totals added up chunk by chunk are those of the whole file
    assert [(v.text, v.count, v.n_conversations, v.weight, v.aliases) for v in stream.values] == [
        (v.text, v.count, v.n_conversations, v.weight, v.aliases) for v in whole.values
    ]
    assert stream.n_rows == whole.n_rows == 23
    with pytest.raises(RuntimeError, match="read once"):
        list(stream.chunks())


def test_chunks_of_a_jsonl_and_a_parquet_file(write, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"conversation_id": [f"c{i % 3}" for i in range(11)],
                             "value": [f"v{i % 4}" for i in range(11)]}), tmp_path / "r.parquet")
    path = write("r.jsonl", "".join(f'{{"conversation_id": {i % 3}, "value": "v{i % 4}"}}\n' for i in range(11)))
    for p in (path, tmp_path / "r.parquet"):
        stream = open_input(p, chunk_rows=4)
        assert [len(c) for c in stream.chunks()] == [4, 4, 3]
        assert {v.text: v.n_conversations for v in stream.values} == {"v0": 3, "v1": 3, "v2": 3, "v3": 2}


def test_a_bad_row_late_in_a_large_file_is_reported_before_anything_is_written(db, write):
    good = write("good.csv", _records_csv(50))
    ingest(str(good), db=db, role_col="role")
    before = _counts(db)
    n, bad = 20_000, 19_990
    path = write("late.csv", _records_csv(n, bad_at=bad))
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement.lstrip().split(None, 1)[0].upper())

    engine = get_engine(db)
    event.listen(engine, "before_cursor_execute", seen)
    try:
        with pytest.raises(InputError) as e:
            ingest(str(path), db=db, role_col="role", task_col="task", excerpt_col="excerpt", chunk_rows=1_000)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    err = e.value
    assert (err.line, err.field) == (bad + 2, "role")  # header = line 1, record i on line i + 2
    assert "robot" in str(err) and str(path) in str(err)
    assert not {"INSERT", "UPDATE", "DELETE", "COPY"} & set(statements)  # 19 chunks validated, none written
    assert _counts(db) == before
    event.listen(engine, "before_cursor_execute", seen)  # the listener does see a real ingest's writes
    try:
        ingest(str(write("fine.csv", _records_csv(30))), db=db, role_col="role", chunk_rows=1_000)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert "INSERT" in statements


def test_the_content_hash_does_not_depend_on_chunks_or_order(db, write):
    text = _records_csv(40)
    header, *rows = text.splitlines()
    first = write("a.csv", text)
    again = write("b.csv", "\n".join([header, *reversed(rows)]) + "\n")
    res = ingest(str(first), db=db, role_col="role", task_col="task", excerpt_col="excerpt", chunk_rows=3)
    with pytest.raises(DuplicateBatchError, match=f"batch {res.batch_id}"):
        ingest(str(again), db=db, role_col="role", task_col="task", excerpt_col="excerpt", chunk_rows=7)
    parsed = read_input(first, role_col="role", task_col="task", excerpt_col="excerpt")
    expected = content_sha256(
        ((v.text, v.weight, v.count, v.n_conversations) for v in parsed.values),
        ((r.conversation_id, r.value, r.role, r.task, r.response_type, r.excerpt) for r in parsed.records),
    )
    with session_scope(db) as s:
        assert s.scalar(select(Batch.content_sha256).where(Batch.id == res.batch_id)) == expected


def test_read_options_object_and_keywords_are_the_same(db, write):
    path = write("v.csv", "value,pct\nHonesty,2\nclarity,3\n")
    options = ReadOptions(weight_col="pct", keep_case=True)
    res = ingest(str(path), options, db=db)
    assert res.columns["weight_col"] == "pct" and res.columns["keep_case"] is True
    again = ingest(str(path), db=db, weight_col="pct", keep_case=True)
    assert again.already_ingested and again.batch_id == res.batch_id
    assert ReadOptions.of(options, keep_case=False) == ReadOptions(weight_col="pct")
    with pytest.raises(TypeError, match="weight_column"):
        ingest(str(path), db=db, weight_column="pct")


def test_records_are_spooled_not_kept(db, write, monkeypatch):
    """The write pass gets the records chunk by chunk from the spool, never as one list."""
    path = write("r.csv", _records_csv(25))
    parts: list[int] = []
    real = ingest_mod.insert_records

    def counting(session, batch_id, ids, chunks):
        def each():
            for part in chunks:
                parts.append(len(part))
                yield part
        real(session, batch_id, ids, each())

    monkeypatch.setattr(ingest_mod, "insert_records", counting)
    res = ingest(str(path), db=db, chunk_rows=10)
    assert parts == [10, 10, 5] and res.n_records == 25
    assert _counts(db)["extraction_records"] == 25
