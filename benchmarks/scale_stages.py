"""In-process stage costs of the default method's fit on stand-in vectors (``surrogate.py``), as ``fit`` runs
them above 20,000 values (``UMAPKMeans.fit``'s large-input path): wall and CPU seconds and the load average per
stage, one markdown row each.

    .venv/bin/python benchmarks/scale_stages.py 100000 [SURROGATE_CACHE_DIR] [--threads N] [--parts] [--levels 8333,204,5]

The thread budget is ``taxonomy.threads.thread_budget`` (``--threads N`` sets ``TAXO_THREADS=N``; set 2 to use
both cores). ``--parts`` also lists what each layout spends in its own kNN search, fuzzy graph, start and SGD
(sub-rows, already counted in their stage). The last line is a hash of every level's labels, to check that a
change meant to be a pure speed-up leaves the tree as it was (and that 1 and 2 threads give the same tree).
"""
import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ap = argparse.ArgumentParser()
ap.add_argument("n", type=int)
ap.add_argument("cache", nargs="?", default=None, help="cache directory of the stand-in vectors' parts")
ap.add_argument("--threads", type=int, default=None, help="TAXO_THREADS for this run")
ap.add_argument("--parts", action="store_true", help="sub-rows: each layout's kNN / fuzzy graph / start / SGD")
ap.add_argument("--save", default=None, help="write each stage's output here (stages.npz), to compare runs")
ap.add_argument("--levels", default=None, help="fixed clusters per level, e.g. 8333,204,5 (default: auto_levels(n))")
args = ap.parse_args()
if args.threads is not None:
    os.environ["TAXO_THREADS"] = str(args.threads)

import numpy as np  # noqa: E402

import surrogate  # noqa: E402
from taxonomy.cluster import _layout, auto_levels, umap_kmeans  # noqa: E402
from taxonomy.cluster._common import as_weights, kmeans_exact, upper_levels  # noqa: E402
from taxonomy.cluster.umap_kmeans import UMAPKMeans  # noqa: E402
from taxonomy.threads import thread_budget  # noqa: E402

n = args.n
_, X = surrogate.surrogate_embeddings(n, seed=0, cache_dir=args.cache)
levels = [int(x) for x in args.levels.split(",")] if args.levels else auto_levels(n)
print("levels", levels, "threads", thread_budget(), flush=True)
print("| stage | wall s | CPU s | load |\n|---|---|---|---|", flush=True)
tot = [0.0, 0.0]
parts: list[list] = []  # [label, wall, cpu] of the layout functions called inside the current stage
depth = [0]


def clock():
    return time.perf_counter(), time.process_time()


def T(label, f, *a, **k):
    parts.clear()
    (w0, c0) = clock()
    r = f(*a, **k)
    w1, c1 = clock()
    w, c = w1 - w0, c1 - c0
    tot[0] += w
    tot[1] += c
    print(f"| {label} | {w:.1f} | {c:.1f} | {os.getloadavg()[0]:.1f} |", flush=True)
    for name, pw, pc in parts:
        print(f"| &nbsp;&nbsp;{name} | {pw:.1f} | {pc:.1f} | |", flush=True)
    return r


def timed(name, f):
    """``f`` with its own (exclusive) wall and CPU time added to ``parts`` when called at the top level."""

    def wrapper(*a, **k):
        depth[0] += 1
        w0, c0 = clock()
        inner = sum(p[1] for p in parts), sum(p[2] for p in parts)
        try:
            return f(*a, **k)
        finally:
            depth[0] -= 1
            w1, c1 = clock()
            iw, ic = sum(p[1] for p in parts) - inner[0], sum(p[2] for p in parts) - inner[1]
            rows = a[0].shape[0]
            parts.append([f"{name} ({rows} rows)", w1 - w0 - iw, c1 - c0 - ic])

    return wrapper


if args.parts:
    for fn in ("knn", "fuzzy_graph", "spectral_init", "pca_init", "layout"):
        setattr(_layout, fn, timed(fn if fn != "layout" else "SGD", getattr(_layout, fn)))

m = UMAPKMeans(seed=0)
w = as_weights(None, n, "none")
D, I = T(f"kNN graph, 14 neighbours ({_layout.knn_engine(n)})", _layout.knn, X, 14)
G = T("fuzzy graph", _layout.fuzzy_graph, D, I)
ep = _layout.layout_epochs(n, 200)
Y0 = T("local layout: PCA init", _layout.pca_init, X, 10, 0)
sgd = umap_kmeans.LARGE_SGD
Y = T(f"local layout: SGD ({ep} epochs, {sgd})", _layout.layout, G, 10, 0, ep, init=Y0, sgd=sgd)
l1 = T(f"level-1 k-means (faiss engine, {umap_kmeans.LARGE_N_INIT} restart, {umap_kmeans.LARGE_MAX_ITER} iterations)",
       kmeans_exact, Y, levels[0], w, 0, n_init=umap_kmeans.LARGE_N_INIT, max_iter=umap_kmeans.LARGE_MAX_ITER)
glob = T(f"upper layout on {levels[0]} centroids", _layout.centroid_layout, X, l1, levels[0], w,
         dict(m._upper_spec(), sgd=sgd), 0)
ups = T(f"upper levels (consensus k-means, {umap_kmeans.LARGE_UPPER_THREADS} thread)", upper_levels, glob, l1, levels,
        w, m._upper_fn(0, threads=umap_kmeans.LARGE_UPPER_THREADS))
print(f"| **total clustering** | {tot[0]:.1f} | {tot[1]:.1f} | |", flush=True)
from sklearn.metrics import normalized_mutual_info_score as nmi  # noqa: E402

import synthetic  # noqa: E402

family_of = {hd: f for f, heads in synthetic.FAMILIES.items() for hd in heads}
phrase = synthetic.phrase_parts(n, 0)
head = np.unique([hd for _, hd, _ in phrase], return_inverse=True)[1]
fam = np.unique([family_of[hd] for _, hd, _ in phrase], return_inverse=True)[1]
value_labels = [l1]
for u in ups:  # upper_levels gives each level's parent of every cluster below
    value_labels.append(np.asarray(u)[value_labels[-1]])
print("NMI per level vs the phrases' head (%d) / family (%d): %s" % (
    head.max() + 1, fam.max() + 1,
    "  ".join(f"L{i + 1} {nmi(head, v):.4f} / {nmi(fam, v):.4f}" for i, v in enumerate(value_labels))), flush=True)
if args.save:
    Path(args.save).mkdir(parents=True, exist_ok=True)
    np.savez(Path(args.save) / "stages.npz", D=D, I=I, Y0=Y0, Y=Y, l1=l1, glob=glob,
             **{f"L{i + 1}": v for i, v in enumerate(value_labels)})
h = hashlib.sha256()
for lab in value_labels:
    h.update(np.ascontiguousarray(lab, dtype=np.int64).tobytes())
print("labels sha256", h.hexdigest()[:16], flush=True)
