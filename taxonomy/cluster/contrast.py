"""Contrastive refinement of level 1: nodes that hold values grouped by a shared word only.

Short values that share a word ("moral clarity", "moral disregard", "moral flexibility") sit close in the
embedding because of that word, so level 1 tends to put many of them in one node although the rest of each phrase
says something else. :class:`Contrast` looks, in every level-1 node, at the largest group of members sharing a
word, embeds their *residuals* (each phrase without the shared word: "clarity", "disregard", "flexibility") with
the same embedder, and splits the group by those residuals (weighted k-means, up to ``max_parts`` parts); the
node's other members follow the part whose members they are closest to. The nodes whose split separates the
residuals most are split first, until ``share`` x k nodes were added; then the closest pairs of nodes (Ward cost in
the space level 1 was clustered in) are merged back to exactly k, never two parts of one split.

Nothing here knows a language: words are runs of letters and digits of at least ``min_word`` characters, and the
only text processing is removing the shared one. Cost: one embedding of the residuals (at most one per value,
through the embedder's cache), a small k-means per node, and merges over a nearest-neighbour graph of the node
centroids (``MERGE_NEIGHBOURS`` per node; never all pairs of values, nor of nodes). Deterministic for a seed.
The per-node k-means (scikit-learn, a few milliseconds each) is the part that grows with k: on the published
values (266 nodes) the whole refinement costs under 1 CPU-s with the residuals' embedding; with thousands of
nodes expect tens of seconds (not measured).
Off by default: on the published tree (10 seeds, defaults ``share=0.07``, ``max_parts=8``) it lowers the share of
same-word pairs in one node that the published tree puts under different top categories from 0.403 to 0.389, with
every level's NMI within its spread, short of the 0.36 aimed at (``benchmarks/results/opposites_contrast.md``).
``taxo build --contrast SHARE`` (``build(contrast=...)``) turns it on for the umap-kmeans method.
"""

from __future__ import annotations

import heapq
import re
import warnings
from collections.abc import Callable, Sequence

import numpy as np

from taxonomy.errors import UsageError

_WORD = re.compile(r"[^\W_]+")
MERGE_NEIGHBOURS = 16  #: nodes a node may be merged with: its nearest by centroid in the clustering space


def words(text: str) -> list[str]:
    """The words of ``text`` in order (runs of letters and digits), as written."""
    return _WORD.findall(text)


