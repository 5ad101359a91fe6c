"""Name fidelity of the offline namer, on the published Values-in-the-Wild tree and on another domain.

For each seed, the default clustering method is fitted once on the 3,307 published values (MiniLM embeddings,
levels 266 / 26 / 5, weights = ``pct_convos``; the value labels are cached beside the embeddings, so a rerun only
renames), the tree is named with :class:`~taxonomy.summarize.offline.OfflineSummarizer`, and each level's name
fidelity is scored with ``taxonomy.compare`` (size-weighted MiniLM cosine between a node's name and the name of the
published node sharing most values) next to the trivial floor (each node named after its heaviest value), plus
the *opposites* rate of ``build_quality.py``. The other domain is the product-defects taxonomy made up for the
tests (``tests/data/defects_tree.csv``, 48 items, 12 / 6 / 3 nodes), renamed on its own partition: nothing of its
names is seen by the namer. Mean ± std over seeds.

    .venv/bin/python benchmarks/name_quality.py [--seeds 0 1 2] [--out benchmarks/results/name_quality.md]
                                                [--param NAME=VALUE ...]

``--param`` passes constructor parameters to the namer (to compare settings in one process).
"""

from __future__ import annotations

import argparse
import copy
import csv
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
ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import taxonomy  # noqa: E402,F401  (before NumPy and torch load: pins their CPU kernels, see taxonomy.kernels)
import numpy as np  # noqa: E402

from build_quality import REFDATA, embed, kernels_note, load_note, load_reference, name_scores  # noqa: E402

DEFECTS = ROOT / "tests" / "data" / "defects_tree.csv"


def fitted_labels(X: np.ndarray, w: np.ndarray, levels: list[int], seed: int, cache: Path | None):
    """The default method's labels (a list of per-level arrays, as ``Hierarchy.labels``), cached per seed."""
    from taxonomy.cluster import DEFAULT_METHOD, get_method

    method = get_method(DEFAULT_METHOD, seed=seed)
    key = f"labels-{DEFAULT_METHOD}-{seed}-{'-'.join(map(str, levels))}-{len(X)}.npz"
    path = cache / key if cache is not None else None
    if path is not None and path.exists():
        data = np.load(path)
        return [data[f"l{i}"] for i in range(len(data.files))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = method.fit(X, levels, sample_weight=w)
    labels = [np.asarray(x) for x in h.labels]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **{f"l{i}": x for i, x in enumerate(labels)})
    return labels


def defects_reference(path: Path = DEFECTS):
    """The product-defects taxonomy as a tree (items, weights, hand-written names at three levels)."""
    from taxonomy.domain import Leaf, Node, Tree

    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    tree = Tree()
    for r in rows:
        for lv, key, par in ((3, "top", None), (2, "group", "top"), (1, "cluster", "group")):
            uid = f"ref:l{lv}:{r[key]}"
            parent = f"ref:l{lv + 1}:{r[par]}" if par else None
            tree.nodes.setdefault(uid, Node(uid=uid, level=lv, name=r[key], description="", parent_uid=parent))
        tree.leaves.append(Leaf(text=r["item"], parent_uid=f"ref:l1:{r['cluster']}", weight=float(r["weight"])))
    return tree


def other_domain(embedder, params: dict) -> dict:
    """The defects tree renamed by the namer on its own partition, scored against its hand-written names."""
    from taxonomy.compare import compare_trees
    from taxonomy.naming import summarize_tree
    from taxonomy.summarize import OfflineSummarizer

    ref = defects_reference()
    texts = [leaf.text for leaf in ref.leaves]
    w = np.array([leaf.weight for leaf in ref.leaves])
    anc = ref.ancestors_by_level()
    labels = [np.unique(anc[lv], return_inverse=True)[1] for lv in (1, 2, 3)]
    ours = copy.deepcopy(ref)
    summarize_tree(ours, embedder.embed(texts), labels, OfflineSummarizer(**params), embedder=embedder)
    res = compare_trees(ours, ref, embed=embedder.embed)
    out = {}
    for lc in res.levels:
        out[f"names_l{lc.level}"] = lc.name_fidelity
        out[f"floor_l{lc.level}"] = lc.name_fidelity_floor
    out["names"] = {lv: [n.name for n in ours.nodes_at(lv)] for lv in (1, 2, 3)}
    return out


def ms(xs) -> str:
    xs = [float(x) for x in xs]
    return f"{np.mean(xs):.3f} ± {np.std(xs):.3f}" if len(xs) > 1 else f"{xs[0]:.3f}"


def parse_param(text: str):
    key, _, raw = text.partition("=")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


