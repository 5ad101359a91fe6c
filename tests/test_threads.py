"""taxonomy.threads.worker_count: independent workers (the ONNX embedding backends) use every core, whatever
the load; thread_budget (k-means, kNN, torch) still yields to it."""

from __future__ import annotations

import os

import pytest

from taxonomy import threads
from taxonomy.errors import UsageError


def test_worker_count_ignores_the_load_but_not_an_explicit_number(monkeypatch):
    monkeypatch.delenv("TAXO_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setattr(threads, "available_cores", lambda: 4)
    monkeypatch.setattr(os, "getloadavg", lambda: (9.0, 9.0, 9.0))
    assert threads.worker_count() == 4  # a busy machine, and OpenMP's limit (not an OpenMP pool)
    assert threads.thread_budget() == 1  # the budget of the OpenMP / BLAS stages is as before
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert threads.thread_budget() == 4
    assert threads.worker_count(3) == 3
    monkeypatch.setenv("TAXO_THREADS", "2")
    assert threads.worker_count() == 2 and threads.thread_budget() == 2
    monkeypatch.setenv("TAXO_THREADS", "many")
    with pytest.raises(UsageError, match="TAXO_THREADS='many'"):
        threads.worker_count()
    with pytest.raises(UsageError, match="at least 1"):
        threads.worker_count(0)
