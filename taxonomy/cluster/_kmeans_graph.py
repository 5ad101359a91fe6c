"""numba kernels of the graph-restricted Lloyd iterations of large k-means (see ``_common._graph_kmeans``).

Every kernel is sequential (one thread), so its result never depends on the thread budget; each costs a small
constant times n (or k) per call. ``cache=True`` keeps the compiled kernels on disk. Imported lazily.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, fastmath=True)
def _sqdist(X, i, C, c):
    s = 0.0
    for j in range(X.shape[1]):
        t = np.float64(X[i, j]) - C[c, j]
        s += t * t
    return s


@numba.njit(cache=True, nogil=True)
def assign_graph(X, C, labels, G, dist, order):
    """Move every point to the nearest of its centroid and that centroid's graph neighbours ``G[labels[i]]``
    (ties: the lower index). Updates ``labels`` and ``dist`` (squared distances) in place; returns the number of
    points that moved. ``order``: the order to visit the points in (each point's result does not depend on it;
    points close together visited together keep their centroids in cache)."""
    moved = 0
    for p in range(len(order)):
        i = order[p]
        c0 = labels[i]
        best = c0
        bd = _sqdist(X, i, C, c0)
        for t in range(G.shape[1]):
            c = G[c0, t]
            if c < 0 or c == c0:
                continue
            d = _sqdist(X, i, C, c)
            if d < bd or (d == bd and c < best):
                best, bd = c, d
        if best != c0:
            moved += 1
            labels[i] = best
        dist[i] = bd
    return moved


@numba.njit(cache=True, nogil=True)
def assign_groups(X, C, order, pstart, cstart, labels, dist):
    """Nearest centroid of every point among the centroids of its group: the points ``order[pstart[g]:pstart[g+1]]``
    against the centroids ``cstart[g]:cstart[g+1]`` (ties: the lower index)."""
    for g in range(len(pstart) - 1):
        for p in range(pstart[g], pstart[g + 1]):
            i = order[p]
            best = -1
            bd = np.inf
            for c in range(cstart[g], cstart[g + 1]):
                d = _sqdist(X, i, C, c)
                if d < bd:
                    best, bd = c, d
            labels[i] = best
            dist[i] = bd


@numba.njit(cache=True, nogil=True)
def centroid_sums(X, w, labels, k):
    """Weighted sum of the rows per label and the weight per label, accumulated in row order (float64)."""
    S = np.zeros((k, X.shape[1]), dtype=np.float64)
    mass = np.zeros(k, dtype=np.float64)
    for i in range(X.shape[0]):
        c = labels[i]
        wi = w[i]
        mass[c] += wi
        for j in range(X.shape[1]):
            S[c, j] += wi * X[i, j]
    return S, mass


@numba.njit(cache=True, nogil=True)
def refine_graph(C, G):
    """One neighbour-of-neighbour step: each centroid's ``G.shape[1]`` nearest among its neighbours, their
    neighbours and the centroids that list it (ties: the lower index); -1 entries are ignored."""
    k, K = G.shape
    # reverse lists in CSR form
    rcount = np.zeros(k + 1, dtype=np.int64)
    for a in range(k):
        for t in range(K):
            b = G[a, t]
            if b >= 0 and b != a:
                rcount[b + 1] += 1
    for a in range(k):
        rcount[a + 1] += rcount[a]
    rev = np.empty(rcount[k], dtype=np.int64)
    fill = rcount[:k].copy()
    for a in range(k):
        for t in range(K):
            b = G[a, t]
            if b >= 0 and b != a:
                rev[fill[b]] = a
                fill[b] += 1
    out = np.full((k, K), -1, dtype=np.int64)
    stamp = np.full(k, -1, dtype=np.int64)
    bi = np.empty(K, dtype=np.int64)
    bd = np.empty(K, dtype=np.float64)
    for a in range(k):
        stamp[a] = a
        nb = 0
        for t in range(K + K * K + rcount[a + 1] - rcount[a]):
            # candidates: the neighbours, their neighbours, then the centroids that list a
            if t < K * (K + 1):
                b = G[a, t // (K + 1)]
                if b < 0:
                    continue
                u = t % (K + 1)
                c = b if u == 0 else G[b, u - 1]
            else:
                c = rev[rcount[a] + t - K * (K + 1)]
            if c < 0 or stamp[c] == a:
                continue
            stamp[c] = a
            dc = _sqdist(C, a, C, c)
            if nb == K and (dc > bd[K - 1] or (dc == bd[K - 1] and c > bi[K - 1])):
                continue
            # insert into the sorted buffer (distance, index)
            q = nb if nb < K else K - 1
            while q > 0 and (bd[q - 1] > dc or (bd[q - 1] == dc and bi[q - 1] > c)):
                bd[q] = bd[q - 1]
                bi[q] = bi[q - 1]
                q -= 1
            bd[q] = dc
            bi[q] = c
            if nb < K:
                nb += 1
        for t in range(nb):
            out[a, t] = bi[t]
    return out
