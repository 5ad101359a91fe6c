"""The CPU kernels are pinned (taxonomy.kernels): the same vectors whatever instruction set the libraries would
otherwise pick, so a build gives the same tree on another machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

EMBED = """
import sys
import taxonomy  # first, as the taxo command does
import numpy as np
from embeddings import Embedder
from taxonomy.api import sample_path
import csv
vals = [r["value"] for r in csv.DictReader(open(sample_path()))][:120]
np.save(sys.argv[1], Embedder(use_cache=False).embed(vals))
"""


def _run(code: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items()
            if k not in ("MKL_CBWR", "ATEN_CPU_CAPABILITY", "NPY_DISABLE_CPU_FEATURES", "TAXO_CPU_KERNELS")}
    base["PYTHONPATH"] = str(ROOT) + os.pathsep + base.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT,
                          env={**base, **env}, timeout=600, check=True)


def test_importing_the_workbench_pins_the_kernels_unless_told_otherwise():
    code = ("import os, taxonomy, numpy; from numpy._core._multiarray_umath import __cpu_features__ as f; "
            "print(os.environ.get('MKL_CBWR'), os.environ.get('ATEN_CPU_CAPABILITY'), f['AVX512F'])")
    assert _run(code).stdout.split() == ["COMPATIBLE,STRICT", "avx2", "False"]
    native = _run(code, TAXO_CPU_KERNELS="native").stdout.split()
    assert native[:2] == ["None", "None"]
    # a variable the user set is kept
    assert _run(code, MKL_CBWR="AVX512").stdout.split()[0] == "AVX512"


def test_vectors_do_not_depend_on_the_instruction_set_or_the_threads(tmp_path):
    """oneDNN limited to SSE4.1, one thread: with the kernels pinned the vectors are bit for bit the same."""
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    _run(EMBED, str(a))
    _run(EMBED, str(b), ONEDNN_MAX_CPU_ISA="SSE41", DNNL_MAX_CPU_ISA="SSE41", OMP_NUM_THREADS="1",
         TAXO_THREADS="1")
    va, vb = np.load(a), np.load(b)
    assert va.shape == (120, 384)
    assert np.array_equal(va, vb)
