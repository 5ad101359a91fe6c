"""Build quality against the published Values-in-the-Wild taxonomy.

Embeds the 3,307 reference values with the bundled all-MiniLM-L6-v2, builds a hierarchy with the counts of the
published tree (266 / 26 / 5) using each method and seed, and scores each value's ancestor at levels 1, 2, 3
against the published tree: NMI (sklearn, arithmetic), ARI, and a weighted NMI where each value counts in
proportion to its ``pct_convos``. Writes a markdown table and a JSON file with every run.

    .venv/bin/python benchmarks/build_quality.py [--seeds 0 1 2] [--out benchmarks/results/build_quality.md]

Methods: the workbench's default method, every other registered method (``kmeans`` = plain hierarchical k-means,
``hdbscan``), and BERTopic 0.17 with k-means (266 clusters) + ``reduce_topics`` to 26 then 5 (needs
``pip install bertopic``; skipped with a note if it is missing). Nothing here is used to fit any method: the
reference tree is only read to score.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import taxonomy  # noqa: E402,F401  (before NumPy and torch load: pins their CPU kernels, see taxonomy.kernels)
import numpy as np  # noqa: E402
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score  # noqa: E402

REFDATA = Path("/work/shared/refdata/values-in-the-wild")
ROOT = Path(__file__).resolve().parent.parent
# per-level NMI measured by others on this data (README of the reference data)
PUBLISHED_BASELINES = {
    "hierarchical k-means (README)": [0.68, 0.27, 0.17],
    "BERTopic k-means + reduce_topics (README)": [0.69, 0.27, 0.01],
    "BERTopic UMAP+HDBSCAN + reduce_topics (README)": [0.62, 0.19, 0.03],
}


# ------------------------------------------------------------------------------------------------ data
def load_reference(refdata: Path):
    values, weights = [], []
    with open(refdata / "values_frequencies.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            values.append(row["value"])
            weights.append(float(row["pct_convos"]))
    parent = {}
    with open(refdata / "values_tree.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            parent[(int(row["level"]), row["cluster_id"])] = row["parent_cluster_id"]

    def ancestor(value: str, level: int) -> str:
        node = value
        for lv in range(level):
            node = parent[(lv, node)]
        return node

    ref = {}
    for level in (1, 2, 3):
        ids = [ancestor(v, level) for v in values]
        ref[level] = np.unique(ids, return_inverse=True)[1]
    levels = [int(ref[lv].max()) + 1 for lv in (1, 2, 3)]
    return values, np.asarray(weights), ref, levels


def embed(values: list[str], cache: Path | None, model_name: str = "minilm", backend: str = "torch") -> np.ndarray:
    """The values' vectors as ``taxo build`` makes them: the workbench's own embedder (its batching, longest first,
    and on torch its pinned kernels with oneDNN off), not a direct SentenceTransformer call, whose other batches
    round the last bits differently (up to 1.5e-7 in a fifth of the rows), enough to move single seeds."""
    key = hashlib.sha256("\n".join(values).encode()).hexdigest()[:16]
    path = None
    if cache is not None:  # "-torch-": the direct SentenceTransformer vectors of earlier runs were "minilm-<key>"
        path = cache / f"{model_name}-{backend}-{key}.npy"
        if path.exists():
            return np.load(path)
    import tempfile

    from embeddings import Embedder

    with tempfile.TemporaryDirectory() as tmp:
        X = Embedder(model="mpnet" if model_name == "mpnet" else None, cache_dir=tmp, use_cache=False,
                     backend=backend, device="cpu").embed(values)
    X = np.asarray(X, dtype=np.float32)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, X)
    return X


def kernels_note() -> str:
    """How torch's and NumPy's CPU kernels ran (``taxonomy.kernels``), for the results' header."""
    from taxonomy.kernels import reproducible

    if not reproducible():
        return "kernels native (TAXO_CPU_KERNELS=native)"
    return f"kernels pinned (MKL_CBWR={os.environ.get('MKL_CBWR')}, ATEN_CPU_CAPABILITY={os.environ.get('ATEN_CPU_CAPABILITY')})"


def load_note() -> str:
    return "load average " + " / ".join(f"{x:.1f}" for x in os.getloadavg()) + " (1 / 5 / 15 min) at the end"


