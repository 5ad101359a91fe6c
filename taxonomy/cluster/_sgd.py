"""The numba kernel of the UMAP-style layout (see ``_layout.py``). Imported lazily: importing numba costs time.

``cache=True`` stores the compiled kernel on disk (next to this file, or in numba's user cache when that is not
writable), so only the very first process pays the ~1 s compile. ``nogil=True`` lets two layouts run in two
threads at once.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, fastmath=True)
def _next(state):
    # 64-bit linear congruential generator (Knuth MMIX constants); returns the high 31 bits
    state[0] = state[0] * np.uint64(6364136223846793005) + np.uint64(1442695040888963407)
    return np.int64(state[0] >> np.uint64(33))


@numba.njit(cache=True, nogil=True, fastmath=True)
def optimize_layout(Y, head, tail, epochs_per_sample, n_epochs, a, b, gamma, negative_sample_rate, seed):
    """UMAP's cross-entropy SGD (attractive moves along graph edges, repulsive moves from random points).

    Sequential (single-threaded) and seeded, hence deterministic. Mirrors ``umap.layouts.optimize_layout_
    euclidean`` with ``move_other=True``: same gradients, clipping at 4, linear learning-rate decay, the same
    edge sampling schedule (an edge of weight w is used every max_w / w epochs) and negative-sample schedule.
    """
    n_vertices = Y.shape[0]
    dim = Y.shape[1]
    n_edges = head.shape[0]
    state = np.empty(1, dtype=np.uint64)
    state[0] = np.uint64(seed) * np.uint64(2654435761) + np.uint64(12345)
    epochs_per_negative = epochs_per_sample / negative_sample_rate
    next_sample = epochs_per_sample.copy()
    next_negative = epochs_per_negative.copy()
    for epoch in range(n_epochs):
        alpha = 1.0 - epoch / n_epochs
        for e in range(n_edges):
            if next_sample[e] > epoch:
                continue
            j = head[e]
            k = tail[e]
            d2 = 0.0
            for c in range(dim):
                t = Y[j, c] - Y[k, c]
                d2 += t * t
            if d2 > 0.0:
                coef = -2.0 * a * b * d2 ** (b - 1.0) / (a * d2**b + 1.0)
            else:
                coef = 0.0
            for c in range(dim):
                g = coef * (Y[j, c] - Y[k, c])
                if g > 4.0:
                    g = 4.0
                elif g < -4.0:
                    g = -4.0
                Y[j, c] += g * alpha
                Y[k, c] -= g * alpha
            next_sample[e] += epochs_per_sample[e]
            n_neg = int((epoch - next_negative[e]) / epochs_per_negative[e])
            for _ in range(n_neg):
                k = _next(state) % n_vertices
                if k == j:
                    continue
                d2 = 0.0
                for c in range(dim):
                    t = Y[j, c] - Y[k, c]
                    d2 += t * t
                if d2 <= 0.0:
                    continue
                coef = 2.0 * gamma * b / ((0.001 + d2) * (a * d2**b + 1.0))
                for c in range(dim):
                    g = coef * (Y[j, c] - Y[k, c])
                    if g > 4.0:
                        g = 4.0
                    elif g < -4.0:
                        g = -4.0
                    Y[j, c] += g * alpha
            next_negative[e] += n_neg * epochs_per_negative[e]
    return Y