def before_rows(path: Path | None, runs: list[dict], other: dict) -> list[str]:
    """Rows of an earlier run (``--before``) and the paired differences per level (same seeds, same fits)."""
    if path is None:
        return []
    old = json.loads(path.read_text(encoding="utf-8"))
    prev = {r["seed"]: r for r in old["runs"]}
    pairs = [(r, prev[r["seed"]]) for r in runs if r["seed"] in prev]
    if not pairs:
        return []
    cols = [f"{k}_l{lv}" for k in ("names", "floor") for lv in (1, 2, 3)]
    o = old["other"]
    lines = [
        f"| *published tree, before (`{path.name}`)* | "
        + " | ".join(ms(b[k] for _, b in pairs) for k in cols) + f" | {ms(b['opposites'] for _, b in pairs)} |",
        "| *product defects, before* | " + " | ".join(f"{o[k]:.3f}" for k in cols) + " | |",
        "",
        "Paired over the seeds (new minus before, same fits): "
        + "; ".join(
            f"L{lv} {np.mean(d):+.4f} ± {np.std(d):.4f} (better on {int(np.sum(d > 0))}, worse on {int(np.sum(d < 0))}"
            f" of {len(d)})"
            for lv in (1, 2, 3)
            for d in [np.array([a[f"names_l{lv}"] - b[f"names_l{lv}"] for a, b in pairs])]
        )
        + f". Product defects: " + " / ".join(f"{other[f'names_l{lv}'] - o[f'names_l{lv}']:+.3f}" for lv in (1, 2, 3))
        + ".",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", type=Path, default=None, help="markdown file to write (default: print only)")
    p.add_argument("--refdata", type=Path, default=REFDATA)
    p.add_argument("--cache", type=Path, default=Path("/tmp/taxo-bench-cache"))
    p.add_argument("--param", action="append", default=[], help="namer parameter NAME=VALUE (JSON value)")
    p.add_argument("--before", type=Path, default=None,
                   help="the JSON of an earlier run on the same fits: its rows and the paired differences are added")
    args = p.parse_args(argv)
    params = dict(parse_param(x) for x in args.param)

    from embeddings import Embedder
    from taxonomy.cluster import DEFAULT_METHOD
    from taxonomy.reference import load_values_tree_csv

    values, w, ref, levels = load_reference(args.refdata)
    X = embed(values, args.cache)
    ref_tree = load_values_tree_csv(args.refdata / "values_tree.csv")
    name_embedder = Embedder(cache_dir=args.cache / "names")

    import taxonomy.summarize as summ_mod

    base_cls = summ_mod.OfflineSummarizer
    if params:  # the benchmark's name_scores builds OfflineSummarizer(): hand it the parameters
        summ_mod.OfflineSummarizer = type("Tuned", (base_cls,), {"__init__": lambda s: base_cls.__init__(s, **params)})
    runs = []
    try:
        for seed in args.seeds:
            labels = fitted_labels(X, w, levels, seed, args.cache)
            t, c = time.perf_counter(), time.process_time()
            run = {"seed": seed, **name_scores(values, X, w, labels, ref_tree, name_embedder, ref[3])}
            run["cpu_seconds"] = time.process_time() - c
            run["wall_seconds"] = time.perf_counter() - t
            runs.append(run)
            print(f"seed {seed}: names " + " / ".join(f"{run[f'names_l{lv}']:.3f}" for lv in (1, 2, 3))
                  + "  floor " + " / ".join(f"{run[f'floor_l{lv}']:.3f}" for lv in (1, 2, 3))
                  + f"  opposites {run['opposites']:.3f}  top: {run['top_names']}", flush=True)
    finally:
        summ_mod.OfflineSummarizer = base_cls
    other = other_domain(name_embedder, params)
    print("defects: names " + " / ".join(f"{other[f'names_l{lv}']:.3f}" for lv in (1, 2, 3))
          + "  floor " + " / ".join(f"{other[f'floor_l{lv}']:.3f}" for lv in (1, 2, 3)), flush=True)
    for lv in (3, 2, 1):
        print(f"  defects L{lv}: {other['names'][lv]}")
    summary = {k: ms(r[k] for r in runs) for k in runs[0] if k.startswith(("names_l", "floor_l", "opposites"))}
    print("published tree: " + "  ".join(f"{k} {v}" for k, v in summary.items()))
    if args.out is not None:
        cmd = "benchmarks/name_quality.py " + " ".join(argv if argv is not None else sys.argv[1:])
        lines = [
            "# Name fidelity of the offline namer",
            "",
            f"Generated by `{cmd.strip()}` on {time.strftime('%Y-%m-%d')} ({platform.machine()}, {os.cpu_count()} CPUs,"
            f" Python {platform.python_version()}, {kernels_note()}, {load_note()}). Default method `{DEFAULT_METHOD}`, levels {levels}, seeds"
            f" {args.seeds}; namer parameters {params or 'default'}. Mean ± std over seeds.",
            "",
            "| data | names L1 | names L2 | names L3 | floor L1 | floor L2 | floor L3 | opposites |",
            "|---|---|---|---|---|---|---|---|",
            "| published tree | " + " | ".join(summary[f"{k}_l{lv}"] for k in ("names", "floor") for lv in (1, 2, 3))
            + f" | {summary['opposites']} |",
            "| product defects (own partition) | "
            + " | ".join(f"{other[f'{k}_l{lv}']:.3f}" for k in ("names", "floor") for lv in (1, 2, 3)) + " | |",
            *before_rows(args.before, runs, other),
            "",
            "Top names per seed: " + "; ".join(f"seed {r['seed']}: " + ", ".join(r["top_names"]) for r in runs),
            "",
        ]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines), encoding="utf-8")
        args.out.with_suffix(".json").write_text(json.dumps({"runs": runs, "other": other}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
