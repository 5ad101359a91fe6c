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

    def counting(session, batch_id, ids, chunks, **kw):
        def each():
            for part in chunks:
                parts.append(len(part))
                yield part
        real(session, batch_id, ids, each(), **kw)

    monkeypatch.setattr(ingest_mod, "insert_records", counting)
    res = ingest(str(path), db=db, chunk_rows=10)
    assert parts == [10, 10, 5] and res.n_records == 25
    assert _counts(db)["extraction_records"] == 25


def _read_both_ways(path, monkeypatch, **kw):
    """read_input through the column path, and through the record-by-record path (column path switched off)."""
    from taxonomy.readers.records import Aggregator

    def read():
        try:
            parsed = read_input(path, **kw)
        except InputError as e:
            return ("error", str(e), e.line, e.field)
        values = [(v.text, v.weight, v.count, v.n_conversations, v.aliases, v.first_line) for v in parsed.values]
        return values, parsed.records, parsed.n_rows

    used: list[bool] = []
    real = Aggregator.column_chunk

    def counted(self, lines, cols):
        chunk = real(self, lines, cols)
        used.append(chunk is not None)
        return chunk

    with monkeypatch.context() as m:
        m.setattr(Aggregator, "column_chunk", counted)
        fast = read()
    with monkeypatch.context() as m:
        m.setattr(Aggregator, "COLUMN_FIELDS", frozenset())
        slow = read()
    return fast, slow, used


SPLIT_CASES = ["clean", "crlf-bom-blank", "quoted-newline", "tab-backslash", "tsv", "bad-role", "bad-value",
               "nul-excerpt", "ragged", "bad-quote", "bad-utf8", "escaped-quote", "quote-inside", "empty-quoted",
               "quote-space", "lone-cr", "long-field"]


@pytest.mark.parametrize("case", SPLIT_CASES)
def test_the_column_path_reads_as_the_record_path(case, write, monkeypatch):
    """CSV/TSV chunks checked column by column give the same values (totals, aliases and their order, first
    lines), records and errors (line, field, text) as the record-by-record reader, whatever the file does."""
    def row(i):
        value = ["Honesty", " honesty ", "care", "CARE", "naïve café"][i % 5] + (f" {i % 7}" if i % 2 else "")
        return [f"c{i // 3}", value, ["ai", "Human", "assistant", ""][i % 4], [" t1 ", "", "t2"][i % 3],
                f"excerpt, {i}"]

    rows = [row(i) for i in range(40)]
    sep, newline, head = ",", "\n", ""
    if case == "crlf-bom-blank":
        newline, head = "\r\n", "\ufeff"
    elif case == "quoted-newline":
        rows[27][4] = "two\nlines"
    elif case == "tab-backslash":
        rows[13][4] = "a\tb \\ c"
    elif case == "tsv":
        sep = "\t"
    elif case == "bad-role":
        rows[33][2] = "robot"
    elif case == "bad-value":
        rows[22][1] = "  "
    elif case == "nul-excerpt":
        rows[25][4] = "nul\x00here"
    elif case == "long-field":
        import csv

        rows[25][4] = "x" * (csv.field_size_limit() + 1)

    def cell(x):
        return f'"{x}"' if any(c in x for c in ',"\n\t') else x

    lines = [sep.join(["conversation_id", "value", "role", "task", "excerpt"])]
    for i, r in enumerate(rows):
        lines.append(sep.join(cell(x) if sep == "," else x for x in r))
        if case == "crlf-bom-blank" and i in (5, 30):
            lines.append("")
    if case == "ragged":
        lines[36] += ",extra"
    if case == "bad-quote":
        lines[31] = 'c9,"care"x,ai,t,e'
    elif case == "escaped-quote":
        lines[31] = 'c9,care,ai,"say ""hi""",e'
    elif case == "quote-inside":
        lines[31] = 'c9,care,ai,t,a "quoted" word'
    elif case == "empty-quoted":
        lines[31] = 'c9,care,ai,"",""'
    elif case == "quote-space":
        lines[31] = 'c9,"care" ,ai,t,e'
    elif case == "lone-cr":
        lines[31] = 'c9,care,ai,"t\rt",e'
    data = (head + newline.join(lines) + newline).encode()
    if case == "bad-utf8":
        data = data.replace(b"excerpt, 29", b"excerpt, \xff29")
    path = write("r.tsv" if case == "tsv" else "r.csv", data)
    fast, slow, used = _read_both_ways(path, monkeypatch, role_col="role", task_col="task", excerpt_col="excerpt",
                                       chunk_rows=8)
    assert fast == slow
    if case.startswith("bad") or case in ("nul-excerpt", "ragged", "quote-space", "long-field"):
        assert fast[0] == "error" and fast[2] > 20
    else:
        assert fast[2] == 40 and [r.line for r in fast[1]][:3] == [2, 3, 4]
    # the chunks before the one with the problem went column by column (bad UTF-8: the file is decoded ahead of
    # the csv module, by blocks); a clean file goes so throughout
    assert case == "bad-utf8" or used[:2] == [True, True]
    assert (all(used) and len(used) >= 5) == (case in ("clean", "crlf-bom-blank", "tab-backslash", "tsv",
                                                       "escaped-quote", "quote-inside", "empty-quoted"))


