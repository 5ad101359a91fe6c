"""The per-cluster work of a large level over two processes: ``[fn(k) for k in range(K)]``, the clusters after a
cut computed by a forked copy of this process while this one computes those before it.

The result cannot depend on the split: each ``fn(k)`` reads only what the level computed before the fork (the
child sees it as it was then) and gives the same value wherever it runs; the parts are joined in cluster order.
Anything that must see the whole level in order (the choice of distinct names) stays in the caller. Used only
where ``fork`` exists, when the thread budget (:func:`taxonomy.threads.thread_budget`) allows two workers and
the level is large enough to pay for a fork; when the child cannot start or dies, its part is computed here.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

#: the function a forked child runs (set just before the fork, cleared after)
_WORK: Callable | None = None

#: a level with fewer members than this is named in this process only (a fork costs more than it saves)
MIN_MEMBERS = 20000


def _run(ks: list[int]) -> list:
    assert _WORK is not None
    return [_WORK(k) for k in ks]


def cut_point(sizes: Sequence[int]) -> int:
    """Where two contiguous parts of about equal total size meet (1 .. len(sizes) - 1)."""
    total = float(sum(sizes))
    acc = 0.0
    for k, s in enumerate(sizes):
        acc += s
        if acc >= total / 2:
            return min(max(k + 1, 1), len(sizes) - 1)
    return len(sizes) - 1


def workers() -> int:
    from taxonomy.threads import thread_budget

    if "fork" not in mp.get_all_start_methods():
        return 1
    return min(thread_budget(), 2)


def map_clusters(fn: Callable[[int], object], sizes: Sequence[int], *, n_workers: int | None = None,
                 min_members: int | None = None) -> list:
    """``[fn(k) for k in range(len(sizes))]``; ``sizes``: each cluster's work (its members), to balance the parts.
    ``n_workers`` (default :func:`workers`) and ``min_members`` (default :data:`MIN_MEMBERS`) decide the split."""
    global _WORK
    K = len(sizes)
    n_workers = workers() if n_workers is None else n_workers
    floor = MIN_MEMBERS if min_members is None else min_members
    if n_workers < 2 or K < 2 or sum(sizes) < floor or "fork" not in mp.get_all_start_methods():
        return [fn(k) for k in range(K)]
    cut = cut_point(sizes)
    rest = list(range(cut, K))
    _WORK = fn
    ex = None
    try:
        try:
            ex = ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("fork"))
            future = ex.submit(_run, rest)
        except (OSError, RuntimeError):  # no process to be had: all of it here
            future = None
        first = [fn(k) for k in range(cut)]
        second = None
        if future is not None:
            try:
                second = future.result()
            except (BrokenProcessPool, OSError, EOFError):  # the child died (memory?): its part here
                second = None
        if second is None:
            second = [fn(k) for k in rest]
        return first + second
    finally:
        if ex is not None:
            ex.shutdown(wait=True, cancel_futures=True)
        _WORK = None
