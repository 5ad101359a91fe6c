"""`taxo analyze`: every analysis recovers what the generator planted, the figures agree with scipy/statsmodels
to 1e-9 (SQLite and PostgreSQL), the privacy threshold holds, and every bad input is one line with exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency, variation

import taxonomy.api as tx
from scripts.make_extractions import generate, store_planted_version, write_records
from taxonomy.cli import main

OPUS, SONNET = "claude-3-opus", "claude-3.5-sonnet"


@pytest.fixture(scope="module")
def synthetic():
    return generate(1200, seed=3)


@pytest.fixture
def loaded(db, synthetic, tmp_path):
    path = tmp_path / "records.csv"
    write_records(synthetic.records, path)
    tx.ingest(str(path), db=db, role_col="role", task_col="task", response_type_col="response_type",
              slice_cols=["model"], explicit_col="explicit")
    return db, store_planted_version(db, synthetic.tree), synthetic


def rows(res, name):
    t = res.tables[name]
    return pd.DataFrame(t.rows, columns=t.columns)


def frame(syn) -> pd.DataFrame:
    return syn.records.to_pandas()


def test_prevalence_recovers_slice_shares_and_matches_statsmodels(loaded):
    from statsmodels.stats.proportion import proportion_confint

    db, v, syn = loaded
    res = tx.analyze(v, "prevalence", db=db, level=0, role="ai", by="model", bootstrap=200, seed=1)
    df = rows(res, "prevalence")
    planted = syn.planted["slice_difference"]["conversations_by_slice"]
    for model in (OPUS, SONNET):
        r = df[(df["slice"] == model) & (df["name"] == "transparency")].iloc[0]
        x, n = planted[model]
        assert r["n_conversations"] == x and r["slice_conversations"] == n
        assert r["share_of_conversations"] == pytest.approx(x / n, abs=1e-12)
        lo, hi = proportion_confint(x, n, alpha=0.05, method="wilson")
        assert r["wilson_low"] == pytest.approx(lo, abs=1e-9) and r["wilson_high"] == pytest.approx(hi, abs=1e-9)
        assert r["conv_ci_low"] <= x / n <= r["conv_ci_high"]
    # shares of occurrences agree with a direct count from the generated records
    rec = frame(syn)
    ai = rec[(rec.role == "ai") & (rec.model == OPUS)]
    r = df[(df["slice"] == OPUS) & (df["name"] == "healthy boundaries")].iloc[0]
    assert r["share_of_occurrences"] == pytest.approx((ai.value == "healthy boundaries").sum() / len(ai), abs=1e-12)
    # privacy: the rare value is not reported, and suppressed cells are counted
    assert "numismatic authenticity" not in set(df["name"])
    assert res.tables["prevalence"].n_suppressed > 0 and res.min_conversations == 10
    # same seed, same intervals
    again = tx.analyze(v, "prevalence", db=db, level=0, role="ai", by="model", bootstrap=200, seed=1)
    assert again.tables["prevalence"].rows == res.tables["prevalence"].rows


def test_context_recovers_over_represented_value_and_matches_scipy(loaded):
    db, v, syn = loaded
    res = tx.analyze(v, "context", db=db, level=0, by="task", top=5)
    tops = rows(res, "over_represented")
    ra = tops[tops["task"] == "relationship advice"].iloc[0]
    x, n = syn.planted["over_represented"]["conversations_by_task"]["relationship advice"]
    assert ra["name"] == "healthy boundaries" and ra["n_conversations"] == x
    assert ra["share_of_column_conversations"] == pytest.approx(x / n, abs=1e-12)
    stands = rows(res, "stands_out")
    assert stands.iloc[0]["name"] == "healthy boundaries" and stands.iloc[0]["task"] == "relationship advice"
    # the full table from the generated records, compared with scipy
    rec = frame(syn)
    obs = rec.groupby(["value", "task"]).conversation_id.nunique().unstack(fill_value=0)
    stat, p, dof, expected = chi2_contingency(obs.to_numpy(), correction=False)
    assert res.summary["chi2"] == pytest.approx(stat, rel=1e-9, abs=1e-9)
    assert res.summary["dof"] == dof and res.summary["p_value"] == pytest.approx(p, rel=1e-9, abs=1e-300)
    exp = pd.DataFrame(expected, index=obs.index, columns=obs.columns)
    cells = rows(res, "cells")
    for _, c in cells.iterrows():
        e = exp.loc[c["name"], c["task"]]
        assert c["n_conversations"] == obs.loc[c["name"], c["task"]] >= 10
        assert c["expected"] == pytest.approx(e, rel=1e-9)
        assert c["residual"] == pytest.approx((c["n_conversations"] - e) / np.sqrt(e), rel=1e-9, abs=1e-12)
    assert (cells["n_conversations"] >= 10).all()


def test_consistency_recovers_planted_cv(loaded):
    db, v, syn = loaded
    res = tx.analyze(v, "consistency", db=db, level=0, by="task", top=3)
    by_task = syn.planted["over_represented"]["conversations_by_task"]
    freq = np.array([x / n for x, n in by_task.values()])
    most = rows(res, "most_context_bound")
    assert most.iloc[0]["name"] == "healthy boundaries"
    assert most.iloc[0]["cv"] == pytest.approx(variation(freq), rel=1e-9)
    assert most.iloc[0]["top_task"] == "relationship advice"


def test_responses_recovers_distribution_value_and_explicitness(loaded):
    from statsmodels.stats.proportion import proportion_confint

    db, v, syn = loaded
    res = tx.analyze(v, "responses", db=db, level=0)
    dist = rows(res, "distribution").set_index("response_type")
    n = syn.planted["n_conversations"]
    for name, count in syn.planted["response_type_conversations"].items():
        if count >= 10:
            assert dist.loc[name, "n_conversations"] == count
            assert dist.loc[name, "share_of_conversations"] == pytest.approx(count / n, abs=1e-12)
    tops = rows(res, "over_represented")
    sr = tops[tops["response_type"] == "strong resistance"].iloc[0]
    assert sr["name"] == "harm prevention"
    ex = rows(res, "explicit").set_index("response_type")
    for name, (yes, total) in syn.planted["explicit_ai_records"].items():
        assert ex.loc[name, "n_explicit"] == yes and ex.loc[name, "n_records"] == total
        lo, hi = proportion_confint(yes, total, method="wilson")
        assert ex.loc[name, "wilson_low"] == pytest.approx(lo, abs=1e-9)
        assert ex.loc[name, "wilson_high"] == pytest.approx(hi, abs=1e-9)



def test_terminal_tables_titled_with_wilson_intervals_show_them(loaded, capsys, monkeypatch):
    from taxonomy import cli

    monkeypatch.setattr(cli.out, "width", 250)  # the console every command prints on: whole column names
    db, v, _ = loaded
    res = tx.analyze(v, "responses", db=db, level=0)
    assert {"chi2", "dof", "p_value"} <= set(res.summary)  # the same keys as context's test
    assert main(["analyze", str(v), "responses", "--level", "0", "--db", db]) == 0
    out = capsys.readouterr().out
    assert out.count("wilson_low") == 2 and out.count("wilson_high") == 2  # distribution and explicit tables
    # with bootstrap intervals in the table, the terminal shows those; without, the Wilson bounds
    assert main(["analyze", str(v), "prevalence", "--bootstrap", "20", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "conv_ci_low" in out and "wilson_low" not in out
    assert main(["analyze", str(v), "prevalence", "--bootstrap", "0", "--db", db]) == 0
    assert "wilson_low" in capsys.readouterr().out

def test_pairs_recovers_mirroring_rate_and_conditional(loaded):
    db, v, syn = loaded
    res = tx.analyze(v, "pairs", db=db, level=0)
    m = syn.planted["mirroring"]
    assert res.summary["mirrored"] == m["n_mirrored"]
    assert res.summary["mirroring_rate"] == pytest.approx(m["n_mirrored"] / m["n_human_values"], abs=1e-12)
    pair = syn.planted["pair"]
    cond = rows(res, "conditional")
    top = cond[cond["human"] == pair["human"]].iloc[0]
    assert top["ai"] == pair["ai"] and top["human_conversations"] == pair["n_human"]
    assert top["p_ai_given_human"] == pytest.approx(pair["n_pair"] / pair["n_human"], abs=1e-12)
    top_pairs = rows(res, "top_pairs")
    assert ((top_pairs["human"] == pair["human"]) & (top_pairs["ai"] == pair["ai"])).any()
    per = rows(res, "mirroring_by_response_type")
    assert per["mirrored"].sum() <= m["n_mirrored"] and (per["mirrored"] >= 10).all()


def test_compare_recovers_slice_difference_and_matches_statsmodels(loaded):
    from statsmodels.stats.multitest import multipletests
    from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

    db, v, syn = loaded
    res = tx.analyze(v, "compare", db=db, level=1, by="model", a=OPUS, b=SONNET)
    df = rows(res, "differences")
    first = df.iloc[0]
    assert first["name"] == "Transparency" and first["significant"]
    (xa, na), (xb, nb) = syn.planted["slice_difference"]["conversations_by_slice"].values()
    assert first["difference"] == pytest.approx(xa / na - xb / nb, abs=1e-12)
    lo, hi = confint_proportions_2indep(xa, na, xb, nb, method="wald", compare="diff")
    assert first["ci_low"] == pytest.approx(lo, abs=1e-9) and first["ci_high"] == pytest.approx(hi, abs=1e-9)
    for _, r in df.iterrows():
        z, p = proportions_ztest([r["n_a"], r["n_b"]], [na, nb])
        assert r["z"] == pytest.approx(z, rel=1e-9, abs=1e-12) and r["p_value"] == pytest.approx(p, rel=1e-9)
    # the correction is over every unit tested: recompute it from all p-values
    full = tx.analyze(v, "compare", db=db, level=1, by="model", a=OPUS, b=SONNET, min_conversations=1)
    fd = rows(full, "differences")
    for method in ("fdr_bh", "holm", "bonferroni"):
        res_m = tx.analyze(v, "compare", db=db, level=1, by="model", a=OPUS, b=SONNET, min_conversations=1,
                           correction=method)
        d = rows(res_m, "differences")
        assert np.allclose(d["p_adjusted"], multipletests(d["p_value"], method=method)[1], rtol=1e-9, atol=1e-12)
    assert len(fd) == full.summary["n_tested"]


def test_level_nodes_count_distinct_conversations(loaded):
    """A level-3 node's conversations are distinct conversations, not the sum over its values."""
    db, v, syn = loaded
    res = tx.analyze(v, "prevalence", db=db, level=3, bootstrap=0)
    df = rows(res, "prevalence")
    rec = frame(syn)
    tree = syn.tree
    top_of = {}
    for k3, (_, l2s) in tree["level3"].items():
        for k2 in l2s:
            for k1 in tree["level2"][k2][1]:
                for val in tree["level1"][k1][1]:
                    top_of[val] = tree["level3"][k3][0]
    rec["top"] = rec.value.map(top_of)
    want = rec.groupby("top").conversation_id.nunique()
    got = df.set_index("name")["n_conversations"]
    assert got.to_dict() == {k: int(x) for k, x in want.items() if x >= 10}
    assert df["share_of_occurrences"].sum() == pytest.approx(1.0)


