"""The numba kernel of the UMAP-style layout (see ``_layout.py``). Imported lazily: importing numba costs time.

``optimize_layout`` is the sequential kernel (every input at or below 20,000 values); ``optimize_layout_blocked``
runs the same SGD in fixed vertex blocks on several threads, for the large-input layouts.

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


#: vertex blocks of the blocked SGD (``optimize_layout_blocked``). Fixed, never the thread count: the blocks
#: define the computation, the threads only run them, so any number of threads gives the same layout
SGD_BLOCKS = 16
#: steps per epoch: each block runs its edges in this many consecutive parts, and the positions other blocks
#: read are refreshed after each part. 1 is as good as 8 on the published values (large-input paths forced)
SGD_STEPS = 1


#: no fastmath: with it LLVM reorders the float sums to suit the CPU's vector width, and the large-input layouts
#: came out different when compiled for another CPU (NUMBA_CPU_NAME=haswell against this AVX-512 one); without
#: it every sum runs in source order, at the same speed (``benchmarks/results/layout_100k.md``)
@numba.njit(cache=True, nogil=True)
def _block_epoch(Y, Ys, P, head, tail, eps, eps_neg, next_sample, next_negative, state, e0, e1, v0, v1, epoch,
                 n_epochs, a, b, gamma):
    """One step of the edges ``e0:e1`` (heads in the vertex block ``v0:v1``). Rows of the block are read and moved
    live; every other row is read from ``Ys`` (the positions at the start of the step) and its moves are added
    to ``P`` (this block's pending moves), not to ``Y``. float32 arithmetic; ``d2 ** (b - 1)`` taken as
    ``d2 ** b / d2`` (one power per attraction)."""
    n_vertices = Y.shape[0]
    dim = Y.shape[1]
    alpha = np.float32(1.0 - epoch / n_epochs)
    one = np.float32(1.0)
    four = np.float32(4.0)
    zero = np.float32(0.0)
    tb = np.float32(-2.0 * a * b)
    tg = np.float32(2.0 * gamma * b)
    a32 = np.float32(a)
    b32 = np.float32(b)
    yk = np.empty(dim, dtype=np.float32)
    for e in range(e0, e1):
        if next_sample[e] > epoch:
            continue
        j = head[e]
        k = tail[e]
        own = v0 <= k < v1
        src = Y if own else Ys
        d2 = zero
        for c in range(dim):
            yk[c] = src[k, c]
            t = Y[j, c] - yk[c]
            d2 += t * t
        if d2 > zero:
            p = d2**b32
            coef = tb * (p / d2) / (a32 * p + one)
            for c in range(dim):
                g = coef * (Y[j, c] - yk[c])
                g = min(max(g, -four), four) * alpha
                Y[j, c] += g
                if own:
                    Y[k, c] -= g
                else:
                    P[k, c] -= g
        next_sample[e] += eps[e]
        n_neg = int((epoch - next_negative[e]) / eps_neg[e])
        for _ in range(n_neg):
            k = _next(state) % n_vertices
            if k == j:
                continue
            src = Y if v0 <= k < v1 else Ys
            d2 = zero
            for c in range(dim):
                yk[c] = src[k, c]
                t = Y[j, c] - yk[c]
                d2 += t * t
            if d2 <= zero:
                continue
            coef = tg / ((np.float32(0.001) + d2) * (a32 * d2**b32 + one))
            for c in range(dim):
                g = coef * (Y[j, c] - yk[c])
                g = min(max(g, -four), four)
                Y[j, c] += g * alpha
        next_negative[e] += n_neg * eps_neg[e]


@numba.njit(cache=True, nogil=True)  # no fastmath: the sums below must stay in block order
def _merge(Y, Ys, P, r0, r1):
    """Rows ``r0:r1`` after a step: every block's pending moves added to ``Y`` in block order (the same sums as
    ``Y += P[0]; Y += P[1]; ...``), the pending moves cleared and the step's start positions ``Ys`` refreshed."""
    for r in range(r0, r1):
        for c in range(Y.shape[1]):
            y = Y[r, c]
            for i in range(P.shape[0]):
                y += P[i, r, c]
                P[i, r, c] = 0.0
            Y[r, c] = y
            Ys[r, c] = y


def optimize_layout_blocked(Y, head, tail, epochs_per_sample, n_epochs, a, b, gamma, negative_sample_rate, seed,
                            threads=1):
    """UMAP's SGD in ``SGD_BLOCKS`` vertex blocks that run side by side, deterministic for any thread count.

    Each epoch (in ``SGD_STEPS`` steps), every block runs its edges (those whose head is in the block) in order
    with its own seeded random stream, as ``optimize_layout`` does: both ends of an edge attract, the head is
    repelled by negative samples. A block reads and moves its own points live; it reads other blocks' points as
    they were at the start of the step and collects its moves of them in its own buffer, added to the layout
    after the step in block order. No block reads what another writes during a step, so the result depends on
    the blocks, never on the threads or their scheduling. Extra memory: ``SGD_BLOCKS`` x n x dim float32 (64 MB
    at 100k points, 10-D). ``head`` must be sorted (a CSR matrix's COO rows are; sorted here otherwise).
    """
    from concurrent.futures import ThreadPoolExecutor

    n = Y.shape[0]
    if len(head) > 1 and np.any(head[1:] < head[:-1]):
        order = np.argsort(head, kind="stable")
        head, tail, epochs_per_sample = head[order], tail[order], epochs_per_sample[order]
    blocks = max(1, min(SGD_BLOCKS, n))
    vb = (np.arange(blocks + 1, dtype=np.int64) * n) // blocks
    eb = np.searchsorted(head, vb)
    eps = np.ascontiguousarray(epochs_per_sample, dtype=np.float64)
    eps_neg = eps / negative_sample_rate
    next_sample = eps.copy()
    next_negative = eps_neg.copy()
    states = np.empty((blocks, 1), dtype=np.uint64)
    for i in range(blocks):
        states[i, 0] = np.uint64((int(seed) * 2654435761 + 12345 + i * 0x9E3779B97F4A7C15) % 2**64)
    Ys = Y.copy()
    P = np.zeros((blocks, n, Y.shape[1]), dtype=np.float32)  # each block's moves of other blocks' points

    steps = max(1, int(SGD_STEPS))
    cut = eb[:-1, None] + ((eb[1:] - eb[:-1])[:, None] * np.arange(steps + 1)) // steps  # blocks x steps+1

    def run(i, epoch, s):
        _block_epoch(Y, Ys, P[i], head, tail, eps, eps_neg, next_sample, next_negative, states[i], int(cut[i, s]),
                     int(cut[i, s + 1]), int(vb[i]), int(vb[i + 1]), epoch, n_epochs, a, b, gamma)

    def merge(i):
        _merge(Y, Ys, P, int(vb[i]), int(vb[i + 1]))

    workers = max(1, min(int(threads), blocks))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for epoch in range(int(n_epochs)):
            for s in range(steps):
                if workers == 1:
                    for i in range(blocks):
                        run(i, epoch, s)
                    for i in range(blocks):
                        merge(i)
                else:
                    list(pool.map(run, range(blocks), [epoch] * blocks, [s] * blocks))
                    list(pool.map(merge, range(blocks)))  # row ranges: each row's sums in block order
    return Y
