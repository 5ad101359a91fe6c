"""The same tree on every x86 CPU: torch's and NumPy's CPU kernels pinned to one instruction set.

torch picks its matrix kernels by the CPU it runs on (MKL and oneDNN dispatch to AVX-512, AVX-512 with VNNI/BF16
or AVX2 code), and those round the last bits differently: on the bundled sample, vectors 3.5e-7 apart moved
enough clusters that the quickstart's node ids differed between two machines. By default, before torch is
loaded, the workbench asks MKL for its conditional-numerical-reproducibility branch ``COMPATIBLE,STRICT`` (SSE2
code, the same results on Intel and on other vendors' x86 CPUs, whatever the thread count or memory alignment:
MKL honours its ``AVX2`` branch on Intel CPUs only; on an AMD EPYC every other branch gave the same vectors as
its own dispatch, and a quickstart tree unlike an Intel machine's), ATen for its AVX2 kernels, and
turns oneDNN off for fp32 inference (``torch.backends.mkldnn``), so every matrix product goes through MKL. This
costs torch about half of its speed (on an AMD EPYC 267 against 531 values per CPU-second on the bundled sample
with the AVX2 branch; the AVX2 branch itself cost a third on an Intel AVX-512 machine). NumPy does the same with its own kernels (its AVX-512 ``exp`` and reductions round unlike its
AVX2 ones, and the layouts amplify that): its AVX-512 dispatch is turned off (``NPY_DISABLE_CPU_FEATURES``), so
it runs the AVX2 code every x86-64 machine of the last decade has. ``TAXO_CPU_KERNELS=native`` leaves both
libraries their own choice (fastest, machine-dependent last bits). Variables the user set (``MKL_CBWR``,
``ATEN_CPU_CAPABILITY``, ``NPY_DISABLE_CPU_FEATURES``) are never overridden. ``import taxonomy`` (or
``embeddings``) sets them, so they take effect for the ``taxo`` command and for a Python session that imports
the workbench before NumPy and torch; imported after them, they keep their own choice. The ONNX backends are not affected (ONNX Runtime picks
its own kernels by CPU; their vectors can differ between CPUs in the last bits).
"""

from __future__ import annotations

import os

#: MKL's conditional numerical reproducibility branch (MKL_CBWR) the workbench asks for
MKL_BRANCH = "COMPATIBLE,STRICT"


def reproducible() -> bool:
    """Whether torch's kernels are pinned (``TAXO_CPU_KERNELS`` is not "native")."""
    return os.environ.get("TAXO_CPU_KERNELS", "reproducible").strip().lower() != "native"


#: NumPy's AVX-512 dispatch targets (NumPy 2.x), turned off
NUMPY_AVX512 = "AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL"


def pin_cpu_kernels() -> None:
    """Ask MKL, ATen and NumPy for their AVX2 code (environment variables they read when first loaded)."""
    if not reproducible():
        return
    os.environ.setdefault("MKL_CBWR", MKL_BRANCH)
    os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")
    os.environ.setdefault("NPY_DISABLE_CPU_FEATURES", NUMPY_AVX512)


def configure_torch(device: str | None) -> None:
    """oneDNN off for fp32 CPU inference when the kernels are pinned (its JIT kernels follow the CPU)."""
    if not reproducible() or (device and device != "cpu"):
        return
    import torch

    torch.backends.mkldnn.enabled = False
