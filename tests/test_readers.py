"""Tests for taxonomy.readers: the file-reading and validation layer of `taxo ingest`."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest

from taxonomy.errors import InputError, UsageError
from taxonomy.normalize import MAX_VALUE_LENGTH
from taxonomy.readers import ParsedInput, RecordRow, ValueAgg, read_input

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


# ----------------------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------------------


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    p = tmp_path / name
    if isinstance(content, str):
        content = content.encode("utf-8")
    p.write_bytes(content)
    return p


def write_jsonl(tmp_path: Path, name: str, objs: list) -> Path:
    return write(tmp_path, name, "".join(json.dumps(o) + "\n" for o in objs))


def write_parquet(tmp_path: Path, name: str, columns: dict) -> Path:
    p = tmp_path / name
    pq.write_table(pa.table(columns), p)
    return p


def raises(path: Path, **kw) -> InputError:
    with pytest.raises(InputError) as ei:
        read_input(path, **kw)
    err = ei.value
    # Every InputError names the file.
    assert str(path) in str(err)
    assert err.path == str(path)
    return err


def by_text(parsed: ParsedInput) -> dict[str, ValueAgg]:
    return {v.text: v for v in parsed.values}


# ----------------------------------------------------------------------------------------------------------------
# happy paths: aggregated shape
# ----------------------------------------------------------------------------------------------------------------


def test_csv_aggregated_merges_surface_forms(tmp_path):
    p = write(tmp_path, "values.csv", 'value,pct_convos\nHonesty,1.5\n"honesty ",2\nHONESTY,0.5\nkindness,3\n')
    r = read_input(p, weight_col="pct_convos")
    assert r.shape == "aggregated" and r.format == "csv"
    assert r.path == str(p)
    assert r.sha256 == hashlib.sha256(p.read_bytes()).hexdigest()
    assert r.n_rows == 4
    assert r.records == []
    assert [v.text for v in r.values] == ["honesty", "kindness"]
    h = r.values[0]
    assert h.weight == pytest.approx(4.0)
    assert h.count == 3
    assert h.n_conversations is None
    assert h.aliases == {"Honesty": 1, "honesty": 1, "HONESTY": 1}
    assert h.first_line == 2
    assert r.values[1].first_line == 5
    assert r.columns["value_col"] == "value" and r.columns["weight_col"] == "pct_convos"


def test_aggregated_no_weight_no_count_counts_rows(tmp_path):
    p = write(tmp_path, "v.csv", "value\nA\na\nb\n")
    r = read_input(p)
    v = by_text(r)
    assert v["a"].weight == 2.0 and v["a"].count == 2
    assert v["a"].aliases == {"A": 1, "a": 1}
    assert v["b"].weight == 1.0 and v["b"].count == 1


def test_aggregated_count_column_gives_weight_when_no_weight(tmp_path):
    p = write(tmp_path, "v.csv", "value,n\nA,3\na,4\nb,0\n")
    r = read_input(p, count_col="n")
    v = by_text(r)
    assert v["a"].count == 7 and v["a"].weight == 7.0
    assert v["b"].count == 0 and v["b"].weight == 0.0


def test_aggregated_weight_and_count(tmp_path):
    p = write(tmp_path, "v.csv", "value,w,n\nA,0.25,3\na,0.5,4\n")
    r = read_input(p, weight_col="w", count_col="n")
    (a,) = r.values
    assert a.weight == pytest.approx(0.75) and a.count == 7


def test_alias_counts_rows_per_surface_form(tmp_path):
    p = write(tmp_path, "v.csv", "value\nHonesty\nHonesty\n honesty\n")
    (v,) = read_input(p).values
    assert v.aliases == {"Honesty": 2, "honesty": 1}


def test_values_in_order_of_first_appearance(tmp_path):
    p = write(tmp_path, "v.csv", "value\nc\nb\nC\na\nb\n")
    assert [v.text for v in read_input(p).values] == ["c", "b", "a"]


def test_header_names_are_stripped_and_bom_accepted(tmp_path):
    p = write(tmp_path, "v.csv", b"\xef\xbb\xbf value , w \nx,1\n")
    r = read_input(p, weight_col="w")
    assert r.values[0].text == "x" and r.values[0].weight == 1.0
    # the sha256 is of the raw bytes, BOM included
    assert r.sha256 == hashlib.sha256(p.read_bytes()).hexdigest()


def test_tsv(tmp_path):
    p = write(tmp_path, "v.tsv", "value\tw\nhello, world\t2\n")
    r = read_input(p, weight_col="w")
    assert r.format == "tsv"
    assert r.values[0].text == "hello, world" and r.values[0].weight == 2.0


def test_file_format_overrides_extension(tmp_path):
    p = write(tmp_path, "values.txt", '{"value": "x"}\n')
    r = read_input(p, file_format="jsonl")
    assert r.format == "jsonl" and r.values[0].text == "x"


def test_crlf_and_quoted_embedded_newlines_line_numbers(tmp_path):
    content = 'value,w\r\n"multi\r\nline\r\nvalue",1\r\nnext,2\r\n"bad",-1\r\n'
    p = write(tmp_path, "v.csv", content)
    err = raises(p, weight_col="w")
    # header line 1, the multi-line record is lines 2-4, "next" line 5, "bad" line 6
    assert err.line == 6
    assert "line 6" in str(err) and "negative" in str(err)
    ok = write(tmp_path, "ok.csv", content.replace("-1", "1"))
    r = read_input(ok, weight_col="w")
    assert [(v.text, v.first_line) for v in r.values] == [("multi line value", 2), ("next", 5), ("bad", 6)]


def test_csv_blank_lines_are_skipped(tmp_path):
    p = write(tmp_path, "v.csv", "\nvalue,w\n\na,1\n\n\nb,2\n\n")
    r = read_input(p, weight_col="w")
    assert r.n_rows == 2
    assert [(v.text, v.first_line) for v in r.values] == [("a", 4), ("b", 7)]


def test_jsonl_aggregated_with_blank_lines(tmp_path):
    p = write(tmp_path, "v.jsonl", '{"value": "A", "w": 1}\n\n   \n{"value": "a", "w": 2.5}\r\n{"value": "b", "w": "3"}\n')
    r = read_input(p, weight_col="w")
    assert r.format == "jsonl" and r.n_rows == 3
    v = by_text(r)
    assert v["a"].weight == 3.5 and v["a"].count == 2 and v["a"].first_line == 1
    assert v["b"].weight == 3.0 and v["b"].first_line == 5


def test_ndjson_extension(tmp_path):
    p = write(tmp_path, "v.ndjson", '{"value": "x"}\n')
    assert read_input(p).format == "jsonl"


def test_parquet_aggregated(tmp_path):
    p = write_parquet(tmp_path, "v.parquet", {"value": ["Honesty", "HONESTY", "care"], "pct": [1.0, 2.0, 0.5]})
    r = read_input(p, weight_col="pct")
    assert r.format == "parquet" and r.n_rows == 3
    assert r.sha256 == hashlib.sha256(p.read_bytes()).hexdigest()
    v = by_text(r)
    assert v["honesty"].weight == 3.0 and v["honesty"].first_line == 1
    assert v["care"].first_line == 3


def test_parquet_count_as_float_column_with_integral_values(tmp_path):
    p = write_parquet(tmp_path, "v.parquet", {"value": ["a", "b"], "n": [2.0, 3.0]})
    r = read_input(p, count_col="n")
    assert [v.count for v in r.values] == [2, 3]


# ----------------------------------------------------------------------------------------------------------------
# normalisation
# ----------------------------------------------------------------------------------------------------------------


def test_nfkc_nbsp_whitespace_and_casefold(tmp_path):
    # full-width letters, a non-breaking space, a tab and repeated spaces, German sharp s (case folding)
    rows = ["\uff28\uff4f\uff4e\uff45\uff53\uff54\uff59", "Honesty", "Intellectual\u00a0 \thonesty", "STRASSE", "straße"]
    p = write_jsonl(tmp_path, "v.jsonl", [{"value": s} for s in rows])
    r = read_input(p)
    v = by_text(r)
    assert set(v) == {"honesty", "intellectual honesty", "strasse"}
    assert v["honesty"].aliases == {"\uff28\uff4f\uff4e\uff45\uff53\uff54\uff59": 1, "Honesty": 1}
    assert v["strasse"].count == 2


def test_keep_case(tmp_path):
    p = write(tmp_path, "v.csv", "value\nHonesty\nhonesty\n HONESTY \nHonesty\n")
    r = read_input(p, keep_case=True)
    assert [(v.text, v.count) for v in r.values] == [("Honesty", 2), ("honesty", 1), ("HONESTY", 1)]
    assert r.columns["keep_case"] is True


def test_max_length_exactly_is_accepted(tmp_path):
    p = write(tmp_path, "v.csv", "value\n" + "a" * MAX_VALUE_LENGTH + "\n")
    assert len(read_input(p).values[0].text) == MAX_VALUE_LENGTH


def test_length_is_measured_after_normalisation(tmp_path):
    # lots of whitespace collapses away, so the normalised value fits
    text = "  " + " \t ".join(["ab"] * (MAX_VALUE_LENGTH // 3)) + "   "
    assert len(text) > MAX_VALUE_LENGTH
    p = write_jsonl(tmp_path, "v.jsonl", [{"value": text}])
    assert len(read_input(p).values[0].text) <= MAX_VALUE_LENGTH


# ----------------------------------------------------------------------------------------------------------------
# happy paths: records shape
# ----------------------------------------------------------------------------------------------------------------


RECORDS = [
    {"conversation_id": "c1", "value": "Honesty", "role": "Assistant", "task": "coding", "rtype": "support", "ev": " e1 "},
    {"conversation_id": "c1", "value": "honesty", "role": "AI"},
    {"conversation_id": "c2", "value": "HONESTY", "role": "user", "task": ""},
    {"conversation_id": 3, "value": "care", "role": "Human"},
    {"conversation_id": "c4", "value": "care", "role": "model"},
    {"conversation_id": "c5", "value": "care", "role": None},
]


def test_records_auto_detected_from_conversation_id_column(tmp_path):
    p = write_jsonl(tmp_path, "r.jsonl", RECORDS)
    r = read_input(p, role_col="role", task_col="task", response_type_col="rtype", excerpt_col="ev")
    assert r.shape == "records"
    assert r.columns["conversation_col"] == "conversation_id"
    assert r.n_rows == 6 and len(r.records) == 6
    v = by_text(r)
    assert (v["honesty"].count, v["honesty"].n_conversations, v["honesty"].weight) == (3, 2, 2.0)
    assert v["honesty"].aliases == {"Honesty": 1, "honesty": 1, "HONESTY": 1}
    assert (v["care"].count, v["care"].n_conversations, v["care"].weight) == (3, 3, 3.0)
    assert r.records[0] == RecordRow(
        line=1, conversation_id="c1", value="honesty", surface="Honesty", role="ai", task="coding",
        response_type="support", excerpt="e1",
    )
    assert [x.role for x in r.records] == ["ai", "ai", "human", "human", "ai", None]
    assert r.records[2].task is None  # empty -> None
    assert r.records[1].task is None  # missing key -> None
    assert r.records[3].conversation_id == "3"  # integers become strings


def test_records_explicit_conversation_col_csv(tmp_path):
    p = write(tmp_path, "r.csv", "convo,value,role\nx,Care,assistant\ny,care,USER\nx,care,\n")
    r = read_input(p, conversation_col="convo", role_col="role")
    assert r.shape == "records"
    (care,) = r.values
    assert (care.count, care.n_conversations, care.weight) == (3, 2, 2.0)
    assert [(x.line, x.conversation_id, x.role) for x in r.records] == [(2, "x", "ai"), (3, "y", "human"), (4, "x", None)]


def test_records_parquet(tmp_path):
    p = write_parquet(tmp_path, "r.parquet", {
        "conversation_id": [10, 11, 10], "value": ["Care", "care", "fun"], "role": ["ai", "human", None],
    })
    r = read_input(p, role_col="role")
    assert r.shape == "records"
    v = by_text(r)
    assert v["care"].n_conversations == 2 and v["fun"].n_conversations == 1
    assert [x.conversation_id for x in r.records] == ["10", "11", "10"]
    assert [x.line for x in r.records] == [1, 2, 3]


def test_shape_aggregated_forced_ignores_conversation_id_column(tmp_path):
    p = write(tmp_path, "v.csv", "conversation_id,value\nc1,a\nc2,a\n")
    r = read_input(p, shape="aggregated")
    assert r.shape == "aggregated" and r.values[0].count == 2 and r.values[0].n_conversations is None


def test_record_options_with_aggregated_shape_is_usage_error(tmp_path):
    p = write(tmp_path, "v.csv", "value,role\na,ai\n")
    with pytest.raises(UsageError, match="role_col"):
        read_input(p, role_col="role")


def test_weight_col_with_records_shape_is_usage_error(tmp_path):
    p = write(tmp_path, "r.csv", "conversation_id,value,w\nc,a,1\n")
    with pytest.raises(UsageError, match="weight_col"):
        read_input(p, weight_col="w")


def test_bad_shape_and_format_options(tmp_path):
    p = write(tmp_path, "v.csv", "value\na\n")
    with pytest.raises(UsageError, match="shape"):
        read_input(p, shape="wide")
    with pytest.raises(UsageError, match="format"):
        read_input(p, file_format="xlsx")


# ----------------------------------------------------------------------------------------------------------------
# errors: file level
# ----------------------------------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    err = raises(tmp_path / "nope.csv")
    assert "no such file" in str(err)


def test_directory_instead_of_file(tmp_path):
    d = tmp_path / "dir.csv"
    d.mkdir()
    err = raises(d)
    assert "directory" in str(err)


def test_unsupported_extension(tmp_path):
    p = write(tmp_path, "values.xlsx", "value\na\n")
    err = raises(p)
    assert "unsupported" in str(err) and "'.xlsx'" in str(err) and ".csv" in str(err)
    p2 = write(tmp_path, "values", "value\na\n")
    assert "no extension" in str(raises(p2))


@pytest.mark.parametrize("name", ["e.csv", "e.jsonl", "e.parquet", "e.tsv"])
def test_empty_file(tmp_path, name):
    p = write(tmp_path, name, b"")
    err = raises(p)
    assert "empty" in str(err) and "0 bytes" in str(err)


def test_csv_only_blank_lines(tmp_path):
    p = write(tmp_path, "b.csv", "\n\r\n\n")
    err = raises(p)
    assert "no header row" in str(err)


def test_jsonl_only_blank_lines(tmp_path):
    p = write(tmp_path, "b.jsonl", "\n  \n\n")
    err = raises(p)
    assert "no records" in str(err)


def test_header_but_no_data_rows(tmp_path):
    p = write(tmp_path, "h.csv", "value,w\n\n")
    err = raises(p, weight_col="w")
    assert err.line == 1
    assert "line 1" in str(err) and "header row but no data rows" in str(err)


def test_parquet_with_zero_rows(tmp_path):
    p = write_parquet(tmp_path, "z.parquet", {"value": pa.array([], pa.string())})
    err = raises(p)
    assert "no data rows" in str(err)


# ----------------------------------------------------------------------------------------------------------------
# errors: columns
# ----------------------------------------------------------------------------------------------------------------


def test_unknown_value_column_csv(tmp_path):
    p = write(tmp_path, "v.csv", "text,pct\na,1\n")
    err = raises(p)
    assert err.line == 1 and err.field == "value"
    msg = str(err)
    assert "line 1" in msg and "unknown column 'value'" in msg and "'text'" in msg and "'pct'" in msg


def test_unknown_weight_column_csv(tmp_path):
    p = write(tmp_path, "v.csv", "value,pct\na,1\n")
    err = raises(p, weight_col="pct_convos")
    assert err.field == "pct_convos" and "unknown column 'pct_convos'" in str(err) and "'value', 'pct'" in str(err)


def test_unknown_column_delimiter_hint(tmp_path):
    p = write(tmp_path, "v.csv", "value;pct\na;1\n")
    err = raises(p, weight_col="pct")
    assert "delimiter" in str(err)


def test_unknown_column_jsonl_lists_keys_seen(tmp_path):
    p = write_jsonl(tmp_path, "v.jsonl", [{"text": "a"}, {"text": "b", "pct": 2}])
    err = raises(p)
    assert err.field == "value"
    assert "unknown column 'value'" in str(err) and "'text', 'pct'" in str(err)


def test_unknown_column_parquet(tmp_path):
    p = write_parquet(tmp_path, "v.parquet", {"text": ["a"], "pct": [1.0]})
    err = raises(p)
    assert err.field == "value"
    assert "unknown column 'value'" in str(err) and "'text', 'pct'" in str(err)


def test_unknown_conversation_col(tmp_path):
    p = write(tmp_path, "r.csv", "conv,value\nc,a\n")
    err = raises(p, conversation_col="conversation")
    assert "unknown column 'conversation'" in str(err) and "'conv'" in str(err)


def test_records_shape_without_conversation_column(tmp_path):
    p = write(tmp_path, "r.csv", "value\na\n")
    err = raises(p, shape="records")
    assert "unknown column 'conversation_id'" in str(err)


def test_duplicate_requested_column_in_header(tmp_path):
    p = write(tmp_path, "d.csv", "value,value\na,b\n")
    err = raises(p)
    assert err.line == 1 and "2 columns named 'value'" in str(err)


# ----------------------------------------------------------------------------------------------------------------
# errors: values
# ----------------------------------------------------------------------------------------------------------------


def test_empty_value_csv(tmp_path):
    p = write(tmp_path, "v.csv", "value,w\na,1\n,2\n")
    err = raises(p, weight_col="w")
    assert (err.line, err.field) == (3, "value")
    assert "line 3, field 'value'" in str(err) and "empty value" in str(err)


def test_whitespace_only_value_csv(tmp_path):
    p = write(tmp_path, "v.csv", 'value\na\n"  \t "\n')
    err = raises(p)
    assert (err.line, err.field) == (3, "value") and "blank" in str(err)


def test_whitespace_only_value_nbsp_jsonl(tmp_path):
    p = write_jsonl(tmp_path, "v.jsonl", [{"value": "a"}, {"value": "\u00a0\u3000"}])
    err = raises(p)
    assert err.line == 2 and "blank" in str(err)


def test_value_too_long(tmp_path):
    p = write(tmp_path, "v.csv", "value\nok\n" + "x" * (MAX_VALUE_LENGTH + 1) + "\n")
    err = raises(p)
    assert (err.line, err.field) == (3, "value")
    assert f"{MAX_VALUE_LENGTH + 1} characters" in str(err) and f"limit is {MAX_VALUE_LENGTH}" in str(err)


def test_value_too_long_after_nfkc(tmp_path):
    # U+FDFA expands to 18 characters under NFKC
    p = write_jsonl(tmp_path, "v.jsonl", [{"value": "\ufdfa" * 30}])
    err = raises(p)
    assert err.line == 1 and "after normalisation" in str(err)


def test_value_null_and_missing_and_not_string_jsonl(tmp_path):
    p = write(tmp_path, "v.jsonl", '{"value": "a"}\n{"value": null}\n')
    err = raises(p)
    assert err.line == 2 and "null" in str(err)
    p = write(tmp_path, "v2.jsonl", '{"value": "a"}\n{"other": 1}\n')
    err = raises(p)
    assert err.line == 2 and err.field == "value" and "missing value" in str(err)
    p = write(tmp_path, "v3.jsonl", '{"value": "a"}\n{"value": 42}\n')
    err = raises(p)
    assert err.line == 2 and "must be a string" in str(err)


def test_parquet_null_value(tmp_path):
    p = write_parquet(tmp_path, "v.parquet", {"value": ["a", "b", None]})
    err = raises(p)
    assert (err.line, err.field) == (3, "value")
    assert "null" in str(err) and "Parquet row 3" in str(err)


# ----------------------------------------------------------------------------------------------------------------
# errors: weights and counts
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cell, expected",
    [
        ("-1", "negative"),
        ("-0.5", "negative"),
        ("abc", "not a number"),
        ("1_000", "not a number"),
        ("nan", "NaN"),
        ("NaN", "NaN"),
        ("inf", "infinite"),
        ("-Infinity", "infinite"),
        ("", "empty"),
    ],
)
def test_bad_weight_csv(tmp_path, cell, expected):
    p = write(tmp_path, "w.csv", f"value,pct_convos\na,1\nb,{cell}\n")
    err = raises(p, weight_col="pct_convos")
    assert (err.line, err.field) == (3, "pct_convos")
    assert "line 3, field 'pct_convos'" in str(err) and expected in str(err)


@pytest.mark.parametrize(
    "raw, expected",
    [(-2, "negative"), ("x", "not a number"), (True, "boolean"), (None, "null"), ([1], "must be a number")],
)
def test_bad_weight_jsonl(tmp_path, raw, expected):
    p = write_jsonl(tmp_path, "w.jsonl", [{"value": "a", "w": 1}, {"value": "b", "w": raw}])
    err = raises(p, weight_col="w")
    assert (err.line, err.field) == (2, "w") and expected in str(err)


def test_weight_nan_and_infinity_literals_jsonl(tmp_path):
    p = write(tmp_path, "w.jsonl", '{"value": "a", "w": NaN}\n')
    assert "NaN" in str(raises(p, weight_col="w"))
    p = write(tmp_path, "w2.jsonl", '{"value": "a", "w": 1}\n{"value": "a", "w": Infinity}\n')
    err = raises(p, weight_col="w")
    assert err.line == 2 and "infinite" in str(err)


def test_weight_missing_key_jsonl(tmp_path):
    p = write_jsonl(tmp_path, "w.jsonl", [{"value": "a", "w": 1}, {"value": "b"}])
    err = raises(p, weight_col="w")
    assert err.line == 2 and "missing weight" in str(err)


@pytest.mark.parametrize("cell, expected", [("2.5", "whole number"), ("-3", "negative"), ("x", "not a number"), ("", "empty")])
def test_bad_count_csv(tmp_path, cell, expected):
    p = write(tmp_path, "c.csv", f"value,n\na,1\nb,{cell}\n")
    err = raises(p, count_col="n")
    assert (err.line, err.field) == (3, "n") and expected in str(err)


def test_count_accepts_integral_float_text(tmp_path):
    p = write(tmp_path, "c.csv", "value,n\na,3.0\n")
    assert read_input(p, count_col="n").values[0].count == 3


def test_parquet_negative_weight(tmp_path):
    p = write_parquet(tmp_path, "w.parquet", {"value": ["a", "b"], "pct": [1.0, -0.5]})
    err = raises(p, weight_col="pct")
    assert (err.line, err.field) == (2, "pct")
    assert "negative" in str(err) and "Parquet row 2" in str(err)


def test_parquet_nan_weight_and_null_weight(tmp_path):
    p = write_parquet(tmp_path, "w.parquet", {"value": ["a", "b"], "pct": [float("nan"), 1.0]})
    err = raises(p, weight_col="pct")
    assert err.line == 1 and "NaN" in str(err)
    p = write_parquet(tmp_path, "w2.parquet", {"value": ["a", "b"], "pct": [1.0, None]})
    err = raises(p, weight_col="pct")
    assert err.line == 2 and "null" in str(err)


def test_parquet_non_integral_count(tmp_path):
    p = write_parquet(tmp_path, "c.parquet", {"value": ["a"], "n": [1.5]})
    err = raises(p, count_col="n")
    assert err.line == 1 and "whole number" in str(err)


def test_weight_zero_is_allowed(tmp_path):
    p = write(tmp_path, "w.csv", "value,w\na,0\nb,-0.0\n")
    r = read_input(p, weight_col="w")
    assert [v.weight for v in r.values] == [0.0, 0.0]
    assert not any(math.copysign(1, v.weight) < 0 for v in r.values)


# ----------------------------------------------------------------------------------------------------------------
# errors: encoding and malformed files
# ----------------------------------------------------------------------------------------------------------------


def test_non_utf8_csv_reports_line(tmp_path):
    p = write(tmp_path, "latin.csv", "value\nok\nalso ok\n".encode() + "café\n".encode("latin-1"))
    err = raises(p)
    assert err.line == 4
    assert "line 4" in str(err) and "not valid UTF-8" in str(err) and "e9" in str(err)


def test_non_utf8_line_count_with_crlf_and_quoted_newline(tmp_path):
    data = b'value\r\n"a\r\nb"\r\nfine\r\n\xff\r\n'
    p = write(tmp_path, "bad.csv", data)
    err = raises(p)
    assert err.line == 5


def test_non_utf8_jsonl_reports_line(tmp_path):
    p = write(tmp_path, "bad.jsonl", b'{"value": "a"}\n\n{"value": "\xc3("}\n')
    err = raises(p)
    assert err.line == 3 and "not valid UTF-8" in str(err)


def test_utf16_hint(tmp_path):
    p = write(tmp_path, "u16.csv", "value\na\n".encode("utf-16"))
    err = raises(p)
    assert err.line == 1 and "UTF-16" in str(err)


def test_truncated_csv_unterminated_quote(tmp_path):
    p = write(tmp_path, "t.csv", 'value,w\na,1\n"unterminated,2\nb,3\nc,4\n')
    err = raises(p, weight_col="w")
    assert err.line == 3
    msg = str(err)
    assert "line 3" in msg and "truncated CSV" in msg and "never closed" in msg


def test_truncated_csv_at_eof(tmp_path):
    p = write(tmp_path, "t.csv", 'value\na\n"cut off here')
    err = raises(p)
    assert err.line == 3 and "truncated" in str(err)


def test_malformed_quoting(tmp_path):
    p = write(tmp_path, "q.csv", 'value,w\n"a"b,1\n')
    err = raises(p, weight_col="w")
    assert err.line == 2 and "malformed CSV" in str(err)


def test_ragged_row_too_many_fields(tmp_path):
    p = write(tmp_path, "r.csv", "value,w\na,1\nb,2,extra\n")
    err = raises(p, weight_col="w")
    assert err.line == 3
    assert "line 3" in str(err) and "ragged row: 3 fields" in str(err) and "has 2" in str(err)


def test_ragged_row_too_few_fields(tmp_path):
    p = write(tmp_path, "r.csv", "value,w\na,1\nb\n")
    err = raises(p, weight_col="w")
    assert err.line == 3 and "ragged row: 1 field on line 3" in str(err)


def test_ragged_row_after_multiline_record(tmp_path):
    p = write(tmp_path, "r.csv", 'value,w\n"x\ny\nz",1\nb,2,3\n')
    err = raises(p, weight_col="w")
    assert err.line == 5


def test_invalid_json_line(tmp_path):
    p = write(tmp_path, "j.jsonl", '{"value": "a"}\n\n{"value": "b",}\n')
    err = raises(p)
    assert err.line == 3 and "line 3" in str(err) and "invalid JSON" in str(err)


def test_truncated_jsonl_last_line(tmp_path):
    p = write(tmp_path, "j.jsonl", '{"value": "a"}\n{"value": "b')
    err = raises(p)
    assert err.line == 2 and "invalid JSON" in str(err)


@pytest.mark.parametrize("line, kind", [("[1, 2]", "an array"), ('"just a string"', "a string"), ("3", "a number"), ("null", "null")])
def test_json_line_not_an_object(tmp_path, line, kind):
    p = write(tmp_path, "j.jsonl", '{"value": "a"}\n' + line + "\n")
    err = raises(p)
    assert err.line == 2 and "expected a JSON object" in str(err) and kind in str(err)


def test_not_a_parquet_file(tmp_path):
    p = write(tmp_path, "fake.parquet", "value\na\nb\nc\n")
    err = raises(p)
    assert "not a valid Parquet file" in str(err)


# ----------------------------------------------------------------------------------------------------------------
# errors: records
# ----------------------------------------------------------------------------------------------------------------


def test_missing_conversation_id_csv(tmp_path):
    p = write(tmp_path, "r.csv", "conversation_id,value\nc1,a\n ,b\n")
    err = raises(p)
    assert (err.line, err.field) == (3, "conversation_id") and "missing conversation id" in str(err)


def test_missing_conversation_id_jsonl(tmp_path):
    p = write_jsonl(tmp_path, "r.jsonl", [{"conversation_id": "c1", "value": "a"}, {"value": "b"}])
    err = raises(p)
    assert (err.line, err.field) == (2, "conversation_id") and "missing conversation id" in str(err)
    p = write_jsonl(tmp_path, "r2.jsonl", [{"conversation_id": None, "value": "a"}])
    assert "missing conversation id" in str(raises(p))


def test_missing_conversation_id_parquet(tmp_path):
    p = write_parquet(tmp_path, "r.parquet", {"conversation_id": ["c1", None], "value": ["a", "b"]})
    err = raises(p)
    assert err.line == 2 and "missing conversation id" in str(err) and "Parquet row 2" in str(err)


def test_bad_role(tmp_path):
    p = write(tmp_path, "r.csv", "conversation_id,value,speaker\nc1,a,assistant\nc2,b,system\n")
    err = raises(p, role_col="speaker")
    assert (err.line, err.field) == (3, "speaker")
    assert "line 3, field 'speaker'" in str(err) and "unknown role 'system'" in str(err)


def test_bad_role_jsonl(tmp_path):
    p = write_jsonl(tmp_path, "r.jsonl", [{"conversation_id": "c", "value": "a", "role": "bot"}])
    err = raises(p, role_col="role")
    assert err.line == 1 and "unknown role 'bot'" in str(err)


# ----------------------------------------------------------------------------------------------------------------
# all or nothing, performance
# ----------------------------------------------------------------------------------------------------------------


def test_error_on_last_row_returns_nothing(tmp_path):
    rows = "".join(f"v{i},{i}\n" for i in range(1000))
    p = write(tmp_path, "v.csv", "value,w\n" + rows + "last,-1\n")
    err = raises(p, weight_col="w")
    assert err.line == 1002


def test_100k_rows_csv(tmp_path):
    n = 100_000
    lines = ["value,pct_convos"] + [f"Value number {i % 20000},{(i % 7) / 10}" for i in range(n)]
    p = write(tmp_path, "big.csv", "\n".join(lines) + "\n")
    r = read_input(p, weight_col="pct_convos")
    assert r.n_rows == n and len(r.values) == 20000


def test_100k_records_jsonl(tmp_path):
    n = 100_000
    objs = [{"conversation_id": f"c{i // 5}", "value": f"Value {i % 5000}", "role": "ai"} for i in range(n)]
    p = write_jsonl(tmp_path, "big.jsonl", objs)
    r = read_input(p, role_col="role")
    assert r.n_rows == n and len(r.records) == n and len(r.values) == 5000


def test_csv_lone_cr_line_endings(tmp_path):
    p = write(tmp_path, "mac.csv", b"value,w\ra,1\rb,-1\r")
    err = raises(p, weight_col="w")
    assert err.line == 3
    p = write(tmp_path, "mac_bad.csv", b"value\ra\r\xff\r")
    assert raises(p).line == 3


def test_records_excerpt_with_embedded_newline_csv(tmp_path):
    p = write(tmp_path, "r.csv", 'conversation_id,value,excerpt\nc1,care,"line one\nline two"\nc2,care,\n')
    r = read_input(p, excerpt_col="excerpt")
    assert [x.excerpt for x in r.records] == ["line one\nline two", None]
    assert [x.line for x in r.records] == [2, 4]
