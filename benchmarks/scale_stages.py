"""In-process stage costs of the default method's fit on stand-in vectors (``surrogate.py``), as ``fit`` runs
them above 20,000 values (``UMAPKMeans.fit``'s large-input path): wall and CPU seconds and the load average per
stage, one markdown row each.

    .venv/bin/python benchmarks/scale_stages.py 100000 [SURROGATE_CACHE_DIR]

The thread budget is ``taxonomy.threads.thread_budget`` (set ``TAXO_THREADS=2`` to use both cores).
"""
import sys, time, os
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import surrogate
from taxonomy.cluster import _layout, auto_levels
from taxonomy.cluster._common import kmeans_exact, upper_levels, as_weights
from taxonomy.cluster import umap_kmeans
from taxonomy.cluster.umap_kmeans import UMAPKMeans
n = int(sys.argv[1])
_, X = surrogate.surrogate_embeddings(n, seed=0, cache_dir=sys.argv[2] if len(sys.argv) > 2 else None)
levels = auto_levels(n)
print("levels", levels, flush=True)
tot = [0.0, 0.0]
def T(label, f, *a, **k):
    w, c = time.perf_counter(), time.process_time()
    r = f(*a, **k)
    w, c = time.perf_counter() - w, time.process_time() - c
    tot[0] += w; tot[1] += c
    print(f"| {label} | {w:.1f} | {c:.1f} | {os.getloadavg()[0]:.1f} |", flush=True)
    return r
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
ups = T("upper levels (consensus k-means)", upper_levels, glob, l1, levels, w, m._upper_fn(0))
print(f"| total clustering | {tot[0]:.1f} | {tot[1]:.1f} | |", flush=True)
