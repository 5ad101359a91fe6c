"""The `taxo` commands exactly as a user types them (in-process, and once through the installed script)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from taxonomy.api import sample_path
from taxonomy.cli import main


@pytest.fixture
def taxo(capsys):
    """taxo(*args) -> (exit code, stdout, stderr)."""

    import taxonomy.cli as cli

    cli.out.width = 400  # wide enough that table cells do not wrap

    def run(*args: str):
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_walkthrough_from_the_issue(taxo, db_url, cache_dir, tmp_path):
    db = ["--db", db_url]
    code, out, err = taxo("init", *db)
    assert code == 0 and "created" in out
    code, out, err = taxo("ingest", sample_path(), "--value-col", "value", "--weight-col", "pct_convos", *db)
    assert code == 0 and "552 distinct values" in out
    code, out, err = taxo("build", "--levels", "40,8,3", "--seed", "0", "-m", "first cut", "--cache-dir", cache_dir, *db)
    assert code == 0, err
    assert out.strip() == "1"

    code, out, _ = taxo("versions", *db)
    assert code == 0 and "first cut" in out
    code, out, _ = taxo("versions", "--json", *db)
    [v] = json.loads(out)
    assert v["id"] == 1 and v["parent_id"] is None and v["counts"] == {"0": 552, "1": 40, "2": 8, "3": 3}

    code, out, _ = taxo("show", "1", "--level", "3", "--json", *db)
    top = json.loads(out)["nodes"]
    assert code == 0 and len(top) == 3
    assert sum(n["member_count"] for n in top) == 552
    assert all(n["name"] and n["description"] for n in top)
    code, out, _ = taxo("show", "1", "--level", "3", *db)
    assert code == 0 and all(n["name"] in out for n in top)

    code, out, _ = taxo("show", "1", "--node", top[0]["short_id"], "--json", *db)
    detail = json.loads(out)
    assert code == 0 and detail["node"]["id"] == top[0]["id"] and detail["path"] == []
    assert len(detail["children"]) == top[0]["n_children"] >= 1
    assert detail["n_values_total"] == top[0]["member_count"]
    leaf_parent = detail["children"][0]
    code, out, _ = taxo("show", "1", "--node", leaf_parent["id"], "--limit", "0", "--json", *db)
    child = json.loads(out)
    assert [p["id"] for p in child["path"]] == [top[0]["id"]]
    weights = [v["weight"] for v in child["values"]]
    assert weights == sorted(weights, reverse=True)

    code, out, _ = taxo("similar", "Helpfulness", "--version", "1", "-k", "10", "--json", "--cache-dir", cache_dir, *db)
    sim = json.loads(out)
    assert code == 0 and len(sim["values"]) == 10 and len(sim["nodes"]) == 10
    assert sim["values"][0]["id"] == "helpfulness" and sim["values"][0]["score"] > 0.99
    scores = [h["score"] for h in sim["nodes"]]
    assert scores == sorted(scores, reverse=True)

    tree_csv = tmp_path / "tree.csv"
    code, _, err = taxo("export", "1", "--format", "values-tree-csv", "-o", tree_csv, *db)
    assert code == 0 and tree_csv.exists()
    with open(tree_csv, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["cluster_id", "description", "name", "level", "parent_cluster_id", "pct_total_occurrences"]
    assert len(rows) == 552 + 40 + 8 + 3
    code, _, _ = taxo("export", "1", "--format", "json", "-o", tmp_path / "tree.json", *db)
    nested = json.loads((tmp_path / "tree.json").read_text())
    assert code == 0 and nested["version"] == 1 and len(nested["roots"]) == 3
    code, _, _ = taxo("export", "1", "--format", "parquet", "-o", tmp_path / "tree.parquet", *db)
    table = pq.read_table(tmp_path / "tree.parquet")
    assert code == 0 and table.num_rows == 552
    assert {"value", "weight", "l1_id", "l1_name", "l2_id", "l3_name"} <= set(table.column_names)

    code, out, _ = taxo("compare", "1", "--reference", tree_csv, "--json", *db)
    cmp = json.loads(out)
    assert code == 0
    for lv in cmp["levels"]:
        assert lv["nmi"] == pytest.approx(1.0) and lv["ari"] == pytest.approx(1.0)
        assert lv["name_fidelity"] == pytest.approx(1.0)  # the same names, matched node for node
        assert lv["name_fidelity_floor"] < lv["name_fidelity"]
    code, out, _ = taxo("compare", "1", "--reference", tree_csv, *db)
    assert code == 0 and "NMI" in out and "floor" in out
    code, out, _ = taxo("compare", "1", "--reference", tree_csv, "--no-names", "--json", *db)
    assert code == 0 and all(lv["name_fidelity"] is None for lv in json.loads(out)["levels"])


def test_bad_input_exits_2_names_file_and_line_and_writes_nothing(taxo, sqlite_url, write):
    assert taxo("init", "--db", sqlite_url)[0] == 0
    bad = write("bad values.csv", "value,pct_convos\nhonesty,2\nclarity,abc\n")
    code, out, err = taxo("ingest", bad, "--weight-col", "pct_convos", "--db", sqlite_url)
    assert code == 2
    assert "bad values.csv" in err and "line 3" in err and "pct_convos" in err
    code, out, _ = taxo("ingest", bad.parent / "missing.csv", "--db", sqlite_url)
    assert code == 2
    code, out, _ = taxo("versions", "--json", "--db", sqlite_url)
    assert json.loads(out) == []


def test_unknown_column_lists_available_ones(taxo, sqlite_url, write):
    taxo("init", "--db", sqlite_url)
    path = write("v.csv", "value,pct\nhonesty,1\n")
    code, _, err = taxo("ingest", path, "--weight-col", "pct_convos", "--db", sqlite_url)
    assert code == 2 and "pct_convos" in err and "pct" in err


def test_commands_on_an_uninitialised_database_say_run_init(taxo, tmp_path):
    code, _, err = taxo("versions", "--db", f"sqlite:///{tmp_path / 'new.db'}")
    assert code == 1 and "taxo init" in err


def test_unknown_version_and_node(taxo, sqlite_url):
    taxo("init", "--db", sqlite_url)
    code, _, err = taxo("show", "7", "--db", sqlite_url)
    assert code == 2 and "version 7 does not exist" in err


def test_unknown_method_lists_the_known_ones(taxo, sqlite_url, cache_dir):
    taxo("init", "--db", sqlite_url)
    taxo("ingest", sample_path(), "--weight-col", "pct_convos", "--db", sqlite_url)
    code, _, err = taxo("build", "--levels", "10,2", "--method", "nope", "--db", sqlite_url, "--cache-dir", cache_dir)
    assert code == 2 and "nope" in err and "kmeans" in err


def test_quickstart_through_the_installed_script(tmp_path, cache_dir):
    exe = Path(sys.executable).parent / "taxo"
    env = {**os.environ, "TAXO_CACHE_DIR": str(cache_dir), "TAXO_DATABASE_URL": f"sqlite:///{tmp_path / 'q.db'}"}
    proc = subprocess.run([str(exe), "quickstart"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "Built version 1: 552 values" in proc.stdout
    proc = subprocess.run([str(exe), "versions", "--json"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0 and json.loads(proc.stdout)[0]["id"] == 1
    proc = subprocess.run([str(exe), "show", "99"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 2 and "does not exist" in proc.stderr
