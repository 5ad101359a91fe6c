"""The naming stage of `taxo build` alone, on a stored fit: its CPU time and its every name and description.

A fit is what the stage takes: the values (texts, weights, counts, ids), their vectors and the clusterer's
labels, made by the build's own stages (``load_values``, ``embed_values``, ``cluster_values``) and kept in one
``.npz``, so that the naming stage can be rerun, timed and compared without embedding or clustering again.

    # a fit from a database that `taxo ingest` filled (the build's own stages, its defaults)
    .venv/bin/python benchmarks/name_stage.py fit --db sqlite:////tmp/x.db --levels auto --seed 0 \\
        --embed-backend onnx-int8 -o /tmp/fit100k.npz
    # a fit of the published values (values_frequencies.csv, weights = pct_convos)
    .venv/bin/python benchmarks/name_stage.py fit --refdata /work/shared/refdata/values-in-the-wild -o /tmp/ref.npz
    # the stage as the build runs it (``name_clusters``): CPU-s, wall, and every node's name and description
    .venv/bin/python benchmarks/name_stage.py run /tmp/fit100k.npz -o /tmp/names100k.json [--profile out.prof]
    # byte-for-byte comparison of two runs
    .venv/bin/python benchmarks/name_stage.py compare /tmp/before.json /tmp/after.json

``run`` prints one line: nodes per level, CPU-s (``time.process_time()`` of the stage, this process only) and wall.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

import taxonomy  # noqa: E402,F401  (before NumPy: pins the CPU kernels, see taxonomy.kernels)
import numpy as np  # noqa: E402


def fit_from_db(db: str, levels: str, seed: int, backend: str, cache_dir: str | None, top: int) -> dict:
    from taxonomy.build import cluster_values, embed_values, load_values, parse_levels
    from taxonomy.cluster import DEFAULT_METHOD, get_method
    from taxonomy.progress import NullProgress

    values = load_values(db, levels=parse_levels(levels), top=top)
    embedder, X = embed_values(values.texts, model=None, cache_dir=cache_dir, batch_size=64,
                               progress=NullProgress(), backend=backend)
    fitted, _, _ = cluster_values(X, values, get_method(DEFAULT_METHOD, seed=seed), None, embedder.embed,
                                  NullProgress())
    return {"texts": values.texts, "weights": values.weights, "counts": values.counts, "ids": values.ids, "X": X,
            "labels": fitted.labels}


def fit_from_refdata(refdata: Path, levels: str, seed: int, backend: str, cache_dir: str | None, top: int) -> dict:
    from embeddings import Embedder
    from taxonomy.build import parse_levels
    from taxonomy.cluster import DEFAULT_METHOD, auto_levels, get_method

    texts, weights = [], []
    with open(refdata / "values_frequencies.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            texts.append(row["value"])
            weights.append(float(row["pct_convos"]))
    w = np.array(weights, dtype=np.float64)
    X = Embedder(cache_dir=cache_dir, backend=backend).embed(texts)
    lv = parse_levels(levels)
    counts = auto_levels(len(texts), top=top) if lv == "auto" else lv
    fitted = get_method(DEFAULT_METHOD, seed=seed).fit(X, counts, sample_weight=w)
    return {"texts": texts, "weights": w, "counts": [1] * len(texts), "ids": list(range(1, len(texts) + 1)), "X": X,
            "labels": fitted.labels}


def save_fit(path: Path, fit: dict) -> None:
    arrays = {"texts": np.array(fit["texts"], dtype=object), "weights": fit["weights"],
              "counts": np.asarray(fit["counts"], dtype=np.int64), "ids": np.asarray(fit["ids"], dtype=np.int64),
              "X": np.asarray(fit["X"])}
    for i, lab in enumerate(fit["labels"]):
        arrays[f"l{i}"] = np.asarray(lab)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def load_fit(path: Path) -> dict:
    data = np.load(path, allow_pickle=True)
    n_levels = sum(1 for k in data.files if k.startswith("l") and k[1:].isdigit())
    return {"texts": [str(t) for t in data["texts"]], "weights": data["weights"], "counts": data["counts"].tolist(),
            "ids": data["ids"].tolist(), "X": data["X"], "labels": [data[f"l{i}"] for i in range(n_levels)]}


def run_stage(fit: dict, profile: Path | None = None):
    """``taxonomy.build.name_clusters`` on the fit, with the build's summarizer; the tree, CPU-s and wall."""
    from taxonomy.build import DEFAULT_ID_PREFIX, LoadedValues, name_clusters
    from taxonomy.progress import NullProgress
    from taxonomy.summarize import DEFAULT_SUMMARIZER
    from taxonomy.summarize.llm import summarizer_for_build

    values = LoadedValues(texts=fit["texts"], weights=np.asarray(fit["weights"], dtype=np.float64),
                          counts=fit["counts"], ids=fit["ids"], coverage=None, batches=[],
                          level_counts=[int(np.max(lab)) + 1 for lab in fit["labels"]])
    summ = summarizer_for_build(DEFAULT_SUMMARIZER, seed=0)
    prof = None
    if profile is not None:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    c0, w0 = time.process_time(), time.perf_counter()
    tree = name_clusters(values, fit["X"], fit["labels"], summ, None, id_prefix=DEFAULT_ID_PREFIX, progress=NullProgress())
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    if prof is not None:
        prof.disable()
        prof.dump_stats(str(profile))
    return tree, cpu, wall


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fit")
    src = f.add_mutually_exclusive_group(required=True)
    src.add_argument("--db")
    src.add_argument("--refdata", type=Path)
    f.add_argument("--levels", default="auto")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--top", type=int, default=5)
    f.add_argument("--embed-backend", default="onnx-int8")
    f.add_argument("--cache-dir", default=None)
    f.add_argument("-o", "--out", type=Path, required=True)
    r = sub.add_parser("run")
    r.add_argument("fit", type=Path)
    r.add_argument("-o", "--out", type=Path)
    r.add_argument("--profile", type=Path)
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = ap.parse_args(argv)

    if args.cmd == "fit":
        make = fit_from_db if args.db else fit_from_refdata
        fit = make(args.db or args.refdata, args.levels, args.seed, args.embed_backend, args.cache_dir, args.top)
        save_fit(args.out, fit)
        print(f"{len(fit['texts'])} values, levels {[int(np.max(x)) + 1 for x in fit['labels']]} -> {args.out}")
        return 0
    if args.cmd == "run":
        tree, cpu, wall = run_stage(load_fit(args.fit), args.profile)
        levels = sorted({n.level for n in tree.nodes.values()})
        per = [sum(1 for n in tree.nodes.values() if n.level == lv) for lv in levels]
        print(f"nodes {per}: {cpu:.2f} CPU-s, {wall:.2f} s wall")
        if args.out:
            out = {u: [n.name, n.description] for u, n in sorted(tree.nodes.items())}
            args.out.write_text(json.dumps(out, ensure_ascii=False, indent=0), encoding="utf-8")
        return 0
    a = json.loads(args.a.read_text(encoding="utf-8"))
    b = json.loads(args.b.read_text(encoding="utf-8"))
    diff = [u for u in sorted(set(a) | set(b)) if a.get(u) != b.get(u)]
    for u in diff[:10]:
        print(f"{u}\n  a: {a.get(u)}\n  b: {b.get(u)}")
    print(f"{len(a)} / {len(b)} nodes, {len(diff)} differ")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
