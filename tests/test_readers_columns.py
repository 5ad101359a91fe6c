"""JSONL and Parquet records read column by column (pyarrow, a block at a time) give the same values, records and
errors as reading them row by row; a bad row in the middle of such a file is one line naming the file, line (or
row) and field, exit code 2, and nothing is written (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from taxonomy.db.engine import session_scope  # noqa: E402
from taxonomy.db.models import Batch, BatchValue, ExtractionRecord, Value, ValueAlias  # noqa: E402
from taxonomy.errors import InputError  # noqa: E402
from taxonomy.ingest import ingest  # noqa: E402
from taxonomy.readers import jsonl, read_input  # noqa: E402
from tests.test_ingest_stream import _read_both_ways  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OPTS = {"role_col": "role", "task_col": "task", "excerpt_col": "excerpt"}


def _row(i: int) -> dict:
    value = ["Honesty", " honesty ", "care", "CARE", "naïve café"][i % 5] + (f" {i % 7}" if i % 2 else "")
    return {"conversation_id": f"c{i // 3}", "value": value, "role": ["ai", "Human", "assistant", ""][i % 4],
            "task": [" t1 ", "", "t2"][i % 3], "excerpt": f"excerpt, {i}"}


#: JSONL cases: (name, change to the 40 lines, error expected). Each change is in line 23 (block 3 of 8 lines)
JSONL_CASES = {
    "clean": None,
    "crlf-bom": "crlf",
    "blank-line": "blank",
    "integer-conversations": "integers",
    "one-integer-conversation": lambda o: {**o, "conversation_id": 17},
    "null-and-missing-optional": lambda o: {k: (None if k == "role" else v) for k, v in o.items() if k != "task"},
    "iso-date-conversation": lambda o: {**o, "conversation_id": "2020-01-01"},
    "surrogate-pair": lambda o: {**o, "excerpt": "smile \U0001f600"},
    "extra-key": lambda o: {**o, "model": {"name": "m", "n": [1, 2]}},
    "null-value": lambda o: {**o, "value": None},
    "missing-value": lambda o: {k: v for k, v in o.items() if k != "value"},
    "number-value": lambda o: {**o, "value": 42},
    "number-role": lambda o: {**o, "role": 3},
    "array-excerpt": lambda o: {**o, "excerpt": ["a"]},
    "float-conversation": lambda o: {**o, "conversation_id": 3.5},
    "bool-task": lambda o: {**o, "task": True},
    "nul-excerpt": lambda o: {**o, "excerpt": "nul\x00here"},
    "bad-role": lambda o: {**o, "role": "robot"},
    "bad-json": "bad-json",
    "null-line": "null-line",
    "lone-surrogate": "lone-surrogate",
    "duplicate-key": "duplicate-key",
    "nan-excerpt": "nan",  # json reads NaN: a float, written as text ("nan"), as any number in a text field
    "bad-utf8": "bad-utf8",
    "lone-cr": "lone-cr",  # a CR between keys: whitespace to json, a line break to pyarrow
}
JSONL_ERRORS = {"null-value", "missing-value", "number-value", "number-role", "array-excerpt", "bool-task",
                "nul-excerpt", "bad-role", "bad-json", "null-line", "bad-utf8"}
#: problems of the JSON itself in the first lines: reported by the pass that looks for the columns, before any row
JSON_ERRORS = {"bad-json", "null-line", "bad-utf8"}


def _jsonl_bytes(case: str) -> bytes:
    objs = [_row(i) for i in range(40)]
    change = JSONL_CASES[case]
    if callable(change):
        objs[21] = change(objs[21])
    elif change == "integers":
        objs = [{**o, "conversation_id": i // 3} for i, o in enumerate(objs)]
    lines = [json.dumps(o, ensure_ascii=False) for o in objs]
    newline, head = "\n", ""
    if change == "crlf":
        newline, head = "\r\n", "\ufeff"
    elif change == "blank":
        lines.insert(21, "   ")
    elif change == "bad-json":
        lines[21] = lines[21][:-1] + ",}"
    elif change == "null-line":
        lines[21] = "null"
    elif change == "lone-surrogate":
        lines[21] = lines[21].replace('"excerpt": "', '"excerpt": "\\ud800 ')
    elif change == "duplicate-key":
        lines[21] = lines[21][:-1] + ', "value": "other"}'
    elif change == "nan":
        lines[21] = lines[21].replace('"excerpt": "excerpt, 21"', '"excerpt": NaN')
    elif change == "lone-cr":
        lines[21] = lines[21].replace('"task"', '\r"task"')
    data = (head + newline.join(lines) + newline).encode()
    if change == "bad-utf8":
        data = data.replace(b"excerpt, 21", b"excerpt, \xff21")
    return data


@pytest.mark.parametrize("case", list(JSONL_CASES))
def test_jsonl_column_path_reads_as_the_record_path(case, write, monkeypatch):
    path = write("r.jsonl", _jsonl_bytes(case))
    fast, slow, used = _read_both_ways(path, monkeypatch, chunk_rows=8, **OPTS)
    assert fast == slow
    if case in JSONL_ERRORS:
        assert fast[0] == "error" and fast[2] == 22 + (case == "blank-line"), fast
        assert fast[3] in (None, "value", "role", "task", "excerpt")
    else:
        assert fast[2] == 40 and len(fast[1]) == 40
    # the blocks before the one with the problem went column by column
    assert used[:2] == ([] if case in JSON_ERRORS else [True, True])
    if case in ("clean", "crlf-bom", "integer-conversations", "null-and-missing-optional", "extra-key"):
        assert used == [True] * 5


def test_jsonl_a_line_that_is_null_first_in_a_block_is_read_line_by_line(write, monkeypatch):
    """pyarrow 26 crashes on a block that starts with ``null``: such a block never reaches it."""
    lines = [json.dumps(_row(i)) for i in range(20)]
    lines[8] = "null"
    path = write("n.jsonl", "\n".join(lines) + "\n")
    fast, slow, used = _read_both_ways(path, monkeypatch, chunk_rows=8, **OPTS)
    assert fast == slow and fast[0] == "error" and fast[2] == 9 and "got null" in fast[1]
    assert jsonl.arrow_columns([b"null\n", b'{"value": "a"}\n'], ["value"], ["value"], first=True) is None


def test_jsonl_columns_found_only_further_down_are_found(write, monkeypatch):
    """The first lines decide the columns only when they hold every one named; else the whole file is looked at
    (and a column no line has is an unknown column, listing the keys of all lines)."""
    monkeypatch.setattr(jsonl, "KEY_LINES", 5)
    objs = [{"conversation_id": f"c{i}", "value": f"v{i % 3}"} for i in range(20)]
    objs[12]["excerpt"] = "late"
    path = write("late.jsonl", "".join(json.dumps(o) + "\n" for o in objs))
    r = read_input(path, excerpt_col="excerpt")
    assert [x.excerpt for x in r.records].count("late") == 1 and r.records[12].excerpt == "late"
    with pytest.raises(InputError) as e:
        read_input(path, excerpt_col="nope")
    assert "unknown column 'nope'" in str(e.value) and "'excerpt'" in str(e.value) and e.value.field == "nope"
    # shape auto: records only if some line has a conversation id, maybe after the first lines
    objs = [{"value": f"v{i}"} for i in range(10)] + [{"value": "w", "conversation_id": "c"}]
    path = write("auto.jsonl", "".join(json.dumps(o) + "\n" for o in objs))
    with pytest.raises(InputError) as e:
        read_input(path)
    assert (e.value.line, e.value.field) == (1, "conversation_id")  # records: the first lines lack the id


def _parquet(tmp_path: Path, name: str, columns: dict) -> Path:
    p = tmp_path / name
    pq.write_table(pa.table(columns), p, row_group_size=16)
    return p


def _columns(n: int = 40) -> dict:
    rows = [_row(i) for i in range(n)]
    return {k: [r[k] for r in rows] for k in rows[0]}


PARQUET_CASES = ["clean", "integer-conversation", "dictionary", "large-string", "null-optional", "all-null-task",
                 "null-value", "null-conversation", "integer-value", "integer-role", "float-conversation",
                 "nul-excerpt", "bad-role", "binary-excerpt"]
PARQUET_ERRORS = {"null-value", "null-conversation", "integer-value", "integer-role", "nul-excerpt", "bad-role"}


@pytest.mark.parametrize("case", PARQUET_CASES)
def test_parquet_column_path_reads_as_the_record_path(case, tmp_path, monkeypatch):
    cols = _columns()
    arrays = {k: pa.array(v) for k, v in cols.items()}
    if case == "integer-conversation":
        arrays["conversation_id"] = pa.array([i // 3 for i in range(40)], pa.int64())
    elif case == "dictionary":
        arrays["value"] = pa.array(cols["value"]).dictionary_encode()
    elif case == "large-string":
        arrays["excerpt"] = pa.array(cols["excerpt"], pa.large_string())
    elif case == "null-optional":
        arrays["role"] = pa.array([None if i % 5 == 0 else x for i, x in enumerate(cols["role"])])
    elif case == "all-null-task":
        arrays["task"] = pa.nulls(40, pa.string())
    elif case == "null-value":
        arrays["value"] = pa.array([None if i == 21 else x for i, x in enumerate(cols["value"])])
    elif case == "null-conversation":
        arrays["conversation_id"] = pa.array([None if i == 21 else x for i, x in enumerate(cols["conversation_id"])])
    elif case == "integer-value":
        arrays["value"] = pa.array(list(range(40)), pa.int64())
    elif case == "integer-role":
        arrays["role"] = pa.array(list(range(40)), pa.int32())
    elif case == "float-conversation":
        arrays["conversation_id"] = pa.array([float(i // 3) for i in range(40)])
    elif case == "nul-excerpt":
        arrays["excerpt"] = pa.array([("nul\x00" if i == 21 else "") + x for i, x in enumerate(cols["excerpt"])])
    elif case == "bad-role":
        arrays["role"] = pa.array(["robot" if i == 21 else x for i, x in enumerate(cols["role"])])
    elif case == "binary-excerpt":
        arrays["excerpt"] = pa.array([x.encode() for x in cols["excerpt"]], pa.binary())
    path = _parquet(tmp_path, "r.parquet", arrays)
    fast, slow, used = _read_both_ways(path, monkeypatch, chunk_rows=8, **OPTS)
    assert fast == slow
    if case in PARQUET_ERRORS:
        assert fast[0] == "error" and "Parquet row" in fast[1], fast
        if case not in ("integer-value", "integer-role"):
            assert fast[2] == 22 and "Parquet row 22" in fast[1]
    else:
        assert fast[2] == 40 and [r.line for r in fast[1]][:3] == [1, 2, 3]
    if case in ("clean", "integer-conversation", "dictionary", "large-string", "null-optional", "all-null-task"):
        assert used == [True] * 5
    elif case in ("null-value", "null-conversation", "nul-excerpt", "bad-role"):
        assert used[:2] == [True, True]


def test_parquet_missing_column_names_it(tmp_path):
    path = _parquet(tmp_path, "m.parquet", {k: v for k, v in _columns().items() if k != "task"})
    with pytest.raises(InputError) as e:
        read_input(path, **OPTS)
    assert e.value.field == "task" and "unknown column 'task'" in str(e.value) and str(path) in str(e.value)


def _counts(db) -> dict[str, int]:
    with session_scope(db) as s:
        return {m.__tablename__: s.scalar(select(func.count()).select_from(m))
                for m in (Batch, Value, ValueAlias, BatchValue, ExtractionRecord)}


def _bad_in_the_middle(tmp_path: Path, fmt: str, n: int = 3000, bad: int = 1700) -> Path:
    rows = [_row(i) for i in range(n)]
    if fmt == "jsonl":
        rows[bad]["value"] = 7
        p = tmp_path / "mid.jsonl"
        p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        rows[bad]["conversation_id"] = None
        p = tmp_path / "mid.parquet"
        pq.write_table(pa.table({k: [r[k] for r in rows] for k in rows[0]}), p)
    return p


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_bad_row_in_the_middle_writes_nothing(fmt, db, write, tmp_path):
    ingest(str(write("good.csv", "conversation_id,value\nc1,a\nc2,b\n")), db=db)
    before = _counts(db)
    path = _bad_in_the_middle(tmp_path, fmt)
    with pytest.raises(InputError) as e:
        ingest(str(path), db=db, chunk_rows=500, **OPTS)
    if fmt == "jsonl":
        assert (e.value.line, e.value.field) == (1701, "value") and "got a number" in str(e.value)
    else:
        assert (e.value.line, e.value.field) == (1701, "conversation_id") and "Parquet row 1701" in str(e.value)
    assert _counts(db) == before


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_the_cli_says_one_line_and_exits_2(fmt, tmp_path):
    path = _bad_in_the_middle(tmp_path, fmt)
    env = dict(os.environ, PYTHONPATH=str(ROOT), TAXO_DATABASE_URL=f"sqlite:///{tmp_path / 't.db'}")
    subprocess.run([sys.executable, "-m", "taxonomy.cli", "init"], env=env, check=True, capture_output=True)
    proc = subprocess.run([sys.executable, "-m", "taxonomy.cli", "ingest", str(path), "--role-col", "role",
                           "--task-col", "task", "--excerpt-col", "excerpt"], env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    where = "line 1701" if fmt == "jsonl" else "Parquet row 1701"
    assert str(path) in lines[0] and where in lines[0] and ("value" if fmt == "jsonl" else "conversation") in lines[0]
