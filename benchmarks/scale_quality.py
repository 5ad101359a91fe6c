"""Does the large-input path cost quality? Per-level NMI on the published Values-in-the-Wild tree with the engines
that small inputs use (scikit-learn k-means, exact kNN) and with the engines large inputs switch to (faiss
k-means with regional k-means++ seeding, IVF kNN), forced on the 3,307 published values.

    .venv/bin/python benchmarks/scale_quality.py [--seeds 0 1 2 3 4 5 6 7 8 9] [--methods umap-kmeans kmeans]
        [--out benchmarks/results/scale_quality.md]

Same embeddings, levels (266 / 26 / 5), weights and scoring as ``build_quality.py`` (whose helpers it uses).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

import build_quality as bq  # noqa: E402

BIG = 10**18
CONFIGS = {
    "small-input engines (scikit-learn k-means, exact kNN)": {"faiss_min_work": BIG, "knn_exact_max": BIG},
    "large-input engines (faiss k-means, IVF kNN), forced": {"faiss_min_work": 0, "knn_exact_max": 0},
    # the large-input layouts (taxonomy.cluster._layout.LAYOUT_FULL_MAX): the global layout on the level-1
    # centroids, and the local layout's epochs scaled down, here to their floor of 50 (forced at 3,307 values)
    "large-input layouts (centroid global layout, 50 local epochs), forced": {
        "faiss_min_work": BIG, "knn_exact_max": BIG, "layout_full_max": 0},
    "all large-input paths, forced": {"faiss_min_work": 0, "knn_exact_max": 0, "layout_full_max": 0},
}


def surrogate_check(n: int, seed: int, cache: str) -> str:
    """The default method on ``n`` stand-in vectors (``surrogate.py``) with every layout of all values (as below
    ``LAYOUT_FULL_MAX``) and with the large-input layouts, in this process: NMI of level 2 against the phrases'
    head (160) and of level 3 against their family (16), and CPU seconds of each fit."""
    import numpy as np
    from sklearn.metrics import normalized_mutual_info_score as nmi

    import surrogate
    import synthetic
    from taxonomy.cluster import _layout, get_method

    _, X = surrogate.surrogate_embeddings(n, seed=0, cache_dir=cache)
    parts = synthetic.phrase_parts(n, 0)
    family_of = {h: f for f, heads in synthetic.FAMILIES.items() for h in heads}
    head = np.unique([h for _, h, _ in parts], return_inverse=True)[1]
    fam = np.unique([family_of[h] for _, h, _ in parts], return_inverse=True)[1]
    levels = [max(2, n // 12), int(head.max()) + 1, int(fam.max()) + 1]
    default = _layout.LAYOUT_FULL_MAX
    lines = [f"## Stand-in data: {n:,} values (`surrogate.py`), levels {levels}, seed {seed}", "",
             "| layouts | NMI L2 vs head | NMI L3 vs family | CPU s / fit | wall s / fit |", "|---|---|---|---|---|"]
    for label, full_max in (("every value, full epochs (as at ≤ 20,000 values)", BIG),
                            ("large-input layouts (default above 20,000 values)", default)):
        _layout.LAYOUT_FULL_MAX = full_max
        t, c = time.perf_counter(), time.process_time()
        h = get_method("umap-kmeans", seed=seed).fit(X, levels)
        t, c = time.perf_counter() - t, time.process_time() - c
        lines.append(f"| {label} | {nmi(head, h.value_labels(2)):.4f} | {nmi(fam, h.value_labels(3)):.4f} | "
                     f"{c:.1f} | {t:.1f} |")
        print(lines[-1], file=sys.stderr, flush=True)
    _layout.LAYOUT_FULL_MAX = default
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    ap.add_argument("--methods", nargs="+", default=["umap-kmeans"])
    ap.add_argument("--configs", type=int, nargs="+", default=list(range(len(CONFIGS))),
                    help="which configurations (0-based, in the order listed in the source)")
    ap.add_argument("--refdata", default=str(bq.REFDATA))
    ap.add_argument("--cache", default="/tmp/taxo-bench-cache")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "scale_quality.md"))
    ap.add_argument("--surrogate", type=int, default=0, help="also compare the layouts on this many stand-in values")
    args = ap.parse_args()
    if args.surrogate:
        text = surrogate_check(args.surrogate, args.seeds[0], str(Path(args.cache) / "parts"))
        Path(args.out).write_text(text)
        print(text)
        return

    from taxonomy.cluster import _common, _layout

    layout_default = _layout.LAYOUT_FULL_MAX

    values, w, ref, levels = bq.load_reference(Path(args.refdata))
    X = bq.embed(values, Path(args.cache) if args.cache != "none" else None)
    results: dict = {}
    for method in args.methods:
        for i, (label, cfg) in enumerate(CONFIGS.items()):
            if i not in args.configs:
                continue
            _common.FAISS_MIN_WORK = cfg["faiss_min_work"]
            _layout.KNN_EXACT_MAX = cfg["knn_exact_max"]
            _layout.LAYOUT_FULL_MAX = cfg.get("layout_full_max", layout_default)
            runs = []
            for seed in args.seeds:
                labels, (dt, dc), _ = bq.run_method(method, X, w, levels, seed)
                runs.append({"seed": seed, **bq.score(labels, ref, w), "seconds": dt, "cpu_seconds": dc})
                print(f"{method} | {label} | seed {seed}: NMI {runs[-1]['nmi_l1']:.4f} / {runs[-1]['nmi_l2']:.4f} / "
                      f"{runs[-1]['nmi_l3']:.4f} ({dt:.1f} s)", file=sys.stderr, flush=True)
            results[f"{method} | {label}"] = {"runs": runs, "summary": bq.summarize(runs)}
    lines = [
        "# Quality of the large-input engines on the published values",
        "",
        f"Generated by `benchmarks/scale_quality.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"{len(values)} values, levels {levels}, seeds {args.seeds}; mean ± std over seeds (population std).",
        "",
        "| method | engines | NMI L1 | NMI L2 | NMI L3 | weighted NMI L1 | s / fit |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, r in results.items():
        method, label = key.split(" | ")
        s = r["summary"]

        def cell(m, s=s):
            return f"{s[m]['mean']:.4f} ± {s[m]['std']:.4f}"

        lines.append(f"| {method} | {label} | {cell('nmi_l1')} | {cell('nmi_l2')} | {cell('nmi_l3')} | "
                     f"{cell('wnmi_l1')} | {s['seconds']['mean']:.1f} |")
    text = "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    Path(args.out).with_suffix(".json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    print(text)


if __name__ == "__main__":
    main()
