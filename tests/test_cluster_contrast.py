"""The contrastive level-1 refinement (``taxonomy.cluster.contrast``) on a toy embedder: residuals, moves, exact
counts, determinism, errors, and the hook in the default method."""

from __future__ import annotations

import numpy as np
import pytest

from taxonomy.cluster.contrast import Contrast, shared_groups, words
from taxonomy.cluster.umap_kmeans import UMAPKMeans
from taxonomy.errors import UsageError

DIM = 48


class ToyEmbedder:
    """Each word a unit vector; words of one topic share a direction. A phrase is the normalised sum of its word
    vectors, with the "modifier" words weighing ``heavy`` (so phrases sharing one sit close, as with real models)."""

    def __init__(self, topics: dict[str, list[str]], modifiers: list[str], heavy: float = 2.0, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.vec: dict[str, np.ndarray] = {}
        for words_ in topics.values():
            centre = rng.normal(size=DIM)
            centre /= np.linalg.norm(centre)
            for word in words_:
                v = centre + 0.3 * rng.normal(size=DIM) / np.sqrt(DIM)
                self.vec[word] = v / np.linalg.norm(v)
        for word in modifiers:
            v = rng.normal(size=DIM)
            self.vec[word] = heavy * v / np.linalg.norm(v)
        self.calls: list[list[str]] = []

    def __call__(self, texts):
        self.calls.append(list(texts))
        out = np.stack([sum(self.vec[t.lower()] for t in words(text)) for text in texts])
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


TOPICS = {"colour": ["red", "crimson", "scarlet", "ruby"], "sea": ["blue", "ocean", "navy", "azure"],
          "mind": ["thought", "idea", "notion", "reason"]}


def test_words_and_shared_groups():
    assert words("Self-care, and well_being 2") == ["Self", "care", "and", "well", "being", "2"]
    texts = ["Deep red", "deep blue", "deep", "red", "deep-sea diving", "calm", "calm sea", "calm seas"]
    labels = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    # node 0: "deep" shared by four, the lone "deep" has nothing left; node 1: "calm" by three, two residuals
    assert shared_groups(texts, labels) == {0: ("deep", {0: "red", 1: "blue", 4: "sea diving"})}
    assert shared_groups(texts, labels, min_group=2) == {
        0: ("deep", {0: "red", 1: "blue", 4: "sea diving"}), 1: ("calm", {6: "sea", 7: "seas"})}
    assert shared_groups(texts, labels, min_word=5) == {}  # "deep" and "calm" are too short to count
    assert shared_groups(texts, np.arange(8)) == {}  # never across nodes


def scene():
    emb = ToyEmbedder(TOPICS, ["deep"])
    texts = [*TOPICS["colour"], *TOPICS["sea"], *TOPICS["mind"],
             "deep red", "deep crimson", "deep scarlet", "deep blue", "deep ocean", "deep navy"]
    X = emb(texts)
    labels = np.array([0] * 4 + [1] * 4 + [2] * 4 + [3] * 6)
    return emb, texts, X, labels


def test_splits_a_node_grouped_by_a_shared_word_and_merges_back_to_k():
    emb, texts, X, labels = scene()
    c = Contrast(texts, emb, share=0.25)
    out = c.refine(X, labels, 4, np.ones(len(X)), seed=0)
    got = dict(zip(texts, out.tolist(), strict=True))
    assert sorted(set(out.tolist())) == [0, 1, 2, 3] and c.split_ == 1
    assert got["deep red"] == got["deep crimson"] == got["deep scarlet"]
    assert got["deep blue"] == got["deep ocean"] == got["deep navy"] != got["deep red"]
    # the colour part went to the colours (the cheapest merge that is not the two parts again)
    assert got["deep red"] == got["red"] and got["deep blue"] != got["blue"]
    assert len({got[t] for t in TOPICS["mind"]}) == 1
    assert emb.calls[-1] == sorted(["red", "crimson", "scarlet", "blue", "ocean", "navy"])  # residuals, once


def test_share_zero_and_no_shared_words_change_nothing():
    emb, texts, X, labels = scene()
    n_calls = len(emb.calls)
    assert np.array_equal(Contrast(texts, emb, share=0).refine(X, labels, 4, np.ones(len(X)), 0), labels)
    # no node holds three members sharing a word
    apart = np.array([0] * 4 + [1] * 4 + [2] * 4 + [0, 1, 2, 3, 0, 3])
    c = Contrast(texts, emb, share=0.25)
    assert np.array_equal(c.refine(X, apart, 4, np.ones(len(X)), 0), apart) and c.split_ == 0
    assert len(emb.calls) == n_calls  # nothing to embed


def test_deterministic_for_a_seed_with_weights():
    emb, texts, X, labels = scene()
    w = np.linspace(0.5, 2.0, len(X))
    a = Contrast(texts, emb, share=0.25).refine(X, labels, 4, w, seed=3)
    b = Contrast(texts, emb, share=0.25).refine(X, labels, 4, w, seed=3)
    assert np.array_equal(a, b)


def test_bad_parameters_are_usage_errors():
    emb, texts, X, labels = scene()
    for kw in ({"share": -0.1}, {"share": float("nan")}, {"share": 2}, {"max_parts": 1}, {"min_group": 1},
               {"min_word": 0}, {"min_word": True}):
        with pytest.raises(UsageError):
            Contrast(texts, emb, **kw)
    with pytest.raises(UsageError, match="texts for"):
        Contrast(texts[:-1], emb).refine(X, labels, 4, np.ones(len(X)), 0)


def test_many_splits_and_merges_keep_k_and_parts_apart():
    topics = {f"t{j}": [f"w{j}x{i}" for i in range(6)] for j in range(10)}
    mods = [f"mod{j}" for j in range(5)]
    emb = ToyEmbedder(topics, mods, seed=1)
    texts = [w for ws in topics.values() for w in ws] + [f"{m} {ws[0]}" for m in mods for ws in topics.values()]
    X = emb(texts)
    labels = np.array([j for j in range(10) for _ in range(6)] + [10 + j for j in range(5) for _ in range(10)])
    outs = []
    for _ in range(2):
        c = Contrast(texts, emb, share=1.0, max_parts=3)
        outs.append(c.refine(X, labels, 15, np.ones(len(X)), seed=0))
    assert np.array_equal(outs[0], outs[1]) and sorted(set(outs[0].tolist())) == list(range(15))
    assert c.split_ == 5  # every modifier node, each into 2 parts (10 residuals // 4)
    # no modifier's phrases are all in one node any more
    for m in mods:
        assert len({int(outs[0][i]) for i, t in enumerate(texts) if t.startswith(m + " ")}) > 1


def test_merge_chains_and_inherited_siblings():
    from taxonomy.cluster.contrast import _merge_to

    Z = np.array([[0.0, 0.0], [1.0, 0.0], [1.05, 0.0], [50.0, 0.0]])
    one = np.ones(4)
    # 1 and 2 first, then the merged node into 0 (a node that absorbed one is absorbed in turn)
    assert _merge_to(Z, np.arange(4), 4, 2, one, []).tolist() == [0, 0, 0, 1]
    # 0 and 1 are parts of one split: {1, 2} inherits that, so 0 goes with 3 although it is far
    assert _merge_to(Z, np.arange(4), 4, 2, one, [[0, 1]]).tolist() == [0, 1, 1, 0]


def big_scene(seed: int = 0):
    topics = {f"t{j}": [f"w{j}x{i}" for i in range(15)] for j in range(4)}
    emb = ToyEmbedder(topics, ["deep", "high"], seed=seed)
    texts = [w for ws in topics.values() for w in ws]
    texts += [f"{m} {ws[i]}" for m in ("deep", "high") for ws in topics.values() for i in range(3)]
    return emb, texts, emb(texts)


def test_default_method_hook_is_deterministic_and_exact():
    emb, texts, X = big_scene()
    fits = [UMAPKMeans(seed=s, contrast=Contrast(texts, emb, share=0.5)).fit(X, [8, 3]) for s in (0, 0, 1)]
    for h in fits:
        h.validate(len(X), [8, 3])
    assert all(np.array_equal(a, b) for a, b in zip(fits[0].labels, fits[1].labels, strict=True))
    plain = UMAPKMeans(seed=0).fit(X, [8, 3])
    assert "contrast" in UMAPKMeans(seed=0, contrast=Contrast(texts, emb)).get_params()
    assert UMAPKMeans(seed=0).get_params()["contrast"] is None

    # pairs of modified phrases in one level-1 node that share their modifier, and those of different topics
    topic = [t.split()[-1].split("x")[0] for t in texts]

    def opposites(l1):
        same = split = 0
        for c in range(8):
            m = [i for i in np.flatnonzero(l1 == c) if " " in texts[i]]
            for a in m:
                for b in m:
                    if a < b and texts[a].split()[0] == texts[b].split()[0]:
                        same += 1
                        split += topic[a] != topic[b]
        return split / same

    assert opposites(fits[0].labels[0]) < 0.5 < opposites(plain.labels[0])
