"""How many threads the numeric stages (k-means, kNN search, embedding) may use.

On a small shared machine, more threads than free cores make everything slower: with the other core busy, two
OpenMP threads in scikit-learn's k-means burned 15-30x the CPU of one thread for identical results, and two torch
threads embedded at 164 values/s against 298/s with one. So the budget is the number of cores this process may
run on (``os.sched_getaffinity``) minus the load the rest of the machine puts on them (the 1-minute load
average), at least 1, and at most ``OMP_NUM_THREADS`` when that is set; ``TAXO_THREADS=N`` fixes it.

The budget is applied with ``threadpoolctl`` (BLAS and OpenMP pools, scikit-learn's included) and faiss's own
OpenMP setting, for the duration of a ``with thread_limit():`` block. Results never depend on it: every stage
that uses it is either order-independent or runs its order-sensitive part single-threaded.

:func:`worker_count` is for stages that split their work into independent tasks, each run start to end by one
thread (the ONNX embedding backends: one batch per task, one ONNX Runtime thread each). Such workers never wait
on each other and never spin, so a busy core costs them time but no CPU: they use every core this process may
run on, whatever the load (``TAXO_THREADS=N`` fixes the number).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from taxonomy.errors import UsageError

ENV = "TAXO_THREADS"


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _requested(requested: int | None) -> int | None:
    """``requested``, else ``$TAXO_THREADS``, else None; checked (>= 1)."""
    if requested is None:
        raw = os.environ.get(ENV, "").strip()
        if raw:
            try:
                requested = int(raw)
            except ValueError:
                raise UsageError(f"{ENV}={raw!r}: expected a whole number of threads (e.g. 2)") from None
    if requested is not None and requested < 1:
        raise UsageError(f"thread count must be at least 1, got {requested}")
    return None if requested is None else int(requested)


def worker_count(requested: int | None = None) -> int:
    """Independent single-threaded workers to run: ``requested``, else ``$TAXO_THREADS``, else the cores this
    process may run on (module docstring: the load does not lower it)."""
    chosen = _requested(requested)
    return available_cores() if chosen is None else chosen


def thread_budget(requested: int | None = None) -> int:
    """Threads to use: ``requested``, else ``$TAXO_THREADS``, else the cores not busy with other work (>= 1)."""
    requested = _requested(requested)
    if requested is not None:
        return requested
    cores = available_cores()
    try:
        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover
        load = 0.0
    # our own process is part of the load once it runs; count the rest of the machine only
    busy = max(0.0, load - 1.0)
    budget = max(1, min(cores, int(cores - busy + 0.5)))
    omp = os.environ.get("OMP_NUM_THREADS", "").strip()
    if omp.isdigit() and int(omp) >= 1:  # an explicit OpenMP limit is a ceiling too
        budget = min(budget, int(omp))
    return budget


@contextlib.contextmanager
def thread_limit(n: int | None = None) -> Iterator[int]:
    """Limit BLAS/OpenMP (threadpoolctl) and faiss to ``thread_budget(n)`` threads inside the block."""
    budget = thread_budget(n)
    from threadpoolctl import threadpool_limits

    faiss = None
    old = None
    try:
        import faiss as _faiss

        faiss = _faiss
        old = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(budget)
    except ImportError:  # pragma: no cover - faiss is a dependency
        pass
    try:
        with threadpool_limits(limits=budget):
            yield budget
    finally:
        if faiss is not None and old is not None:
            faiss.omp_set_num_threads(old)