# ------------------------------------------------------------------------------------------------ scores
def weighted_nmi(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> float:
    """NMI (arithmetic normalisation) of two labelings where item i has probability mass w_i."""
    a = np.unique(a, return_inverse=True)[1]
    b = np.unique(b, return_inverse=True)[1]
    P = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(P, (a, b), w)
    P /= P.sum()
    pa, pb = P.sum(1), P.sum(0)
    nz = P > 0
    mi = float((P[nz] * np.log(P[nz] / np.outer(pa, pb)[nz])).sum())
    ha = float(-(pa[pa > 0] * np.log(pa[pa > 0])).sum())
    hb = float(-(pb[pb > 0] * np.log(pb[pb > 0])).sum())
    denom = (ha + hb) / 2
    return mi / denom if denom > 0 else 1.0


def score(value_labels: dict[int, np.ndarray], ref: dict[int, np.ndarray], w: np.ndarray) -> dict:
    out = {}
    for lv in (1, 2, 3):
        out[f"nmi_l{lv}"] = float(normalized_mutual_info_score(ref[lv], value_labels[lv]))
        out[f"ari_l{lv}"] = float(adjusted_rand_score(ref[lv], value_labels[lv]))
        out[f"wnmi_l{lv}"] = weighted_nmi(ref[lv], value_labels[lv], w)
    return out


# ------------------------------------------------------------------------------------------------ runners
def run_method(name: str, X: np.ndarray, w: np.ndarray, levels: list[int], seed: int, params: dict | None = None):
    from taxonomy.cluster import get_method

    method = get_method(name, seed=seed, **(params or {}))
    t, c = time.perf_counter(), time.process_time()
    h = method.fit(X, levels, sample_weight=w)
    dt, dc = time.perf_counter() - t, time.process_time() - c
    h.validate(len(X), levels)
    LAST_FIT["labels"] = h.labels
    params = {k: v if v is None or isinstance(v, str | int | float | bool) else repr(v)
              for k, v in method.get_params().items()}
    return {lv: h.value_labels(lv) for lv in (1, 2, 3)}, (dt, dc), params


LAST_FIT: dict = {}


def name_scores(values, X, w, labels, ref_tree, embedder, ref_top) -> dict:
    """Name the fitted tree with the offline summarizer; name fidelity per level for it and for the trivial floor
    (heaviest member), and the share of same-word pairs in one level-1 node that the published tree puts under
    different top categories (opposites grouped by a shared word). ``embedder``: the namer's (as ``taxo build``
    hands it over) and the scores' embedder."""
    from taxonomy.build import assemble_tree
    from taxonomy.naming import summarize_tree
    from taxonomy.compare import compare_trees
    from taxonomy.summarize import OfflineSummarizer

    tree, vl = assemble_tree(values, w, [1] * len(values), None, labels)
    t = time.perf_counter()
    summarize_tree(tree, X, vl, OfflineSummarizer(), embedder=embedder)
    out = {"naming_seconds": time.perf_counter() - t}
    res = compare_trees(tree, ref_tree, embed=embedder.embed)
    for lc in res.levels:
        out[f"names_l{lc.level}"] = lc.name_fidelity
        out[f"floor_l{lc.level}"] = lc.name_fidelity_floor
    # opposites: pairs of values in one level-1 node sharing a word, split by the published top level
    l1 = vl[0]
    same = split = 0
    for c in range(int(l1.max()) + 1):
        idx = np.nonzero(l1 == c)[0]
        by_word: dict[str, list[int]] = {}
        for i in idx:
            for word in set(values[i].lower().replace("-", " ").split()):
                if len(word) > 3:
                    by_word.setdefault(word, []).append(int(i))
        for members in by_word.values():
            for a in range(len(members)):
                for b in range(a + 1, len(members)):
                    same += 1
                    split += int(ref_top[members[a]] != ref_top[members[b]])
    out["opposites"] = split / same if same else 0.0
    out["top_names"] = [n.name for n in sorted(tree.nodes_at(3), key=lambda n: -n.weight)]
    return out


def run_bertopic(values: list[str], X: np.ndarray, levels: list[int], seed: int):
    """BERTopic with a k-means 'clustering model' (levels[0] topics), then reduce_topics to each upper count.

    UMAP as BERTopic's default (15 neighbours, 5 dims, min_dist 0, cosine) but seeded for reproducibility.
    reduce_topics merges whole topics (agglomerative clustering of c-TF-IDF vectors), so levels nest.
    """
    from bertopic import BERTopic
    from sklearn.cluster import KMeans
    from umap import UMAP

    t, c = time.perf_counter(), time.process_time()
    umap_model = UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=seed)
    model = BERTopic(
        umap_model=umap_model,
        hdbscan_model=KMeans(n_clusters=levels[0], random_state=seed),
        embedding_model=None,
        calculate_probabilities=False,
    )
    model.fit_transform(values, embeddings=X)
    labels = {1: np.asarray(model.topics_)}
    for lv, k in zip((2, 3), levels[1:], strict=True):
        model.reduce_topics(values, nr_topics=k)
        labels[lv] = np.asarray(model.topics_)
    dt = (time.perf_counter() - t, time.process_time() - c)
    for lv in (1, 2, 3):
        assert len(np.unique(labels[lv])) == levels[lv - 1], f"BERTopic level {lv}: {len(np.unique(labels[lv]))}"
    for lv in (2, 3):  # nested: every lower topic has a single parent
        pairs = np.unique(np.stack([labels[lv - 1], labels[lv]]), axis=1)
        assert len(np.unique(pairs[0])) == pairs.shape[1], f"BERTopic level {lv} does not nest"
    import bertopic

    return labels, dt, {"bertopic": bertopic.__version__, "cluster_model": f"KMeans({levels[0]})"}