def test_outputs_record_threshold_csv_and_plots(loaded, tmp_path, capsys):
    db, v, _ = loaded
    out = tmp_path / "out"
    rc = main(["analyze", str(v), "compare", "--by", "model", "--a", OPUS, "--b", SONNET, "--level", "1",
               "--db", db, "--csv", str(out), "--plot", str(out), "--min-conversations", "20", "--json"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["min_conversations"] == 20 and "differences" in doc["suppressed"]
    csv = pd.read_csv(out / "compare_differences.csv")
    assert (csv["min_conversations"] == 20).all() and ((csv["n_a"] == 0) | (csv["n_a"] >= 20)).all()
    meta = json.loads((out / "compare_meta.json").read_text())
    assert meta["min_conversations"] == 20
    for ext in ("png", "svg"):
        assert (out / f"compare_slope.{ext}").stat().st_size > 1000
    for analysis, extra in (("prevalence", ["--bootstrap", "50"]), ("context", ["--by", "task"]),
                            ("consistency", ["--by", "task"]), ("responses", []), ("pairs", [])):
        rc = main(["analyze", str(v), analysis, "--level", "1", "--db", db, "--plot", str(out), "--quiet", *extra])
        assert rc == 0, analysis
    assert len(list(out.glob("*.png"))) >= 6


@pytest.mark.parametrize("args, message", [
    (["prevalence", "--by", "model", "--level", "7"], "--level 7: version 1 has levels 0 (values) to 3"),
    (["prevalence", "--by", "colour"], "no records were ingested with a 'colour' column"),
    (["compare", "--by", "model", "--a", "gpt-2", "--b", SONNET], "--a 'gpt-2': no records have model = 'gpt-2'"),
    (["pairs", "--min-conversations", "0"], "--min-conversations must be at least 1"),
    (["context", "--by", "task", "--level", "0", "--role", "human"], "empty row"),
    (["prevalence", "--role", "robot"], "--role 'robot'"),
    (["compare", "--by", "model", "--a", OPUS, "--b", OPUS], "the same model"),
])
def test_bad_input_is_one_line_exit_2(loaded, capsys, args, message):
    db, v, _ = loaded
    assert v == 1
    rc = main(["analyze", str(v), *args, "--db", db])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and message in " ".join(err.split()) and "Traceback" not in err
    assert err.startswith("Error:") and len(err.splitlines()) <= 2  # rich may wrap one long line


def test_bad_input_without_records_or_ingested_column(db, tmp_path, capsys, sample_csv):
    from tests.curation_fixtures import make_version

    v = make_version(db, tmp_path)
    assert main(["analyze", str(v), "prevalence", "--db", db]) == 2
    assert "has no extraction records" in capsys.readouterr().err
    assert main(["analyze", "99", "prevalence", "--db", db]) == 2


def test_responses_without_column_names_the_option(db, tmp_path, capsys):
    syn = generate(300, seed=1)
    path = tmp_path / "r.csv"
    write_records(syn.records.drop_columns(["response_type"]), path)
    tx.ingest(str(path), db=db, role_col="role", task_col="task")
    v = store_planted_version(db, syn.tree)
    assert main(["analyze", str(v), "responses", "--db", db]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "'response_type' column" in err and "--response-type-col" in err


def test_export_min_conversations_aggregates_into_other_rows(loaded, tmp_path, capsys):
    db, v, syn = loaded
    k = 25
    path = tmp_path / "tree.csv"
    assert main(["export", str(v), "--min-conversations", str(k), "-o", str(path), "--db", db]) == 0
    df = pd.read_csv(path, keep_default_na=False)
    values = df[df["level"] == 0]
    rec = frame(syn)
    conv = rec.groupby("value").conversation_id.nunique()
    real = values[~values["cluster_id"].str.startswith("other (")]
    assert (conv.reindex(real["cluster_id"]).to_numpy() >= k).all()
    assert "numismatic authenticity" not in set(values["cluster_id"])
    below = conv[conv < k]
    l1_of = {val: key for key, (_, vals) in syn.tree["level1"].items() for val in vals}
    others = values[values["cluster_id"].str.startswith("other (")]
    assert len(others) == len({l1_of[x] for x in below.index})  # one "other" row per level-1 node that needs one
    assert sum(int(t.split("(")[1].split()[0]) for t in others["cluster_id"]) == len(below)
    assert values["pct_total_occurrences"].sum() == pytest.approx(100, abs=0.01 * len(values))
    assert f"under {k} conversations" in others.iloc[0]["cluster_id"]
    # JSON records the threshold in the manifest; shares at level 0 sum to exactly 100 before rounding
    out = tmp_path / "tree.json"
    assert main(["export", str(v), "--min-conversations", str(k), "-f", "json", "-o", str(out), "--db", db]) == 0
    doc = json.loads(out.read_text())
    assert doc["manifest"]["privacy"]["min_conversations"] == k
    assert doc["manifest"]["privacy"]["suppressed_values"] == len(below)
    leaves = [x for r in doc["roots"] for c in r["children"] for g in c["children"] for x in g["values"]]
    assert sum(x["pct_total_occurrences"] for x in leaves) == pytest.approx(100, abs=1e-9)
    capsys.readouterr()
    assert main(["export", str(v), "--min-conversations", "0", "--db", db]) == 2
    assert "at least 1" in capsys.readouterr().err


def test_export_min_conversations_needs_records(db, tmp_path, capsys):
    from tests.curation_fixtures import make_version

    v = make_version(db, tmp_path)
    assert main(["export", str(v), "--min-conversations", "5", "-o", str(tmp_path / "t.csv"), "--db", db]) == 2
    assert "has no extraction records" in capsys.readouterr().err
    assert not (tmp_path / "t.csv").exists()


def test_usage_errors_exit_2_without_traceback(capsys):
    assert main(["analyze", "1", "compare", "--by", "model", "--a", OPUS]) == 2
    assert main(["analyze", "one", "prevalence"]) == 2
    err = capsys.readouterr().err
    assert "Missing option '--b'" in err and "Traceback" not in err


def test_ingest_slice_and_explicit_columns(db, tmp_path, capsys):
    from sqlalchemy import select

    from taxonomy.db.engine import session_scope
    from taxonomy.db.models import Batch, ExtractionRecord

    p = tmp_path / "r.jsonl"
    p.write_text('{"conversation_id": "c1", "value": "Honesty", "model": "m1", "lang": "en", "explicit": true}\n'
                 '{"conversation_id": "c2", "value": "care", "model": "m2", "explicit": "implicit"}\n'
                 '{"conversation_id": "c3", "value": "care", "model": null, "lang": "fr", "explicit": null}\n')
    res = tx.ingest(str(p), db=db, slice_cols=["model", "lang"], explicit_col="explicit")
    assert res.columns["slice_cols"] == ["model", "lang"] and res.columns["explicit_col"] == "explicit"
    with session_scope(db) as s:
        got = s.execute(select(ExtractionRecord.conversation_id, ExtractionRecord.slices, ExtractionRecord.explicit)
                        .order_by(ExtractionRecord.conversation_id)).all()
        assert [tuple(r) for r in got] == [("c1", {"model": "m1", "lang": "en"}, True),
                                           ("c2", {"model": "m2", "lang": None}, False),
                                           ("c3", {"model": None, "lang": "fr"}, None)]
        assert s.scalar(select(Batch.options))["slice_cols"] == ["model", "lang"]
    bad = tmp_path / "bad.csv"
    bad.write_text("conversation_id,value,explicit\nc1,honesty,perhaps\n")
    assert main(["ingest", str(bad), "--explicit-col", "explicit", "--db", db]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "line 2, field 'explicit'" in err and "'perhaps'" in err
    assert main(["ingest", str(bad), "--slice-col", "model", "--db", db]) == 2
    assert "unknown column 'model'" in " ".join(capsys.readouterr().err.split())
    assert main(["ingest", str(bad), "--slice-col", "task", "--db", db]) == 2
    assert "built-in record column" in " ".join(capsys.readouterr().err.split())
    agg = tmp_path / "agg.csv"
    agg.write_text("value,weight\nhonesty,1\n")
    assert main(["ingest", str(agg), "--slice-col", "model", "--db", db]) == 2
    assert "only apply to record input" in " ".join(capsys.readouterr().err.split())