def test_pyarrow_splits_a_plain_csv_and_leaves_doubtful_blocks_to_the_csv_module(write, monkeypatch):
    """Blocks whose quotes only open and close fields go through pyarrow's parser; a block with a quote inside a
    field or a blank line goes through the csv module (same cells, see above); a lone carriage return, a line
    break to the csv module, sends the rest of the file record by record."""
    from taxonomy.readers import delimited

    split: list[bool] = []
    real = delimited.arrow_block

    def counted(*args):
        cols = real(*args)
        split.append(cols is not None)
        return cols

    monkeypatch.setattr(delimited, "arrow_block", counted)
    lines = ["conversation_id,value,role,task,excerpt"] + [f'c{i},v{i % 7},ai,"t, {i}",e{i}' for i in range(40)]
    lines[15] = 'c15,v1,ai,"say ""hi""",e'  # block 2 (lines 9-16)
    lines[20] = ""  # block 3: a blank line
    lines[30] = 'c30,v2,ai,"t\rt",e'  # block 4: a lone CR inside a field
    stream = open_input(write("p.csv", "\n".join(lines) + "\n"), ReadOptions(task_col="task"), chunk_rows=8)
    records = [r for chunk in stream.chunks() for r in chunk]
    assert split == [True, False, False, False]  # from block 4 on, record by record (the CR is a line break there)
    assert [r.task for r in records][:2] == ["t, 0", "t, 1"] and records[14].task == 'say "hi"'
    assert len(records) == 39


def test_the_merge_of_sorted_runs_is_a_sort(tmp_path):
    """The block-wise merge of the spool's sorted runs gives the lines in the order of a plain sort of the lines
    (without their line feeds: a line that is a prefix of another comes first), duplicates kept."""
    import random

    from taxonomy.ingest_spool import merge_runs

    rnd = random.Random(0)
    alphabet = ["a", "b", "\t", "\x01", "é", "z", "\x00"]
    lines = ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 6))).encode() for _ in range(3000)]
    lines += lines[:200]
    runs = [sorted(lines[i::7]) for i in range(7)]
    paths = []
    for i, run in enumerate(runs):
        p = tmp_path / f"run{i}"
        p.write_bytes(b"".join(line + b"\n" for line in run))
        paths.append(p)
    files = [open(p, "rb") for p in paths]
    try:
        merged = b"".join(merge_runs(files, block=64))
    finally:
        for f in files:
            f.close()
    assert merged == b"".join(line + b"\n" for line in sorted(lines))


def test_sqlite_indexes_are_rebuilt_inside_the_transaction(db, write, monkeypatch):
    """SQLite: a first batch drops the record indexes and creates them again after its rows, inside the ingest's
    transaction: they are all there after it, and after an ingest that failed once its records were in; a
    batch smaller than the table keeps them (PostgreSQL: never dropped)."""
    from sqlalchemy import inspect

    engine = get_engine(db)

    def indexes():
        engine.dispose()
        return sorted((ix["name"], tuple(ix["column_names"])) for ix in inspect(engine).get_indexes("extraction_records"))

    from taxonomy.db.models import ExtractionRecord

    before = indexes()  # the model's three (batch_id; value_id, conversation_id; conversation_id, role)
    assert before == sorted((ix.name, tuple(c.name for c in ix.columns)) for ix in ExtractionRecord.__table__.indexes)
    assert len(before) == 3
    ingest(str(write("a.csv", _records_csv(60))), db=db, role_col="role")
    assert indexes() == before
    real = ingest_mod.insert_records

    def insert_then_fail(*args, **kwargs):
        real(*args, **kwargs)
        raise RuntimeError("disk full")

    monkeypatch.setattr(ingest_mod, "insert_records", insert_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest(str(write("b.csv", _records_csv(90).replace("excerpt, ", "other excerpt, "))), db=db,
               role_col="role", task_col="task", excerpt_col="excerpt")
    assert indexes() == before and _counts(db)["extraction_records"] == 60
    if db.startswith("sqlite"):
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            rebuilt = ingest_mod.sqlite_indexes_to_rebuild(cur, "extraction_records", 60)
            assert sorted(name for name, _ in rebuilt) == [name for name, _ in before]
            assert ingest_mod.sqlite_indexes_to_rebuild(cur, "extraction_records", 59) == []
        finally:
            raw.close()
