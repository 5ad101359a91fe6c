"""Level-by-level comparison of two trees: NMI, ARI, purity, unweighted and weighted."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from taxonomy.compare import (
    ComparisonResult,
    ari_from_contingency,
    compare_trees,
    contingency,
    format_comparison,
    nmi_from_contingency,
    purity_from_contingency,
)
from taxonomy.domain import Leaf, Node, Tree
from taxonomy.errors import UsageError


def tree_from_labels(values: list[str], levels: list[list[str]], weights: list[float] | None = None,
                     prefix: str = "t") -> Tree:
    """``levels[k][i]`` = label of value i at level k+1; labels must nest (a level-k cluster has one parent)."""
    nodes: dict[str, Node] = {}
    depth = len(levels)
    for i in range(len(values)):
        for k in range(depth):
            uid = f"{prefix}:l{k + 1}:{levels[k][i]}"
            parent = f"{prefix}:l{k + 2}:{levels[k + 1][i]}" if k + 1 < depth else None
            existing = nodes.setdefault(uid, Node(uid=uid, level=k + 1, name=uid, description="", parent_uid=parent))
            assert existing.parent_uid == parent, "labels do not nest"
    w = weights or [1.0] * len(values)
    leaves = [Leaf(text=v, parent_uid=f"{prefix}:l1:{levels[0][i]}", weight=w[i]) for i, v in enumerate(values)]
    return Tree(nodes=nodes, leaves=leaves)


VALUES = [f"value {i}" for i in range(12)]
L1 = ["a", "a", "b", "b", "b", "c", "c", "d", "d", "e", "e", "e"]
L2 = ["X", "X", "X", "X", "X", "Y", "Y", "Y", "Y", "Z", "Z", "Z"]
L3 = ["top", "top", "top", "top", "top", "top", "top", "top", "top", "bot", "bot", "bot"]


@pytest.fixture
def ref() -> Tree:
    return tree_from_labels(VALUES, [L1, L2, L3], prefix="ref")


def test_identical_trees_score_one(ref):
    res = compare_trees(ref, ref)
    assert [lc.level for lc in res.levels] == [1, 2, 3]
    for lc in res.levels:
        for name in ("nmi", "ari", "purity", "inverse_purity", "weighted_nmi", "weighted_ari", "weighted_purity",
                     "weighted_inverse_purity"):
            assert getattr(lc, name) == pytest.approx(1.0, abs=1e-12), (lc.level, name)
    assert res.n_matched == 12 and res.n_only_ours == res.n_only_reference == 0 and res.warnings == []


def test_relabelled_tree_scores_one(ref):
    rename = lambda labels, m: [m[x] for x in labels]  # noqa: E731
    ours = tree_from_labels(
        VALUES,
        [rename(L1, dict(zip("abcde", "qrstu"))), rename(L2, {"X": "P", "Y": "Q", "Z": "R"}),
         rename(L3, {"top": "one", "bot": "two"})],
        weights=[float(i + 1) for i in range(12)],
        prefix="ours",
    )
    res = compare_trees(ours, ref)
    for lc in res.levels:
        assert (lc.nmi, lc.ari, lc.purity) == pytest.approx((1.0, 1.0, 1.0), abs=1e-12)
        assert (lc.weighted_nmi, lc.weighted_ari, lc.weighted_purity) == pytest.approx((1.0, 1.0, 1.0), abs=1e-12)


def test_known_example_against_sklearn(ref):
    o1 = ["a", "a", "a", "b", "b", "c", "c", "c", "d", "d", "e", "f"]
    o2 = ["X", "X", "X", "Y", "Y", "Y", "Y", "Y", "Y", "Y", "Z", "Z"]
    ours = tree_from_labels(VALUES, [o1, o2], prefix="ours")
    res = compare_trees(ours, ref)
    assert [lc.level for lc in res.levels] == [1, 2]  # min depth
    assert any("different depths" in w for w in res.warnings)
    for lc, mine, theirs in ((res.levels[0], o1, L1), (res.levels[1], o2, L2)):
        assert lc.nmi == pytest.approx(normalized_mutual_info_score(theirs, mine), abs=1e-12)
        assert lc.ari == pytest.approx(adjusted_rand_score(theirs, mine), abs=1e-12)
    l1 = res.levels[0]
    # our clusters a={a,a,b}->2, b={b,b}->2, c={c,c,d}->2, d={d,e}->1, e={e}->1, f={e}->1  => 9/12
    assert l1.purity == pytest.approx(9 / 12)
    # reference a={a,a}->2, b={a,b,b}->2, c={c,c}->2, d={c,d}->1, e={d,e,f}->1 => 8/12
    assert l1.inverse_purity == pytest.approx(8 / 12)
    assert (l1.n_clusters_ours, l1.n_clusters_reference) == (6, 5)
    assert 0 < l1.nmi < 1 and l1.ari < 1


def test_unit_weights_match_unweighted_and_sklearn():
    rng = np.random.default_rng(0)
    for trial in range(20):
        n = int(rng.integers(2, 300))
        a = rng.integers(0, int(rng.integers(1, 20)), n)
        b = rng.integers(0, int(rng.integers(1, 20)), n)
        ones = np.ones(n)
        table = contingency(a, b, ones)
        assert nmi_from_contingency(table) == pytest.approx(normalized_mutual_info_score(b, a), abs=1e-9)
        assert ari_from_contingency(table, contingency(a, b, ones * ones)) == pytest.approx(
            adjusted_rand_score(b, a), abs=1e-9)
        assert ari_from_contingency(table) == pytest.approx(adjusted_rand_score(b, a), abs=1e-9)


def test_unit_weights_tree_comparison(ref):
    o1 = ["a", "b", "a", "b", "c", "c", "d", "d", "e", "e", "a", "c"]
    o2 = ["X", "Y", "X", "Y", "Y", "Y", "Z", "Z", "Z", "Z", "X", "Y"]
    ours = tree_from_labels(VALUES, [o1, o2], prefix="ours")
    for lc in compare_trees(ours, ref).levels:
        assert lc.weighted_nmi == pytest.approx(lc.nmi, abs=1e-9)
        assert lc.weighted_ari == pytest.approx(lc.ari, abs=1e-9)
        assert lc.weighted_purity == pytest.approx(lc.purity, abs=1e-9)
        assert lc.weighted_inverse_purity == pytest.approx(lc.inverse_purity, abs=1e-9)


def test_integer_weights_equal_replicated_values_for_nmi_and_purity():
    """Weight k acts like k copies of the value for NMI and purity (the weighted distribution)."""
    a = np.array([0, 0, 1, 1, 2, 2, 2])
    b = np.array([0, 1, 1, 1, 0, 2, 2])
    w = np.array([3, 1, 2, 5, 1, 1, 4])
    ra, rb = np.repeat(a, w), np.repeat(b, w)
    table = contingency(a, b, w.astype(float))
    assert nmi_from_contingency(table) == pytest.approx(normalized_mutual_info_score(rb, ra), abs=1e-12)
    assert purity_from_contingency(table) == pytest.approx(
        purity_from_contingency(contingency(ra, rb)), abs=1e-12)
    ari = ari_from_contingency(table, contingency(a, b, (w * w).astype(float)))
    assert -1 <= ari <= 1


def test_weights_source(ref):
    o1 = ["a", "a", "b", "b", "b", "c", "c", "c", "d", "d", "d", "e"]
    o2 = ["X"] * 5 + ["Y"] * 6 + ["Z"]
    ours_w = [100.0] + [1.0] * 11
    ours = tree_from_labels(VALUES, [o1, o2], weights=ours_w, prefix="ours")
    by_ours = compare_trees(ours, ref)
    by_ref = compare_trees(ours, ref, weights="reference")
    assert by_ref.weights == "reference" and by_ours.weights == "ours"
    # reference weights are all 1 -> equal to unweighted
    assert by_ref.levels[0].weighted_nmi == pytest.approx(by_ref.levels[0].nmi, abs=1e-9)
    assert by_ours.levels[0].weighted_nmi != pytest.approx(by_ours.levels[0].nmi, abs=1e-6)
    with pytest.raises(UsageError):
        compare_trees(ours, ref, weights="both")  # type: ignore[arg-type]


def test_partial_overlap_and_normalised_matching(ref):
    values = [v.upper().replace(" ", "   ") for v in VALUES[:8]] + ["extra one", "extra two"]
    ours = tree_from_labels(values, [L1[:8] + ["z", "z"], L2[:8] + ["W", "W"]], prefix="ours")
    res = compare_trees(ours, ref)
    assert (res.n_matched, res.n_only_ours, res.n_only_reference) == (8, 2, 4)
    assert res.only_ours_examples == ["extra one", "extra two"]
    assert res.only_reference_examples == ["value 10", "value 11", "value 8", "value 9"]
    assert any("8 values matched" in w for w in res.warnings)
    assert res.levels[0].n_values == 8
    assert res.levels[0].nmi == pytest.approx(1.0)  # the matched part agrees exactly
    assert res.matched_weight_share_ours == pytest.approx(0.8)
    assert res.matched_weight_share_reference == pytest.approx(8 / 12)
    text = format_comparison(res)
    assert "matched 8" in text and "warning:" in text


def test_no_overlap_is_an_error(ref):
    ours = tree_from_labels(["x", "y"], [["a", "b"]], prefix="ours")
    with pytest.raises(UsageError, match="no value in common"):
        compare_trees(ours, ref)


def test_duplicates_after_normalisation_are_counted(ref):
    ours = tree_from_labels(VALUES + ["VALUE 0"], [L1 + ["a"], L2 + ["X"], L3 + ["top"]], prefix="ours")
    res = compare_trees(ours, ref)
    assert res.duplicates_ours == 1 and res.n_matched == 12


def test_single_cluster_edge_cases():
    vals = ["a", "b", "c"]
    one = tree_from_labels(vals, [["x", "x", "x"]], prefix="o")
    same = tree_from_labels(vals, [["y", "y", "y"]], prefix="r")
    split = tree_from_labels(vals, [["p", "q", "r"]], prefix="s")
    lc = compare_trees(one, same).levels[0]
    assert (lc.nmi, lc.ari, lc.weighted_nmi, lc.weighted_ari) == (1.0, 1.0, 1.0, 1.0)
    lc = compare_trees(one, split).levels[0]
    assert lc.nmi == pytest.approx(normalized_mutual_info_score(["p", "q", "r"], ["x", "x", "x"]))
    assert lc.weighted_nmi == pytest.approx(lc.nmi) and lc.weighted_ari == pytest.approx(lc.ari)
    assert lc.purity == pytest.approx(1 / 3) and lc.inverse_purity == 1.0


def test_to_dict_is_json_serialisable(ref):
    res = compare_trees(ref, ref)
    assert isinstance(res, ComparisonResult)
    d = json.loads(json.dumps(res.to_dict()))
    assert d["n_matched"] == 12 and len(d["levels"]) == 3 and d["levels"][0]["nmi"] == 1.0
    assert res.level(2).level == 2


# ------------------------------------------------------------------------------------------------ name fidelity
def _one_hot_embed(texts):
    """A toy embedding: a unit vector per distinct word bag, so equal names have cosine 1 and others 0."""
    keys = sorted({" ".join(sorted(t.lower().split())) for t in texts})
    out = np.zeros((len(texts), len(keys)))
    for i, t in enumerate(texts):
        out[i, keys.index(" ".join(sorted(t.lower().split())))] = 1.0
    return out


def test_name_fidelity_best_match_and_size_weighting(ref):
    from taxonomy.compare import heaviest_member_names

    ours = tree_from_labels(VALUES, [L1, L2, L3], weights=[float(i + 1) for i in range(12)], prefix="ours")
    # level 1: copy the reference names onto 'a' (2 values) and 'b' (3 values); the rest get other names
    for uid, node in ours.nodes.items():
        node.name = {"ours:l1:a": "ref:l1:a", "ours:l1:b": "ref:l1:b", "ours:l3:top": "ref:l3:top"}.get(uid, "other")
    res = compare_trees(ours, ref, embed=_one_hot_embed)
    lv = {lc.level: lc for lc in res.levels}
    assert lv[1].name_fidelity == pytest.approx(5 / 12)  # a (2) + b (3) of 12 values named right
    assert lv[2].name_fidelity == pytest.approx(0.0)
    assert lv[3].name_fidelity == pytest.approx(9 / 12)
    # the trivial floor names each node after its heaviest value, which is no reference name here
    assert all(lc.name_fidelity_floor == pytest.approx(0.0) for lc in res.levels)
    floor = heaviest_member_names(ours)
    assert floor["ours:l1:a"] == "value 1" and floor["ours:l3:bot"] == "value 11"
    text = format_comparison(res)
    assert "names" in text and "floor" in text and "0.417" in text
    # without an embedding function the names are not scored, and the report has no such columns
    plain = compare_trees(ours, ref)
    assert all(lc.name_fidelity is None for lc in plain.levels)
    assert "floor" not in format_comparison(plain)


def test_name_fidelity_follows_the_reference_node_sharing_most_values(ref):
    # our single level-3 node holds 9 'top' and 3 'bot' values: it is matched with 'top'
    ours = tree_from_labels(VALUES, [L1, L2, ["all"] * 12], prefix="ours")
    ours.nodes["ours:l3:all"].name = "ref:l3:top"
    res = compare_trees(ours, ref, embed=_one_hot_embed)
    assert res.level(3).name_fidelity == pytest.approx(1.0)
    ours.nodes["ours:l3:all"].name = "ref:l3:bot"
    assert compare_trees(ours, ref, embed=_one_hot_embed).level(3).name_fidelity == pytest.approx(0.0)


def test_name_fidelity_with_the_real_model():
    from embeddings import Embedder

    values = ["honesty", "truthfulness", "candor", "kindness", "compassion", "empathy"]
    reference = tree_from_labels(values, [["t"] * 3 + ["k"] * 3], prefix="ref")
    reference.nodes["ref:l1:t"].name, reference.nodes["ref:l1:k"].name = "Honesty and truthfulness", "Compassion"
    ours = tree_from_labels(values, [["x"] * 3 + ["y"] * 3], prefix="ours")
    ours.nodes["ours:l1:x"].name, ours.nodes["ours:l1:y"].name = "Truthfulness and honesty", "Kindness and compassion"
    good = compare_trees(ours, reference, embed=Embedder().embed).level(1).name_fidelity
    ours.nodes["ours:l1:x"].name, ours.nodes["ours:l1:y"].name = "Kindness and compassion", "Truthfulness and honesty"
    swapped = compare_trees(ours, reference, embed=Embedder().embed).level(1).name_fidelity
    assert 0.8 < good <= 1.0 and swapped < good - 0.3, (good, swapped)
