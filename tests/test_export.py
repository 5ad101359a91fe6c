"""Export formats, content checksum and the loader of the published values_tree.csv layout (taxonomy.reference)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from taxonomy.domain import Leaf, Node, Tree
from taxonomy.errors import InputError, UsageError
from taxonomy.export import EXPORT_FORMATS, FORMATS, ExportFormat, export_tree
from taxonomy.export.parquet import PARQUET_METADATA_KEY, read_parquet_metadata
from taxonomy.export.values_csv import VALUES_TREE_COLUMNS
from taxonomy.reference import load_values_tree_csv
from taxonomy.tree import content_checksum, recompute_stats

HEADER = ",".join(VALUES_TREE_COLUMNS)


def make_tree(paths: dict[str, tuple[str, ...]], weights: dict[str, float] | None = None, *,
              names: dict[str, str] | None = None, descriptions: dict[str, str] | None = None,
              version_id: int | None = 7) -> Tree:
    """A tree from ``value -> (l1 uid, l2 uid, ...)``; node names default to ``"name of <uid>"``."""
    names = names or {}
    descriptions = descriptions or {}
    nodes: dict[str, Node] = {}
    leaves = []
    for value, path in paths.items():
        for k, uid in enumerate(path):
            parent = path[k + 1] if k + 1 < len(path) else None
            nodes.setdefault(uid, Node(uid=uid, level=k + 1, name=names.get(uid, f"name of {uid}"),
                                       description=descriptions.get(uid, f"about {uid}"), parent_uid=parent))
        leaves.append(Leaf(text=value, parent_uid=path[0], weight=(weights or {}).get(value, 1.0), count=3))
    return recompute_stats(Tree(nodes=nodes, leaves=leaves, version_id=version_id))


@pytest.fixture
def tree() -> Tree:
    paths = {
        "honesty": ("t:l1:a", "t:l2:x", "t:l3:top"),
        "truthfulness": ("t:l1:a", "t:l2:x", "t:l3:top"),
        "care": ("t:l1:b", "t:l2:x", "t:l3:top"),
        "safety": ("t:l1:c", "t:l2:y", "t:l3:top2"),
        "privacy": ("t:l1:c", "t:l2:y", "t:l3:top2"),
        "efficiency": ("t:l1:d", "t:l2:z", "t:l3:top2"),
    }
    weights = {"honesty": 10.0, "truthfulness": 2.5, "care": 4.0, "safety": 1.0, "privacy": 0.123456, "efficiency": 7.0}
    return make_tree(paths, weights)


AWKWARD = [
    'comma, separated',
    'say "hello"',
    "multi\nline\r\nvalue",
    "naïve café – 価値観 😀",
    "<script>alert('x')</script>",
    "  leading and trailing  ",
    "'quoted'",
    "semi;colon\ttab",
]


@pytest.fixture
def awkward_tree() -> Tree:
    paths = {v: ("a:l1:one" if i % 2 else "a:l1:two", "a:l2:top") for i, v in enumerate(AWKWARD)}
    names = {"a:l1:one": 'Name, with "quotes"', "a:l1:two": "<b>bold</b>\nnext line", "a:l2:top": "Ünïcode ✓"}
    descriptions = {"a:l1:one": "desc,\r\nwith CRLF", "a:l1:two": "", "a:l2:top": '"fully quoted"'}
    return make_tree(paths, {v: float(i + 1) for i, v in enumerate(AWKWARD)}, names=names, descriptions=descriptions)


def write_csv(tmp_path: Path, rows: list[list[object]], header: str = HEADER, name: str = "tree.csv") -> Path:
    p = tmp_path / name
    buf = io.StringIO(newline="")
    buf.write(header + "\r\n")
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    p.write_text(buf.getvalue(), encoding="utf-8", newline="")
    return p


def leaf_pcts(tree: Tree) -> dict[str, float]:
    total = sum(lf.weight for lf in tree.leaves)
    return {lf.text: 100 * lf.weight / total for lf in tree.leaves}


def assert_same_structure(a: Tree, b: Tree) -> None:
    """Same nodes (all fields but weight, pct to 3 decimals) and same leaves (pct to 3 decimals)."""
    assert a.nodes.keys() == b.nodes.keys()
    for uid, n in a.nodes.items():
        m = b.nodes[uid]
        assert (n.level, n.name, n.description, n.parent_uid, n.member_count) == (
            m.level, m.name, m.description, m.parent_uid, m.member_count)
        assert m.pct_total_occurrences == pytest.approx(round(n.pct_total_occurrences, 3), abs=1e-12)
    assert {lf.text: lf.parent_uid for lf in a.leaves} == {lf.text: lf.parent_uid for lf in b.leaves}
    pa_, pb = leaf_pcts(a), {lf.text: lf.weight for lf in b.leaves}
    for text, pct in pa_.items():
        assert pb[text] == pytest.approx(round(pct, 3), abs=1e-12)


# ---------------------------------------------------------------------------------------------------------------
# values-tree-csv
# ---------------------------------------------------------------------------------------------------------------


def test_formats_registry():
    assert EXPORT_FORMATS == tuple(FORMATS)
    assert {"values-tree-csv", "json", "parquet"} <= set(EXPORT_FORMATS)


def test_csv_round_trip(tree, tmp_path):
    out = tmp_path / "tree.csv"
    res = export_tree(tree, "values-tree-csv", out)
    assert res.path == str(out) and res.rows == len(tree.leaves) + len(tree.nodes)
    assert res.checksum == content_checksum(tree) and res.version_id == 7
    assert (res.n_nodes, res.n_values) == (len(tree.nodes), len(tree.leaves))
    loaded = load_values_tree_csv(out)
    assert_same_structure(tree, loaded)
    assert loaded.depth == 3


def test_csv_layout(tree, tmp_path):
    out = tmp_path / "tree.csv"
    export_tree(tree, "values-tree-csv", out)
    raw = out.read_bytes()
    assert raw.startswith((HEADER + "\r\n").encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
    assert tuple(rows[0]) == VALUES_TREE_COLUMNS
    body = rows[1:]
    levels = [int(r[3]) for r in body]
    assert levels == sorted(levels)  # values first, then level 1, 2, 3
    values = [r for r in body if r[3] == "0"]
    assert [(r[4], r[0]) for r in values] == sorted((r[4], r[0]) for r in values)
    for r in values:
        assert r[0] == r[2] and r[1] == ""
    tops = [r for r in body if r[3] == "3"]
    assert all(r[4] == "" for r in tops)
    # 3 decimals, shortest form; level-0 pcts sum to ~100
    pcts = {r[0]: r[5] for r in body}
    assert pcts["privacy"] == repr(round(100 * 0.123456 / 24.623456, 3))
    assert all(len(p.split(".")[1]) <= 3 for p in pcts.values())
    assert sum(float(r[5]) for r in values) == pytest.approx(100, abs=0.01)
    assert sum(float(r[5]) for r in tops) == pytest.approx(100, abs=0.01)


def test_csv_is_deterministic_regardless_of_input_order(tree, tmp_path):
    shuffled = Tree(nodes=dict(reversed(list(tree.nodes.items()))), leaves=list(reversed(tree.leaves)),
                    version_id=tree.version_id)
    export_tree(tree, "values-tree-csv", tmp_path / "a.csv")
    export_tree(shuffled, "values-tree-csv", tmp_path / "b.csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert content_checksum(tree) == content_checksum(shuffled)


def test_awkward_strings_round_trip_csv(awkward_tree, tmp_path):
    out = tmp_path / "awkward.csv"
    export_tree(awkward_tree, "values-tree-csv", out)
    loaded = load_values_tree_csv(out)
    assert_same_structure(awkward_tree, loaded)
    assert sorted(lf.text for lf in loaded.leaves) == sorted(AWKWARD)


def test_awkward_strings_round_trip_json_and_parquet(awkward_tree, tmp_path):
    export_tree(awkward_tree, "json", tmp_path / "t.json")
    doc = json.loads((tmp_path / "t.json").read_text(encoding="utf-8"))
    texts = [v["value"] for root in doc["roots"] for c in root["children"] for v in c["values"]]
    assert sorted(texts) == sorted(AWKWARD)
    assert doc["roots"][0]["name"] == "Ünïcode ✓"
    export_tree(awkward_tree, "parquet", tmp_path / "t.parquet")
    table = pq.read_table(tmp_path / "t.parquet")
    assert sorted(table.column("value").to_pylist()) == sorted(AWKWARD)
    assert set(table.column("l1_name").to_pylist()) == {'Name, with "quotes"', "<b>bold</b>\nnext line"}


def test_stdout_text_formats(tree, capsys):
    res = export_tree(tree, "values-tree-csv", "-")
    assert res.path is None
    out = capsys.readouterr().out
    assert out.startswith(HEADER)
    export_tree(tree, "json", None)
    doc = json.loads(capsys.readouterr().out)
    assert doc["checksum"] == content_checksum(tree)


def test_parquet_to_stdout_is_usage_error(tree):
    with pytest.raises(UsageError, match="binary"):
        export_tree(tree, "parquet", "-")


def test_unknown_format_lists_formats(tree, tmp_path):
    with pytest.raises(UsageError) as exc:
        export_tree(tree, "no-such-format", tmp_path / "x")
    for f in EXPORT_FORMATS:
        assert f in str(exc.value)


def test_failed_export_leaves_no_file(tree, tmp_path, monkeypatch):
    out = tmp_path / "tree.json"

    def half_then_boom(tree, fh, ctx):
        fh.write(b'{"half": ')
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(FORMATS, "json", ExportFormat("json", half_then_boom, False, ".json", "broken"))
    with pytest.raises(RuntimeError):
        export_tree(tree, "json", out)
    assert list(tmp_path.iterdir()) == []
    # an existing file is left untouched too
    out.write_text("old")
    with pytest.raises(RuntimeError):
        export_tree(tree, "json", out)
    assert out.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["tree.json"]


def test_missing_directory_is_usage_error(tree, tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        export_tree(tree, "json", tmp_path / "nope" / "t.json")


# ---------------------------------------------------------------------------------------------------------------
# JSON and Parquet
# ---------------------------------------------------------------------------------------------------------------


def test_json_structure(tree, tmp_path):
    manifest = {"zeta": 1, "alpha": {"b": 2, "a": 1}, "method": "hkmeans"}
    out = tmp_path / "t.json"
    export_tree(tree, "json", out, manifest=manifest)
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert list(doc) == ["version", "checksum", "manifest", "levels", "roots"]
    assert doc["version"] == 7 and doc["levels"] == 3
    assert doc["checksum"] == content_checksum(tree)
    assert doc["manifest"] == manifest and list(doc["manifest"]) == ["alpha", "method", "zeta"]
    assert [r["id"] for r in doc["roots"]] == ["t:l3:top", "t:l3:top2"]
    top = doc["roots"][0]
    assert list(top) == ["id", "name", "description", "level", "member_count", "weight",
                         "pct_total_occurrences", "children"]
    assert top["level"] == 3 and top["member_count"] == 3 and top["weight"] == pytest.approx(16.5)
    l2 = top["children"][0]
    assert l2["id"] == "t:l2:x" and [c["id"] for c in l2["children"]] == ["t:l1:a", "t:l1:b"]
    l1 = l2["children"][0]
    assert "children" not in l1
    assert l1["values"] == [
        {"value": "honesty", "weight": 10.0, "pct_total_occurrences": pytest.approx(100 * 10 / 24.623456)},
        {"value": "truthfulness", "weight": 2.5, "pct_total_occurrences": pytest.approx(100 * 2.5 / 24.623456)},
    ]
    # deterministic bytes
    out2 = tmp_path / "t2.json"
    export_tree(tree, "json", out2, manifest=dict(reversed(list(manifest.items()))))
    assert out.read_bytes() == out2.read_bytes()


def test_parquet_columns_and_metadata(tree, tmp_path):
    out = tmp_path / "t.parquet"
    res = export_tree(tree, "parquet", out, manifest={"seed": 1})
    assert res.rows == 6
    table = pq.read_table(out)
    assert table.column_names == ["value", "weight", "pct_total_occurrences",
                                  "l1_id", "l1_name", "l2_id", "l2_name", "l3_id", "l3_name"]
    rows = table.to_pylist()
    assert [r["value"] for r in rows] == sorted(lf.text for lf in tree.leaves)
    care = next(r for r in rows if r["value"] == "care")
    assert (care["l1_id"], care["l1_name"], care["l2_id"], care["l3_id"], care["l3_name"]) == (
        "t:l1:b", "name of t:l1:b", "t:l2:x", "t:l3:top", "name of t:l3:top")
    assert care["weight"] == 4.0 and care["pct_total_occurrences"] == pytest.approx(100 * 4 / 24.623456)
    meta = json.loads(table.schema.metadata[PARQUET_METADATA_KEY])
    assert meta["version"] == 7 and meta["checksum"] == content_checksum(tree)
    assert meta["levels"] == 3 and meta["manifest"] == {"seed": 1}
    assert read_parquet_metadata(out) == meta


def test_parquet_two_levels(tmp_path):
    t = make_tree({"a": ("x:l1:1", "x:l2:1"), "b": ("x:l1:2", "x:l2:1")})
    export_tree(t, "parquet", tmp_path / "t.parquet")
    assert pq.read_table(tmp_path / "t.parquet").column_names == [
        "value", "weight", "pct_total_occurrences", "l1_id", "l1_name", "l2_id", "l2_name"]


# ---------------------------------------------------------------------------------------------------------------
# Checksum
# ---------------------------------------------------------------------------------------------------------------


def test_checksum_tracks_content(tree):
    base = content_checksum(tree)
    assert len(base) == 64 and base == content_checksum(recompute_stats(tree))
    renamed = recompute_stats(tree)
    renamed.nodes["t:l1:a"].name = "Other name"
    assert content_checksum(renamed) != base
    moved = recompute_stats(tree)
    moved.leaves[0].parent_uid = "t:l1:b"
    assert content_checksum(moved) != base
    reweighted = recompute_stats(tree)
    reweighted.leaves[0].weight += 1
    assert content_checksum(reweighted) != base
    other_version = recompute_stats(tree)
    other_version.version_id = 99
    assert content_checksum(other_version) == base  # content only


# ---------------------------------------------------------------------------------------------------------------
# Loader errors
# ---------------------------------------------------------------------------------------------------------------

GOOD_ROWS = [
    ["v1", "", "v1", 0, "c:l1:a", 60.0],
    ["v2", "", "v2", 0, "c:l1:b", 40.0],
    ["c:l1:a", "first", "A", 1, "c:l2:t", 60.0],
    ["c:l1:b", "second", "B", 1, "c:l2:t", 40.0],
    ["c:l2:t", "top", "T", 2, "", 100.0],
]


def test_loader_accepts_minimal_file(tmp_path):
    t = load_values_tree_csv(write_csv(tmp_path, GOOD_ROWS))
    assert t.depth == 2 and len(t.leaves) == 2 and t.version_id is None
    assert t.nodes["c:l2:t"].member_count == 2 and t.nodes["c:l2:t"].pct_total_occurrences == 100.0
    assert {lf.text: (lf.parent_uid, lf.weight) for lf in t.leaves} == {"v1": ("c:l1:a", 60.0), "v2": ("c:l1:b", 40.0)}


def test_loader_missing_column(tmp_path):
    p = write_csv(tmp_path, [r[:5] for r in GOOD_ROWS], header="cluster_id,description,name,level,parent_cluster_id")
    with pytest.raises(InputError) as exc:
        load_values_tree_csv(p)
    msg = str(exc.value)
    assert str(p) in msg and "missing column(s) pct_total_occurrences" in msg and exc.value.line == 1


def test_loader_unexpected_column(tmp_path):
    p = write_csv(tmp_path, [r + ["x"] for r in GOOD_ROWS], header=HEADER + ",extra")
    with pytest.raises(InputError, match="unexpected column"):
        load_values_tree_csv(p)


def test_loader_unknown_parent(tmp_path):
    rows = [r[:] for r in GOOD_ROWS]
    rows[3][4] = "c:l2:nope"
    with pytest.raises(InputError) as exc:
        load_values_tree_csv(write_csv(tmp_path, rows))
    assert exc.value.line == 5 and "unknown parent 'c:l2:nope'" in str(exc.value)


def test_loader_value_without_parent(tmp_path):
    rows = [r[:] for r in GOOD_ROWS]
    rows[1][4] = ""
    with pytest.raises(InputError) as exc:
        load_values_tree_csv(write_csv(tmp_path, rows))
    assert exc.value.line == 3 and "no level-1 parent" in str(exc.value)


def test_loader_value_under_level2(tmp_path):
    rows = [r[:] for r in GOOD_ROWS]
    rows[0][4] = "c:l2:t"
    with pytest.raises(InputError) as exc:
        load_values_tree_csv(write_csv(tmp_path, rows))
    assert exc.value.line == 2 and "expected level 1" in str(exc.value)


def test_loader_duplicate_id(tmp_path):
    rows = GOOD_ROWS + [["c:l1:a", "again", "A2", 1, "c:l2:t", 1.0]]
    with pytest.raises(InputError) as exc:
        load_values_tree_csv(write_csv(tmp_path, rows))
    assert exc.value.line == 7 and "duplicate cluster_id 'c:l1:a'" in str(exc.value) and "line 4" in str(exc.value)
    rows = GOOD_ROWS + [["v1", "", "v1", 0, "c:l1:b", 1.0]]
    with pytest.raises(InputError) as exc:
        load_values_tree_csv(write_csv(tmp_path, rows))
    assert exc.value.line == 7 and "duplicate cluster_id 'v1' at level 0" in str(exc.value)


def test_loader_bad_level_and_pct(tmp_path):
    rows = [r[:] for r in GOOD_ROWS]
    rows[2][3] = "one"
    with pytest.raises(InputError) as exc:
        load_values_tree_csv(write_csv(tmp_path, rows))
    assert exc.value.line == 4 and exc.value.field == "level"
    rows = [r[:] for r in GOOD_ROWS]
    rows[2][5] = "lots"
    with pytest.raises(InputError) as exc:
        load_values_tree_csv(write_csv(tmp_path, rows))
    assert exc.value.field == "pct_total_occurrences"


def test_loader_non_top_node_without_parent(tmp_path):
    rows = [r[:] for r in GOOD_ROWS]
    rows[2][4] = ""
    with pytest.raises(InputError, match="only the top level"):
        load_values_tree_csv(write_csv(tmp_path, rows))


def test_loader_line_numbers_count_multiline_fields(tmp_path):
    rows = [r[:] for r in GOOD_ROWS]
    rows[2][1] = "spans\r\nthree\r\nlines"
    rows[4][4] = "c:l3:missing"
    with pytest.raises(InputError) as exc:
        load_values_tree_csv(write_csv(tmp_path, rows))
    assert exc.value.line == 8  # header + 2 values + 3-line record + 1 -> the 5th record starts on line 8


def test_loader_missing_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        load_values_tree_csv(tmp_path / "absent.csv")


def test_loader_accepts_published_style_bytes(tmp_path):
    """CRLF, no trailing newline, quoted descriptions with commas (as in the published file)."""
    text = (HEADER + "\r\n"
            "wisdom,,wisdom,0,ai_values:l1:u1,0.037\r\n"
            'ai_values:l1:u1,"Values of wisdom, insight.",Wisdom,1,ai_values:l2:u2,0.037\r\n'
            'ai_values:l2:u2,"x, y",Knowing,2,,100.0')
    p = tmp_path / "pub.csv"
    p.write_bytes(text.encode("utf-8"))
    t = load_values_tree_csv(p)
    assert t.nodes["ai_values:l1:u1"].description == "Values of wisdom, insight."
    assert t.leaves[0].weight == 0.037


def _reference_json(tree: Tree, ctx) -> bytes:
    """What the json writer wrote before it laid out the document itself: json.dumps with indent=2."""
    from taxonomy.export.json_doc import tree_to_json_dict

    return (json.dumps(tree_to_json_dict(tree, ctx), ensure_ascii=False, indent=2, allow_nan=False) + "\n").encode()


def test_json_writer_is_json_dumps_byte_for_byte(tree, awkward_tree):
    """The json export's own layout gives the bytes of json.dumps(indent=2): awkward strings, a nested manifest
    (NaN-free), integer and float-subclass weights, an empty top-level node, a manifest and no manifest."""
    from taxonomy.export.base import ExportContext
    from taxonomy.export.json_doc import write_json

    class Weight(float):
        pass

    odd = make_tree({"a\u2028b": ("o:l1:a", "o:l2:t"), "c\x7fd": ("o:l1:b", "o:l2:t"), "e": ("o:l1:b", "o:l2:t")})
    odd.leaves[0].weight = 3  # an int, written as 3 (not 3.0)
    odd.leaves[1].weight = Weight(0.1)
    odd.nodes["o:l2:empty"] = Node("o:l2:empty", 2, "Empty", "", None)
    manifests = [{}, {"model": {"name": "m", "dims": [1, 2.5, None, True]}, "note": "é\n\"x\"", "empty": {}, "l": []}]
    for t in (tree, awkward_tree, odd):
        for manifest in manifests:
            ctx = ExportContext(version=t.version_id, checksum="c" * 64, manifest=manifest)
            buf = io.BytesIO()
            assert write_json(t, buf, ctx) == len(t.nodes) + len(t.leaves)
            assert buf.getvalue() == _reference_json(t, ctx)


def test_json_writer_refuses_nan_as_before(tree):
    from taxonomy.errors import TaxoError
    from taxonomy.export.base import ExportContext
    from taxonomy.export.json_doc import write_json

    tree.leaves[0].weight = float("nan")
    ctx = ExportContext(version=1, checksum="c" * 64, manifest={})
    with pytest.raises(ValueError) as ref:
        _reference_json(tree, ctx)
    with pytest.raises(TaxoError, match="cannot export to JSON") as ours:
        write_json(tree, io.BytesIO(), ctx)
    assert str(ours.value) == f"cannot export to JSON: {ref.value}"
