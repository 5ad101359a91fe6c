"""The contrastive level-1 refinement (``taxonomy.cluster.contrast``) on a toy embedder: residuals, moves, exact
counts, determinism, errors, and the hook in the default method."""

from __future__ import annotations

import numpy as np
import pytest

from taxonomy.cluster.contrast import Contrast, residuals, words
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


def test_words_and_residuals():
    assert words("Self-care, and well_being 2") == ["Self", "care", "and", "well", "being", "2"]
    texts = ["Deep red", "deep blue", "deep", "red", "deep-sea diving", "calm"]
    labels = np.array([0, 0, 0, 1, 0, 1])
    res = residuals(texts, labels)
    # "deep" is shared in node 0; the lone "deep" has nothing left; "red" in node 1 shares nothing
    assert res == {0: "red", 1: "blue", 4: "sea diving"}
    assert residuals(texts, labels, min_word=5) == {}  # "deep" is too short to count
    assert residuals(["deep red", "deep blue"], np.array([0, 1])) == {}  # not in one node


def scene():
    emb = ToyEmbedder(TOPICS, ["deep"])
    texts = [*TOPICS["colour"], *TOPICS["sea"], "deep", "deep red", "deep blue", "deep thought"]
    X = emb(texts)
    labels = np.array([0] * 4 + [1] * 4 + [2] * 4)
    return emb, texts, X, labels


def test_moves_values_grouped_by_a_shared_word_only():
    emb, texts, X, labels = scene()
    c = Contrast(texts, emb)
    out = c.refine(X, labels, 3, np.ones(len(X)), seed=0)
    got = dict(zip(texts, out.tolist(), strict=True))
    assert got["deep red"] == 0 and got["deep blue"] == 1  # to the node their residual fits
    assert got["deep"] == 2 and got["deep thought"] == 2  # no residual / no better node: stay
    assert c.moved_ == 2
    assert sorted(set(out.tolist())) == [0, 1, 2]
    assert emb.calls[-1] == sorted(["red", "blue", "thought"])  # residuals embedded once, not the values


def test_weight_zero_and_no_shared_words_change_nothing():
    emb, texts, X, labels = scene()
    assert np.array_equal(Contrast(texts, emb, weight=0).refine(X, labels, 3, np.ones(len(X)), 0), labels)
    assert np.array_equal(Contrast(texts, emb, passes=0).refine(X, labels, 3, np.ones(len(X)), 0), labels)
    # no node holds two values sharing a word ("deep blue" away from "blue", "deep red" away from "red")
    apart = np.array([0] * 4 + [1] * 4 + [2, 1, 0])
    c = Contrast(texts[:-1], emb)
    assert np.array_equal(c.refine(X[:-1], apart, 3, np.ones(len(X) - 1), 0), apart) and c.moved_ == 0
    assert len(emb.calls) == 1  # nothing to embed


def test_a_value_sharing_its_head_word_moves_to_its_modifier_when_that_dominates():
    emb, texts, X, labels = scene()
    labels = np.array([0] * 4 + [1] * 4 + [2, 2, 1, 2])  # "deep blue" beside "blue": residual "deep"
    out = Contrast(texts, emb).refine(X, labels, 3, np.ones(len(X)), 0)
    assert out[texts.index("deep blue")] == 2


def test_exact_counts_when_a_node_empties():
    emb = ToyEmbedder(TOPICS, ["deep"])
    texts = [*TOPICS["colour"], *TOPICS["sea"], "deep red", "deep blue"]
    X = emb(texts)
    labels = np.array([0] * 4 + [1] * 4 + [2, 2])
    out = Contrast(texts, emb).refine(X, labels, 3, np.ones(len(X)), seed=0)
    assert sorted(set(out.tolist())) == [0, 1, 2]  # node 2 emptied and was refilled by a split
    assert out[8] == out[0] or out[9] == out[4]


def test_bad_parameters_are_usage_errors():
    emb, texts, X, labels = scene()
    for kw in ({"weight": -1}, {"weight": float("nan")}, {"min_word": 0}, {"passes": -1}, {"min_word": True}):
        with pytest.raises(UsageError):
            Contrast(texts, emb, **kw)
    with pytest.raises(UsageError, match="texts for"):
        Contrast(texts[:-1], emb).refine(X, labels, 3, np.ones(len(X)), 0)


def big_scene(seed: int = 0):
    topics = {f"t{j}": [f"w{j}x{i}" for i in range(15)] for j in range(4)}
    emb = ToyEmbedder(topics, ["deep", "high"], seed=seed)
    texts = [w for ws in topics.values() for w in ws]
    texts += [f"{m} {ws[i]}" for m in ("deep", "high") for ws in topics.values() for i in range(3)]
    return emb, texts, emb(texts)


def test_default_method_hook_is_deterministic_and_exact():
    emb, texts, X = big_scene()
    fits = [UMAPKMeans(seed=s, contrast=Contrast(texts, emb)).fit(X, [8, 3]) for s in (0, 0, 1)]
    for h in fits:
        h.validate(len(X), [8, 3])
    assert all(np.array_equal(a, b) for a, b in zip(fits[0].labels, fits[1].labels, strict=True))
    plain = UMAPKMeans(seed=0).fit(X, [8, 3])
    assert "contrast" in UMAPKMeans(seed=0, contrast=Contrast(texts, emb)).get_params()
    assert UMAPKMeans(seed=0).get_params()["contrast"] is None

    # how many level-1 nodes mix modified phrases of different topics
    topic = [t.split()[-1].split("x")[0] for t in texts]

    def mixed(l1):
        return sum(len({topic[i] for i in np.flatnonzero(l1 == c) if " " in texts[i]}) > 1 for c in range(8))

    assert mixed(fits[0].labels[0]) < mixed(plain.labels[0])