def shared_groups(texts: Sequence[str], labels: np.ndarray, min_word: int = 4,
                  min_group: int = 3) -> dict[int, tuple[str, dict[int, str]]]:
    """Per node: its largest group of members sharing a word (``min_word`` characters or more, case-insensitive;
    ties by the word) and each member's residual (its words without the shared one), members left with no word
    dropped; only groups of at least ``min_group`` residuals are listed."""
    keys = [[wd.lower() for wd in words(t)] for t in texts]
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    out: dict[int, tuple[str, dict[int, str]]] = {}
    for members in np.split(order, bounds):
        by: dict[str, list[int]] = {}
        for i in members:
            for key in sorted(set(keys[i])):
                if len(key) >= min_word:
                    by.setdefault(key, []).append(int(i))
        for key, group in sorted(by.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            if len(group) < min_group:
                break
            res = {}
            for i in group:
                rest = [wd for wd, k in zip(words(texts[i]), keys[i], strict=True) if k != key]
                if rest:
                    res[i] = " ".join(rest)
            if len(res) >= min_group:
                out[int(labels[members[0]])] = (key, res)
                break
    return out


class Contrast:
    """Split level-1 nodes by the residuals of their shared-word groups and merge back to k (see the module
    docstring).

    Parameters
    ----------
    texts: the values' texts, in the order of the embedding rows.
    embed: ``embed(list_of_texts) -> (n, d) unit vectors``, the embedder that made the rows.
    share: nodes added by splits before merging back, as a share of k (0 = off). Groups are split in the order of
        how much their split separates the residuals (drop in sum of squares), until that many nodes were added.
    max_parts: the most parts one group is split into (a group of g residuals gets ``min(max_parts, g // 4)``,
        at least 2).
    min_group: the fewest members sharing a word for a node to be looked at.
    min_word: the shortest word (in characters) that counts as shared.
    """

    def __init__(self, texts: Sequence[str], embed: Callable[[list[str]], np.ndarray], share: float = 0.07,
                 max_parts: int = 8, min_group: int = 3, min_word: int = 4):
        if not 0 <= share <= 1:
            raise UsageError(f"contrast share must be between 0 and 1, got {share!r}")
        for name, v, low in (("max_parts", max_parts, 2), ("min_group", min_group, 2), ("min_word", min_word, 1)):
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise UsageError(f"contrast {name} must be an integer of at least {low}, got {v!r}")
        self.texts_ = list(texts)
        self.embed_ = embed
        self.share = float(share)
        self.max_parts = max_parts
        self.min_group = min_group
        self.min_word = min_word
        self.split_ = 0

    def __repr__(self) -> str:
        return (f"Contrast(share={self.share}, max_parts={self.max_parts}, min_group={self.min_group}, "
                f"min_word={self.min_word})")

    def refine(self, X: np.ndarray, labels: np.ndarray, k: int, w: np.ndarray, seed: int,
               Z: np.ndarray | None = None) -> np.ndarray:
        """Level-1 ``labels`` (exactly ``k`` nodes) of the unit rows ``X`` after the splits and merges; ``Z`` is the
        space the labels were clustered in (merge costs; default ``X``)."""
        from taxonomy.cluster._common import compact, ensure_k

        if len(self.texts_) != len(X):
            raise UsageError(f"contrast has {len(self.texts_)} texts for {len(X)} values")
        labels = compact(np.asarray(labels, dtype=np.int64))
        Z = X if Z is None else Z
        self.split_ = 0
        budget = int(round(self.share * k))
        if budget == 0 or k < 2:
            return ensure_k(Z, labels, k, w, seed)
        groups = shared_groups(self.texts_, labels, self.min_word, self.min_group)
        texts = sorted({t for _, res in groups.values() for t in res.values()})
        if not texts:
            return ensure_k(Z, labels, k, w, seed)
        vec = dict(zip(texts, np.asarray(self.embed_(texts), dtype=np.float64), strict=True))
        splits = []
        for c in sorted(groups):
            idx = np.fromiter(groups[c][1], dtype=np.int64)
            R = np.stack([vec[groups[c][1][int(i)]] for i in idx])
            parts, gain = _split(R, w[idx], min(self.max_parts, max(2, len(idx) // 4)), seed)
            if gain > 0:
                splits.append((-gain, c, idx, parts))
        splits.sort(key=lambda s: (s[0], s[1]))
        m = int(labels.max()) + 1
        Xd = X.astype(np.float64, copy=False)
        siblings: list[list[int]] = []
        for _, c, idx, parts in splits:
            if m - k >= budget:
                break
            members = np.flatnonzero(labels == c)
            rest = np.setdiff1d(members, idx)
            n_parts = int(parts.max()) + 1
            centres = np.stack([Xd[idx[parts == q]].mean(0) for q in range(n_parts)])
            follow = np.argmax(Xd[rest] @ centres.T, axis=1) if len(rest) else np.zeros(0, dtype=np.int64)
            ids = [c, *range(m, m + n_parts - 1)]
            for q in range(1, n_parts):
                labels[idx[parts == q]] = ids[q]
                labels[rest[follow == q]] = ids[q]
            siblings.append(ids)
            m += n_parts - 1
            self.split_ += 1
        labels = _merge_to(Z, labels, m, k, w, siblings)
        return ensure_k(Z, labels, k, w, seed)


def _split(R: np.ndarray, w: np.ndarray, parts: int, seed: int) -> tuple[np.ndarray, float]:
    """Weighted k-means of the residual rows ``R`` into ``parts`` parts; the labels and the drop in weighted sum of
    squares (0 when the residuals do not separate)."""
    from sklearn.cluster import KMeans

    if len(np.unique(R, axis=0)) < parts:
        return np.zeros(len(R), dtype=np.int64), 0.0
    total = float((w * ((R - np.average(R, axis=0, weights=w)) ** 2).sum(1)).sum())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        km = KMeans(parts, n_init=3, random_state=seed).fit(R, sample_weight=w)
    lab = np.unique(km.labels_, return_inverse=True)[1].astype(np.int64)
    if lab.max() < 1:
        return lab, 0.0
    return lab, total - float(km.inertia_)


def _merge_to(Z: np.ndarray, labels: np.ndarray, m: int, k: int, w: np.ndarray,
              siblings: list[list[int]]) -> np.ndarray:
    """Merge the ``m`` nodes down to ``k`` by smallest Ward cost in ``Z`` among each node's ``MERGE_NEIGHBOURS``
    nearest centroids, never two nodes of one sibling set (a merged node inherits both sets); stops early when no
    allowed pair is left (``ensure_k`` finishes)."""
    from taxonomy.cluster._common import compact, weighted_centroids

    if m <= k:
        return labels
    C, mass = weighted_centroids(Z.astype(np.float64, copy=False), labels, m, w)
    fam_of: list[set[int]] = [set() for _ in range(m)]  # the sibling sets a node belongs to
    for s, ids in enumerate(siblings):
        for i in ids:
            fam_of[i].add(s)
    near = _neighbours(C, min(MERGE_NEIGHBOURS, m - 1))
    alive = np.ones(m, dtype=bool)
    version = np.zeros(m, dtype=np.int64)
    heap: list[tuple[float, int, int, int, int]] = []

    def push(a: int, b: int) -> None:
        if a == b or not (alive[a] and alive[b]) or fam_of[a] & fam_of[b]:
            return
        d = float(((C[a] - C[b]) ** 2).sum())
        cost = d * mass[a] * mass[b] / (mass[a] + mass[b])
        lo, hi = min(a, b), max(a, b)
        heapq.heappush(heap, (cost, lo, hi, int(version[lo]), int(version[hi])))

    links = [set(map(int, row)) - {i} for i, row in enumerate(near)]
    for a in range(m):
        for b in sorted(links[a]):
            links[b].add(a)
    for a in range(m):
        for b in sorted(links[a]):
            if a < b:
                push(a, b)
    target = np.arange(m)
    left = m - k
    while left and heap:
        _, a, b, va, vb = heapq.heappop(heap)
        if not (alive[a] and alive[b]) or va != version[a] or vb != version[b] or fam_of[a] & fam_of[b]:
            continue
        C[a] = (mass[a] * C[a] + mass[b] * C[b]) / (mass[a] + mass[b])
        mass[a] += mass[b]
        alive[b] = False
        target[target == b] = a
        fam_of[a] = fam_of[a] | fam_of[b]
        links[a] = (links[a] | links[b]) - {a, b}
        for c in links[a]:
            links[c].discard(b)
            links[c].add(a)
        links[b] = set()
        version[a] += 1
        for c in sorted(links[a]):
            push(a, c)
        left -= 1
    return compact(target[labels])


def _neighbours(C: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` nearest other rows of ``C`` (squared Euclidean) for every row; rows of clusters, not values."""
    import faiss

    Cf = np.ascontiguousarray(C, dtype=np.float32)
    index = faiss.IndexFlatL2(Cf.shape[1])
    index.add(Cf)
    _, idx = index.search(Cf, n + 1)
    out = np.empty((len(C), n), dtype=np.int64)
    for i, row in enumerate(idx):
        row = [int(j) for j in row if j != i and j >= 0][:n]
        out[i, : len(row)] = row
        out[i, len(row) :] = row[-1] if row else i
    return out