# ------------------------------------------------------------------------------------------------ report
METRICS = [f"{m}_l{lv}" for m in ("nmi", "ari", "wnmi") for lv in (1, 2, 3)]
NAME_METRICS = [f"{m}_l{lv}" for m in ("names", "floor") for lv in (1, 2, 3)] + ["opposites"]


def summarize(runs: list[dict]) -> dict:
    out = {}
    for m in [*METRICS, *NAME_METRICS, "seconds", "cpu_seconds"]:
        if not all(m in r for r in runs):
            continue
        vals = np.array([r[m] for r in runs])
        out[m] = {"mean": float(vals.mean()), "std": float(vals.std()), "values": vals.tolist()}
    return out


def markdown(results: dict, meta: dict) -> str:
    def cell(s, m, digits=3):
        return f"{s[m]['mean']:.{digits}f} ± {s[m]['std']:.{digits}f}"

    lines = [
        "# Build quality vs. the published Values-in-the-Wild tree",
        "",
        f"Generated by `{meta.get('command', 'benchmarks/build_quality.py')}` on {meta['date']} ({meta['machine']}"
        f"{', ' + meta['kernels'] if 'kernels' in meta else ''}{', ' + meta['load'] if 'load' in meta else ''}). "
        f"{meta['n_values']} values, levels {meta['levels']}, "
        f"{'all-mpnet-base-v2' if meta.get('model') == 'mpnet' else 'all-MiniLM-L6-v2'} embeddings (normalised"
        f"{', backend ' + meta['embed_backend'] if meta.get('embed_backend', 'torch') != 'torch' else ''}), "
        f"weights = `pct_convos`, seeds {meta['seeds']}. Mean ± std over seeds.",
        "",
        "## NMI per level (sklearn, arithmetic; 4 decimals because level 1 is close)",
        "",
        "| method | L1 | L2 | L3 | wall s / run | CPU s / run |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        if "error" in r:
            lines.append(f"| {name} | — | — | — | {r['error']} | |")
            continue
        s = r["summary"]
        lines.append(
            f"| {r['label']} | {cell(s, 'nmi_l1', 4)} | {cell(s, 'nmi_l2', 4)} | {cell(s, 'nmi_l3', 4)} | "
            f"{s['seconds']['mean']:.1f} ± {s['seconds']['std']:.1f} | "
            f"{s['cpu_seconds']['mean']:.1f} ± {s['cpu_seconds']['std']:.1f} |"
        )
    for name, v in PUBLISHED_BASELINES.items():
        lines.append(f"| *{name}* | {v[0]:.2f} | {v[1]:.2f} | {v[2]:.2f} | | |")
    for title, key in (("ARI per level", "ari"), ("Weighted NMI per level (each value weighs its pct_convos)", "wnmi")):
        lines += ["", f"## {title}", "", "| method | L1 | L2 | L3 |", "|---|---|---|---|"]
        for name, r in results.items():
            if "error" in r:
                continue
            s = r["summary"]
            lines.append(f"| {r['label']} | {cell(s, key + '_l1')} | {cell(s, key + '_l2')} | {cell(s, key + '_l3')} |")
    lines += ["", "## Name fidelity per level (offline namer; floor = each node named after its heaviest value)", "",
              "Size-weighted MiniLM cosine between each node's name and the name of the published node sharing most",
              "values (`taxonomy.compare`). *opposites*: share of same-word value pairs in one level-1 node that the",
              "published tree puts under different top categories.", "",
              "| method | names L1 | names L2 | names L3 | floor L1 | floor L2 | floor L3 | opposites |",
              "|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        s = r.get("summary", {})
        if "names_l1" not in s:
            continue
        lines.append(f"| {r['label']} | " + " | ".join(cell(s, m) for m in NAME_METRICS) + " |")
    lines += ["", "## Agreement between seeds (ARI of the value labels, every pair of seeds)", "",
              "| method | L1 | L2 | L3 |", "|---|---|---|---|"]
    for name, r in results.items():
        if "seed_ari" in r:
            lines.append(f"| {r['label']} | " + " | ".join(
                f"{r['seed_ari'][f'l{lv}']['mean']:.3f} ± {r['seed_ari'][f'l{lv}']['std']:.3f}" for lv in (1, 2, 3)
            ) + " |")
    lines += [
        "",
        "## Every run",
        "",
        "| method | seed | NMI L1 | NMI L2 | NMI L3 | ARI L1 | ARI L2 | ARI L3 | wall s | CPU s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        for run in r.get("runs", []):
            lines.append(
                f"| {name} | {run['seed']} | "
                + " | ".join(f"{run[m]:.3f}" for m in ("nmi_l1", "nmi_l2", "nmi_l3", "ari_l1", "ari_l2", "ari_l3"))
                + f" | {run['seconds']:.1f} | {run['cpu_seconds']:.1f} |"
            )
    lines += [
        "",
        "Times: wall-clock and process CPU seconds (all threads) of one fit, embeddings precomputed, all methods",
        "run in turn in one process; the first run of a method includes one-off imports. On a shared machine the",
        "wall time depends on the load; CPU seconds are the steadier number. BERTopic's time includes its UMAP",
        "(umap-learn computes all pairwise distances below 4,096 rows) and the two `reduce_topics` calls.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/build_quality.md")
    p.add_argument("--refdata", type=Path, default=REFDATA)
    p.add_argument(
        "--methods", nargs="+", default=None, help="subset of: registered method names and 'bertopic' (default: all)"
    )
    p.add_argument(
        "--cache",
        type=Path,
        default=Path("/tmp/taxo-bench-cache"),
        help="directory to cache the embeddings in ('none' to disable)",
    )
    p.add_argument("--model", choices=["minilm", "mpnet"], default="minilm",
                   help="embedding model of the values (names are always scored with MiniLM)")
    p.add_argument("--embed-backend", choices=["torch", "onnx", "onnx-int8"], default="torch",
                   help="how the values are embedded (names are always scored with torch fp32 MiniLM)")
    p.add_argument("--contrast", type=float, default=None, metavar="SHARE",
                   help="run the default method with the contrastive level-1 refinement adding this share of k "
                        "nodes by splits before merging back (taxonomy.cluster.contrast; residual phrases embedded "
                        "like the values)")
    p.add_argument("--contrast-parts", type=int, default=8, metavar="N",
                   help="with --contrast: the most parts one shared-word group is split into")
    args = p.parse_args(argv)

    from taxonomy.cluster import DEFAULT_METHOD, METHODS

    values, w, ref, levels = load_reference(args.refdata)
    cache = None if str(args.cache) == "none" else args.cache
    t = time.perf_counter()
    X = embed(values, cache, args.model, args.embed_backend)
    print(
        f"{len(values)} values embedded ({X.shape[1]} dims) in {time.perf_counter() - t:.1f}s; levels {levels}",
        flush=True,
    )

    names = [DEFAULT_METHOD, *[m for m in METHODS if m != DEFAULT_METHOD], "bertopic"]
    if args.methods:
        unknown = set(args.methods) - set(names)
        if unknown:
            p.error(f"unknown methods {sorted(unknown)}; choose from {names}")
        names = [n for n in names if n in args.methods]

    from embeddings import Embedder
    from taxonomy.reference import load_values_tree_csv

    ref_tree = load_values_tree_csv(args.refdata / "values_tree.csv")
    name_embedder = Embedder(cache_dir=cache / "names" if cache is not None else None)
    ref_top = ref[3]
    default_params = {}
    if args.contrast is not None:
        from taxonomy.cluster.contrast import Contrast

        residual_embed = Embedder(model="mpnet" if args.model == "mpnet" else None,
                                  cache_dir=cache / "residuals" if cache is not None else None,
                                  use_cache=cache is not None, backend=args.embed_backend, device="cpu").embed
        default_params["contrast"] = Contrast(values, residual_embed, share=args.contrast,
                                              max_parts=args.contrast_parts)
    results: dict[str, dict] = {}
    for name in names:
        all_labels: list[dict] = []
        label = f"**{name}** (default)" if name == DEFAULT_METHOD else name
        if name == DEFAULT_METHOD and default_params:
            label += f", {default_params['contrast']!r}"
        if name == "kmeans":
            label += " — hierarchical k-means"
        if name == "bertopic":
            label = "BERTopic k-means + reduce_topics"
        runs, params = [], None
        try:
            for seed in args.seeds:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if name == "bertopic":
                        labels, dt, params = run_bertopic(values, X, levels, seed)
                    else:
                        labels, dt, params = run_method(name, X, w, levels, seed,
                                                        default_params if name == DEFAULT_METHOD else None)
                run = {"seed": seed, "seconds": dt[0], "cpu_seconds": dt[1], **score(labels, ref, w)}
                if name == DEFAULT_METHOD:
                    run.update(name_scores(values, X, w, LAST_FIT["labels"], ref_tree, name_embedder, ref_top))
                    print("  names " + " / ".join(f"{run[f'names_l{lv}']:.3f}" for lv in (1, 2, 3))
                          + "  floor " + " / ".join(f"{run[f'floor_l{lv}']:.3f}" for lv in (1, 2, 3))
                          + f"  opposites {run['opposites']:.3f}  top: {run['top_names']}", flush=True)
                all_labels.append(labels)
                runs.append(run)
                print(
                    f"{name:12s} seed {seed}: NMI "
                    + " / ".join(f"{run[f'nmi_l{lv}']:.3f}" for lv in (1, 2, 3))
                    + f"  ARI "
                    + " / ".join(f"{run[f'ari_l{lv}']:.3f}" for lv in (1, 2, 3))
                    + f"  {dt[0]:.1f}s (cpu {dt[1]:.1f}s)",
                    flush=True,
                )
        except ImportError as exc:
            results[name] = {"label": label, "error": f"skipped: {exc}"}
            print(f"{name}: skipped ({exc})", flush=True)
            continue
        results[name] = {"label": label, "params": params, "runs": runs, "summary": summarize(runs)}
        if len(all_labels) > 1:
            agree = {}
            for lv in (1, 2, 3):
                vals = [adjusted_rand_score(all_labels[a][lv], all_labels[b][lv])
                        for a in range(len(all_labels)) for b in range(a + 1, len(all_labels))]
                agree[f"l{lv}"] = {"mean": float(np.mean(vals)), "std": float(np.std(vals))}
            results[name]["seed_ari"] = agree

    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "n_values": len(values),
        "levels": levels,
        "seeds": args.seeds,
        "default_method": DEFAULT_METHOD,
        "refdata": str(args.refdata),
        "model": args.model,
        "embed_backend": args.embed_backend,
        "command": "benchmarks/build_quality.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "kernels": kernels_note(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "load": load_note(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown(results, meta), encoding="utf-8")
    args.out.with_suffix(".json").write_text(
        json.dumps({"meta": meta, "published_baselines": PUBLISHED_BASELINES, "results": results}, indent=2),
        encoding="utf-8",
    )
    print(f"wrote {args.out} and {args.out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
