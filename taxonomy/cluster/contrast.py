"""Contrastive refinement of level 1: values grouped by a shared word only.

Short values that share a word ("moral clarity", "moral disregard", "moral flexibility") sit close in the
embedding because of that word, so level 1 tends to put them in one node although the rest of each phrase says
something else. :class:`Contrast` checks every value that shares a word with another member of its level-1 node:
it embeds the value's *residual* (the phrase with the shared words removed: "clarity", "disregard") with the same
embedder and moves the value to the node that best fits the value and its residual together,
``cos(x + weight * r, centroid)``, when that is another node than its own (whose centroid leaves the value out).

Nothing here knows a language: words are runs of letters and digits of at least ``min_word`` characters, and the
only text processing is removing the shared ones. Cost: one embedding of the residuals (at most one per value,
through the embedder's cache), and one nearest-centroid search per checked value (as one k-means assignment
step). Deterministic: no randomness except ``ensure_k``'s seeded split when a node empties.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from taxonomy.errors import UsageError

_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """The words of ``text`` in order (runs of letters and digits), as written."""
    return _WORD.findall(text)


def residuals(texts: Sequence[str], labels: np.ndarray, min_word: int = 4) -> dict[int, str]:
    """For every value that shares a word (``min_word`` characters or more, case-insensitive) with another member
    of its node: the value's words without the shared ones. Values left with no word are not listed."""
    keys = [[wd.lower() for wd in words(t)] for t in texts]
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    out: dict[int, str] = {}
    for members in np.split(order, bounds):
        seen: dict[str, int] = {}
        for i in members:
            for key in set(keys[i]):
                if len(key) >= min_word:
                    seen[key] = seen.get(key, 0) + 1
        for i in members:
            shared = {key for key in keys[i] if len(key) >= min_word and seen.get(key, 0) >= 2}
            if not shared:
                continue
            rest = [wd for wd, key in zip(words(texts[i]), keys[i], strict=True) if key not in shared]
            if rest:
                out[int(i)] = " ".join(rest)
    return out


class Contrast:
    """Move values that share a word with their level-1 node mates to the node their residual fits (see the module
    docstring).

    Parameters
    ----------
    texts: the values' texts, in the order of the embedding rows.
    embed: ``embed(list_of_texts) -> (n, d) unit vectors``, the embedder that made the rows.
    weight: how much the residual counts against the whole value (0 = never move).
    min_word: the shortest word (in characters) that counts as shared.
    passes: how many times the check runs (centroids and residuals recomputed between passes).
    """

    def __init__(self, texts: Sequence[str], embed: Callable[[list[str]], np.ndarray], weight: float = 1.0,
                 min_word: int = 4, passes: int = 1):
        if not weight >= 0:
            raise UsageError(f"contrast weight must be a non-negative number, got {weight!r}")
        if isinstance(min_word, bool) or not isinstance(min_word, int) or min_word < 1:
            raise UsageError(f"contrast min_word must be a positive integer, got {min_word!r}")
        if isinstance(passes, bool) or not isinstance(passes, int) or passes < 0:
            raise UsageError(f"contrast passes must be a non-negative integer, got {passes!r}")
        self.texts_ = list(texts)
        self.embed_ = embed
        self.weight = float(weight)
        self.min_word = min_word
        self.passes = passes
        self.moved_ = 0

    def __repr__(self) -> str:
        return f"Contrast(weight={self.weight}, min_word={self.min_word}, passes={self.passes})"

    def refine(self, X: np.ndarray, labels: np.ndarray, k: int, w: np.ndarray, seed: int,
               Z: np.ndarray | None = None) -> np.ndarray:
        """Level-1 ``labels`` (exactly ``k`` nodes) of the unit rows ``X`` after the check; ``Z`` is the space the
        labels were clustered in (for ``ensure_k`` when a node empties; default ``X``)."""
        from taxonomy.cluster._common import ensure_k

        if len(self.texts_) != len(X):
            raise UsageError(f"contrast has {len(self.texts_)} texts for {len(X)} values")
        labels = np.asarray(labels, dtype=np.int64).copy()
        self.moved_ = 0
        if self.weight == 0 or k < 2:
            return labels
        cache: dict[str, np.ndarray] = {}
        for _ in range(self.passes):
            res = residuals(self.texts_, labels, self.min_word)
            if not res:
                break
            new = sorted({t for t in res.values() if t not in cache})
            if new:
                vecs = np.asarray(self.embed_(new), dtype=np.float64)
                cache.update(zip(new, vecs, strict=True))
            idx = np.fromiter(res, dtype=np.int64, count=len(res))
            R = np.stack([cache[res[int(i)]] for i in idx])
            moved = self._move(X, labels, w, idx, R, k)
            self.moved_ += moved
            if not moved:
                break
        return ensure_k(Z if Z is not None else X, labels, k, w, seed)

    def _move(self, X: np.ndarray, labels: np.ndarray, w: np.ndarray, idx: np.ndarray, R: np.ndarray,
              k: int) -> int:
        """Reassign the checked values ``idx`` (residual vectors ``R``) in place, all against the same centroids;
        the number moved."""
        Xd = X.astype(np.float64, copy=False)
        S = np.zeros((k, X.shape[1]))
        np.add.at(S, labels, Xd * w[:, None])
        own = labels[idx]
        Q = Xd[idx] + self.weight * R
        # own node's score without the value itself (else every value is pulled back by its own weight)
        loo = S[own] - Xd[idx] * w[idx, None]
        loo_score = _cos_rows(Q, loo)
        best, best_score = _best_other(Q, S, own)
        go = (best >= 0) & (best_score > loo_score)
        labels[idx[go]] = best[go]
        return int(go.sum())


def _cos_rows(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    nb = np.linalg.norm(B, axis=1)
    na = np.linalg.norm(A, axis=1)
    return np.where(nb > 0, (A * B).sum(1) / np.maximum(na * nb, 1e-300), -np.inf)


def _best_other(Q: np.ndarray, S: np.ndarray, own: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``Q``: the node (row of ``S``, an unnormalised centroid) of highest cosine other than
    ``own``, and that cosine (-1 / -inf when there is none)."""
    n = np.linalg.norm(S, axis=1)
    C = S / np.where(n > 0, n, 1)[:, None]
    Qn = Q / np.maximum(np.linalg.norm(Q, axis=1), 1e-300)[:, None]
    best = np.full(len(Q), -1, dtype=np.int64)
    score = np.full(len(Q), -np.inf)
    for s in range(0, len(Q), chunk):
        sim = Qn[s : s + chunk] @ C.T
        sim[np.arange(len(sim)), own[s : s + chunk]] = -np.inf
        sim[:, n == 0] = -np.inf
        b = np.argmax(sim, axis=1)
        best[s : s + chunk] = b
        score[s : s + chunk] = sim[np.arange(len(sim)), b]
    best[~np.isfinite(score)] = -1
    return best, score
