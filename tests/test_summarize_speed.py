"""The offline namer's speed-critical lookups (issue 16): the indexed paths give exactly what a scan of every member
or candidate gives, and the work of a question about a name does not grow with the cluster's size."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from taxonomy.summarize import ClusterInfo, OfflineSummarizer
from taxonomy.summarize import text as text_mod
from taxonomy.summarize.text import KeyIndex, TermVectors, Tok, same_stem

WORDS = ["honesty", "honest", "truth", "truthfulness", "truth-telling", "care", "careful", "caring", "team",
         "teamwork", "harmony", "harmonious", "social", "process", "efficiency", "efficient", "self-respect",
         "respect", "data-driven", "data", "open", "communication", "and", "of", "the"]


def _members(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = int(rng.integers(1, 4))
        out.append(" ".join(WORDS[int(i)] for i in rng.integers(0, len(WORDS), k)))
    return out


def _tok(text: str) -> Tok:
    return Tok(text, 4)


def _cluster(n: int, seed: int = 0, level: int = 2) -> ClusterInfo:
    members = _members(n, seed)
    rng = np.random.default_rng(seed + 1)
    E = rng.standard_normal((n, 8))
    return ClusterInfo(level=level, members=members, weights=rng.random(n) + 0.01, embeddings=E / np.linalg.norm(
        E, axis=1, keepdims=True))


def _head_share_by_scan(names_heads, c, probs):
    share = 0.0
    for s, p in zip(c.members, probs, strict=True):
        if any(same_stem(x, h) for x in _tok(s).keys for h in names_heads):
            share += float(p)
    return share


def test_key_index_finds_what_a_scan_finds():
    c = _cluster(300)
    index = KeyIndex(_tok(s).keys for s in c.members)
    vocab = {x for s in c.members for x in _tok(s).keys}
    for word in ["honest", "truth", "care", "harmony", "respect", "data", "efficiency", "zzz"]:
        assert index.same_stem_keys(word) == {x for x in vocab if same_stem(x, word)}
        said = index.same_stem_keys(word)
        assert index.rows(said) == [i for i, s in enumerate(c.members) if not said.isdisjoint(_tok(s).keys)]


def test_head_share_is_bit_for_bit_the_scan_of_every_member():
    c = _cluster(400, seed=3)
    probs = c.weights / c.weights.sum()
    s = OfflineSummarizer()
    for name, heads in [("Honesty", ["honesty"]), ("Team harmony", ["harmony"]),
                        ("Care and truth", ["care", "truth"]), ("Self-respect (2)", ["self-respect"])]:
        assert s._head_share(name, c, probs, _tok) == _head_share_by_scan(heads, c, probs)  # exact, not approx


def test_phrase_vector_is_the_heaviest_shortest_member_saying_it():
    c = _cluster(200, seed=5)
    vectors = TermVectors([c], _tok)
    w = c.weights / c.weights.sum()
    for words in [("team", "harmony"), ("open", "communication"), ("truth",), ("caring", "data", "process")]:
        rows = [i for i, s in enumerate(c.members) if words in _tok(s).ngrams or _tok(s).keys == words]
        if not rows:
            rows = [i for i, s in enumerate(c.members) if words[-1] in _tok(s).keys]
        exact = vectors.exact.get(words)
        if exact is None and not rows:
            assert vectors._phrase(0, words) is None
            continue
        if exact is not None:
            expected = exact
        else:
            short = min(len(_tok(c.members[i]).keys) for i in rows)
            best = min((i for i in rows if len(_tok(c.members[i]).keys) == short), key=lambda i: (-w[i], c.members[i]))
            expected = np.asarray(c.embeddings[best], dtype=np.float64)
        got = vectors._phrase(0, words)
        assert np.array_equal(got, expected / np.linalg.norm(expected))


def _second_terms_by_scan(s, A, score_a, cands, factor, units, tf):
    """The complementary terms as first written: every unit and every candidate looked at."""
    head = A[-1]
    vocab = {x for t, _ in units for x in t.keys}
    said = {x for x in vocab if same_stem(x, head)}
    sub = defaultdict(float)
    said_total = total = 0.0
    for t, w in units:
        total += w
        if w <= 0 or said.isdisjoint(t.keys):
            continue
        said_total += w
        for g in t.ngrams:
            sub[g] += w
        if t.full is not None and t.full not in t.ngrams:
            sub[t.full] += w
    need = max(min(s.second_term_min_mass, 0.25 * (total - said_total)), 0.02)
    out = []
    for _, B in cands:
        if s._modifier(B):
            continue
        mass = tf[B] - sub.get(B, 0.0)
        sb = mass * factor[B]
        if mass >= need and sb >= s.second_term_ratio * score_a:
            combo = s._combine(A, B)
            if combo is not None:
                out.append((sb, combo))
    return sorted(out, key=lambda x: (-x[0], x[1]))


@pytest.mark.parametrize("small_pool", [0, 10**9])  # the array path and the plain loop
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_complementary_terms_match_the_scan_of_every_candidate(seed, small_pool, monkeypatch):
    monkeypatch.setattr(OfflineSummarizer, "_SMALL_POOL", small_pool)
    c = _cluster(250, seed=seed)
    units = [(_tok(m), float(w)) for m, w in zip(c.members, c.weights / c.weights.sum(), strict=True)]
    units.append((_tok("broken"), 0.0))  # a weightless unit never counts
    tf: dict = defaultdict(float)
    for t, w in units:
        for g in t.ngrams:
            tf[g] += w
    rng = np.random.default_rng(seed)
    factor = {g: float(rng.random()) for g in tf}
    cands = sorted(((tf[g] * factor[g], g) for g in tf), key=lambda x: (-x[0], x[1]))
    s = OfflineSummarizer()
    s._modifier = lambda g: len(g) == 1 and g[0] in {"social", "open", "data-driven"}
    index = KeyIndex(t.keys for t, _ in units)
    for score_a, A in cands[:6]:
        if s._modifier(A):
            continue
        assert s._second_terms(A, score_a, cands, factor, units, tf, index) == _second_terms_by_scan(
            s, A, score_a, cands, factor, units, tf)


def test_a_head_share_question_costs_the_same_however_many_members_say_the_words(monkeypatch):
    """Stem comparisons per name depend on the cluster's vocabulary, not on its number of members."""
    calls = {"n": 0}
    real = text_mod.same_stem

    def counting(a, b):
        calls["n"] += 1
        return real(a, b)

    monkeypatch.setattr(text_mod, "same_stem", counting)
    s = OfflineSummarizer()
    per_size, vocabs = [], []
    for n in (300, 3000):
        c = _cluster(n, seed=7)
        vocabs.append({x for m in c.members for x in _tok(m).keys})
        probs = c.weights / c.weights.sum()
        index = KeyIndex(_tok(m).keys for m in c.members)
        calls["n"] = 0
        for name in ("Honesty", "Team harmony", "Care and truth", "Data-driven process"):
            s._head_share(name, c, probs, _tok, index)
        per_size.append(calls["n"])
    assert vocabs[0] == vocabs[1]  # the same words at both sizes
    assert per_size[0] == per_size[1] and per_size[0] < 100, per_size


def test_members_by_closeness_are_the_full_sort_ties_included():
    rng = np.random.default_rng(4)
    for n in (5, 16, 17, 200):
        sims = np.round(rng.random(n), 2)  # many ties
        members = [WORDS[int(i)] for i in rng.integers(0, 6, n)]  # repeated texts too
        full = sorted(range(n), key=lambda i: (-sims[i], members[i]))
        assert list(TermVectors._by_closeness(sims, members)) == full
        assert list(TermVectors._by_closeness(sims, members, first=3)) == full


def test_finite_embeddings_are_not_copied_and_others_are_scrubbed():
    E = np.ones((3, 2))
    assert text_mod.finite(E) is E
    E[1, 0] = np.nan
    assert np.array_equal(text_mod.finite(E), np.nan_to_num(E)) and np.isnan(E[1, 0])


def _level(clusters_members, level=1):
    rng = np.random.default_rng(len(clusters_members))
    out = []
    for members in clusters_members:
        E = rng.standard_normal((len(members), 8))
        out.append(ClusterInfo(level=level, members=members, weights=rng.random(len(members)) + 0.1,
                               embeddings=E / np.linalg.norm(E, axis=1, keepdims=True)))
    return out


def test_a_summarizer_reused_over_levels_names_as_a_fresh_one():
    """Tokens and head statistics carried from one call to the next never change what a call gives: the same
    members regrouped (as the levels of a build) and different members alike."""
    members = _members(120, seed=9)
    first = _level([members[:40], members[40:80], members[80:]])
    regrouped = _level([members[:60], members[60:]], level=1)
    other = _level([_members(50, seed=11), _members(50, seed=12)])
    used = OfflineSummarizer()
    for clusters in (first, regrouped, other, first):
        groups = [list(range(len(clusters)))]
        assert used.summarize_level(clusters, groups) == OfflineSummarizer().summarize_level(clusters, groups)


def test_member_scores_above_the_exact_limit_use_the_neighbour_search(monkeypatch):
    """Above ``KNN_EXACT_MAX`` clusters the nearest centroids come from the layouts' neighbour search (n log n in
    the clusters, not every pair): with that search exact (the limit lowered) the scores are those of the scan of
    every pair, and the search is really the one used."""
    import taxonomy.cluster as cluster

    rng = np.random.default_rng(3)
    clusters = []
    for k in range(60):
        E = rng.standard_normal((5, 8)) + 3.0 * rng.standard_normal(8)
        clusters.append(ClusterInfo(level=1, members=[f"m{k}-{i}" for i in range(5)], weights=rng.random(5) + 0.1,
                                    embeddings=E / np.linalg.norm(E, axis=1, keepdims=True)))
    summ = OfflineSummarizer()
    probs = [c.weights / c.weights.sum() for c in clusters]
    scanned = summ._member_scores(clusters, probs)
    calls = []
    real_knn = cluster.knn

    def counting_knn(X, k, engine="auto"):
        calls.append((len(X), k))
        return real_knn(X, k, engine="exact")

    monkeypatch.setattr(cluster, "KNN_EXACT_MAX", 10)
    monkeypatch.setattr(cluster, "knn", counting_knn)
    searched = summ._member_scores(clusters, probs)
    assert calls == [(60, summ.neighbours)]
    for a, b in zip(scanned, searched, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)
