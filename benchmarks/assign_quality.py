"""`taxo assign` against the published Values-in-the-Wild taxonomy: accuracy, novelty queue, speed.

Accuracy (per seed): split the 3,307 published values 80/20 with the seed; build on the 80% (levels 266,26,5,
the default method, the same seed); ingest the 20% plus 100 strings that are not values at all (objects, places,
numbers, dishes) as a second batch; ``assign``. Reported per level: NMI against the published tree of

* ``rebuild``: a full rebuild on all 3,307 values with the same seed;
* ``base``: the version built on the 80% (2,646 values);
* ``assigned``: the assigned version (the 80% + every held-out value not queued as novelty);
* ``assigned, all placed``: ``--threshold -1`` (nothing queued), i.e. pure placement quality on all 3,307.

Placement accuracy: the share of held-out values whose placed level-1 node is the node of the base version that
holds most of their published level-1 siblings (held-out values without a published sibling in the 80% are not
counted). Novelty: precision and recall of the queue for the 100 non-values; share of genuine held-out values
queued. Nothing is renamed or moved by assign, which the script checks (every base node and value unchanged).

Speed (``--speed``): assign 20,000 new values into a 100,000-value version with a warm embedding cache, and
``drift`` over 1,000,000 extraction records. The 120,000 strings are variants of the published values
("honesty (17)"); their vectors are the published value's MiniLM vector plus noise, written into the embedding
cache beforehand (a warm cache: the model is not run), and the 100,000-value version reuses the published tree's
structure. The records are inserted directly (set-up is not timed).

    .venv/bin/python benchmarks/assign_quality.py [--seeds 0 1 2] [--speed] [--out benchmarks/results/assign_quality.md]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REFDATA = Path("/work/shared/refdata/values-in-the-wild")

NON_VALUES = [
    # objects
    "screwdriver", "toaster", "umbrella", "stapler", "garden hose", "ceiling fan", "paperclip", "bicycle pump",
    "wristwatch", "frying pan", "extension cord", "coffee mug", "shoelace", "flashlight", "ironing board",
    "rubber duck", "usb cable", "doorknob", "cheese grater", "lawn mower", "teapot", "hair dryer", "thumbtack",
    "suitcase", "pillowcase",
    # places
    "eiffel tower", "mount kilimanjaro", "tokyo", "lake titicaca", "sahara desert", "times square", "reykjavik",
    "grand canyon", "amazon river", "buenos aires", "the louvre", "death valley", "cape town", "mississippi river",
    "kyoto station", "hudson bay", "antarctica", "venice canals", "mount everest", "lisbon airport",
    "central park", "great barrier reef", "nairobi", "the alps", "route 66",
    # numbers
    "42", "3.14159", "seventeen", "one million", "1999", "0.5", "twelve dozen", "nine hundred", "007", "2,048",
    "minus forty", "10^6", "sixty-four", "thirteen", "1/3", "99 percent", "a billion", "zero", "eleven",
    "256", "forty-two thousand", "7.5", "three point two", "1024", "eighty",
    # dishes
    "spaghetti carbonara", "chicken tikka masala", "pad thai", "beef stroganoff", "caesar salad", "ramen",
    "fish and chips", "paella", "lasagna", "pho", "shepherd's pie", "falafel wrap", "mushroom risotto",
    "clam chowder", "banana bread", "sushi roll", "goulash", "tacos al pastor", "french onion soup",
    "pancakes with syrup", "moussaka", "kimchi fried rice", "apple pie", "beef wellington", "miso soup",
]
assert len(NON_VALUES) == 100 and len(set(NON_VALUES)) == 100


def load_values(refdata: Path) -> list[tuple[str, float]]:
    with open(refdata / "values_frequencies.csv", newline="", encoding="utf-8") as f:
        return [(r["value"], float(r["pct_convos"])) for r in csv.DictReader(f)]


def write_csv(path: Path, rows) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["value", "pct_convos"])
        w.writerows(rows)
    return path


def nmis(tx, version: int, db: str, reference: Path) -> list[float]:
    res = tx.compare(version, reference=reference, db=db)
    return [round(lc.nmi, 4) for lc in res.levels]


def run_seed(seed: int, refdata: Path, work: Path, cache: Path, method: str | None) -> dict:
    import taxonomy.api as tx
    from taxonomy.db.engine import session_scope
    from taxonomy.normalize import normalize_value
    from taxonomy.reference import load_values_tree_csv
    from taxonomy.store import read_tree

    values = load_values(refdata)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(values))
    cut = int(round(0.8 * len(values)))
    base = [values[i] for i in order[:cut]]
    held = [values[i] for i in order[cut:]]
    ref_tree_path = refdata / "values_tree.csv"
    ref = load_values_tree_csv(ref_tree_path)
    ref_l1 = {normalize_value(lf.text): lf.parent_uid for lf in ref.leaves}
    out: dict = {"seed": seed, "n_base": len(base), "n_held_out": len(held), "n_non_values": len(NON_VALUES)}

    # the full rebuild
    db_full = f"sqlite:///{work / f'full-{seed}.db'}"
    tx.init(db_full)
    tx.ingest(str(write_csv(work / f"all-{seed}.csv", values)), weight_col="pct_convos", db=db_full)
    t = time.perf_counter()
    full = tx.build(db=db_full, levels="266,26,5", method=method, seed=seed, cache_dir=str(cache))
    out["rebuild_seconds"] = round(time.perf_counter() - t, 1)
    out["nmi_rebuild"] = nmis(tx, full.version_id, db_full, ref_tree_path)

    # build on 80 %, assign the 20 % + non-values
    db = f"sqlite:///{work / f'assign-{seed}.db'}"
    tx.init(db)
    tx.ingest(str(write_csv(work / f"base-{seed}.csv", base)), weight_col="pct_convos", db=db)
    b = tx.build(db=db, levels="266,26,5", method=method, seed=seed, cache_dir=str(cache))
    out["nmi_base"] = nmis(tx, b.version_id, db, ref_tree_path)
    new_rows = held + [(s, 0.01) for s in NON_VALUES]
    tx.ingest(str(write_csv(work / f"new-{seed}.csv", new_rows)), weight_col="pct_convos", db=db)
    t = time.perf_counter()
    a = tx.assign(b.version_id, cache_dir=str(cache), seed=seed, db=db, message="held-out 20%")
    out["assign_seconds"] = round(time.perf_counter() - t, 2)
    out["threshold"] = round(a.threshold, 4)
    out["nmi_assigned"] = nmis(tx, a.version_id, db, ref_tree_path)
    every = tx.assign(b.version_id, threshold=-1.0, cache_dir=str(cache), seed=seed, db=db, message="all placed")
    out["nmi_all_placed"] = nmis(tx, every.version_id, db, ref_tree_path)

    with session_scope(db) as s:
        tb = read_tree(s, b.version_id)
        ta = read_tree(s, a.version_id)
        tall = read_tree(s, every.version_id)
    # nothing renamed or moved
    unchanged = all(
        (ta.nodes[u].name, ta.nodes[u].description, ta.nodes[u].parent_uid) == (n.name, n.description, n.parent_uid)
        for u, n in tb.nodes.items()
    ) and set(ta.nodes) == set(tb.nodes)
    base_parent = {lf.text: lf.parent_uid for lf in tb.leaves}
    unchanged = unchanged and all(base_parent[lf.text] == lf.parent_uid for lf in ta.leaves if lf.text in base_parent)
    out["curated_unchanged"] = bool(unchanged)

    # placement accuracy: the base node holding most of the value's published level-1 siblings
    from collections import Counter

    sib: dict[str, Counter] = {}
    for text, node in base_parent.items():
        sib.setdefault(ref_l1.get(text), Counter())[node] += 1
    held_texts = {normalize_value(v) for v, _ in held}

    def accuracy(tree) -> tuple[float, int]:
        hits = n = 0
        for lf in tree.leaves:
            if lf.text in held_texts and lf.text not in base_parent:
                c = sib.get(ref_l1.get(lf.text))
                if not c:
                    continue
                n += 1
                hits += lf.parent_uid == c.most_common(1)[0][0]
        return (hits / n if n else float("nan")), n

    out["placement_accuracy"], out["placement_n"] = accuracy(ta)
    # for scale: the same measure on the full rebuild (each held-out value's rebuild node vs the rebuild node
    # holding most of its published siblings among the 80%)
    with session_scope(db_full) as s:
        tf = read_tree(s, full.version_id)
    fpar = {lf.text: lf.parent_uid for lf in tf.leaves}
    fsib: dict[str, Counter] = {}
    for text in base_parent:
        fsib.setdefault(ref_l1.get(text), Counter())[fpar[text]] += 1
    hits = [fpar[t] == fsib[ref_l1[t]].most_common(1)[0][0] for t in held_texts if fsib.get(ref_l1.get(t))]
    out["placement_accuracy_rebuild"] = float(np.mean(hits)) if hits else float("nan")
    out["placement_accuracy_all_placed"], out["placement_n_all_placed"] = accuracy(tall)
    queued = {m["value"] for g in a.groups for m in g["members"]}
    nv = {normalize_value(s) for s in NON_VALUES}
    tp = len(queued & nv)
    out["novelty_precision"] = round(tp / len(queued), 4) if queued else float("nan")
    out["novelty_recall"] = round(tp / len(nv), 4)
    out["genuine_queued_share"] = round(len(queued & held_texts) / len(held_texts), 4)
    out["n_queued"] = len(queued)
    out["n_groups"] = len(a.groups)
    out["non_values_placed_examples"] = sorted(nv - queued)[:10]
    return out


# ------------------------------------------------------------------------------------------------ speed
def run_speed(refdata: Path, work: Path, n_base: int, n_new: int, n_records: int) -> dict:
    from sqlalchemy import insert

    import taxonomy.api as tx
    from embeddings import Embedder
    from taxonomy.build import package_versions
    from taxonomy.db.engine import session_scope
    from taxonomy.db.models import Batch, ExtractionRecord
    from taxonomy.domain import Leaf, Node, Tree
    from taxonomy.ingest import value_totals
    from taxonomy.normalize import normalize_value
    from taxonomy.reference import load_values_tree_csv
    from taxonomy.store import write_version
    from taxonomy.tree import content_checksum, recompute_stats

    cache = work / "speed-cache"
    ref = load_values_tree_csv(refdata / "values_tree.csv")
    real = [normalize_value(lf.text) for lf in ref.leaves]
    parent_of = {normalize_value(lf.text): lf.parent_uid for lf in ref.leaves}
    emb = Embedder(cache_dir=str(cache))
    E = emb.embed(real)
    rng = np.random.default_rng(0)
    total = n_base + n_new
    src = rng.integers(0, len(real), size=total)
    src[: min(len(real), n_base)] = np.arange(min(len(real), n_base))  # no node of the base version is empty
    texts = [f"{real[s]} ({i})" for i, s in enumerate(src)]
    V = E[src] + rng.normal(scale=0.035, size=(total, E.shape[1])).astype(np.float32)  # cos ~0.8 to the source
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    t = time.perf_counter()
    emb.cache.put(emb.spec.identity, texts, V)
    setup = {"cache_write_seconds": round(time.perf_counter() - t, 1)}
    db = f"sqlite:///{work / 'speed.db'}"
    tx.init(db)
    t = time.perf_counter()
    tx.ingest(str(write_csv(work / "speed-base.csv", [(x, 1.0) for x in texts[:n_base]])), weight_col="pct_convos", db=db)
    tx.ingest(str(write_csv(work / "speed-new.csv", [(x, 1.0) for x in texts[n_base:]])), weight_col="pct_convos", db=db)
    setup["ingest_seconds"] = round(time.perf_counter() - t, 1)
    # records over the base values: batches 3 and 4
    with session_scope(db) as s:
        ids = {v.text: v.id for v in value_totals(s)}
        for bid in (3, 4):
            s.add(Batch(id=bid, source=f"synthetic-{bid}", sha256=f"{bid:064d}", shape="records", file_format="jsonl",
                        options={}, n_rows=n_records // 2, n_values=n_base))
        s.flush()
        base_ids = np.array([ids[x] for x in texts[:n_base]])
        for bid in (3, 4):
            vals = base_ids[rng.integers(0, n_base, size=n_records // 2)]
            convs = rng.integers(0, n_records // 10, size=n_records // 2)
            rows = [{"batch_id": bid, "value_id": int(v), "line": i + 1, "conversation_id": f"c{bid}-{c}",
                     "surface": "", "role": "ai"} for i, (v, c) in enumerate(zip(vals, convs))]
            for start in range(0, len(rows), 50000):
                s.execute(insert(ExtractionRecord), rows[start : start + 50000])
    tree = Tree()
    for n in ref.nodes.values():
        tree.nodes[n.uid] = Node(n.uid, n.level, n.name, n.description, n.parent_uid)
    tree.leaves = [Leaf(text=x, parent_uid=parent_of[real[src[i]]], weight=1.0, count=1, value_id=ids[x])
                   for i, x in enumerate(texts[:n_base])]
    tree = recompute_stats(tree)
    spec = emb.spec
    manifest = {"kind": "build", "model": {**spec.to_dict(), "identity": spec.identity}, "summarizer": {"name": "offline"},
                "coverage": {"batches": [1, 3, 4], "role": None, "min_conversations": None},
                "batches": [], "n_values": n_base, "total_weight": float(n_base), "id_prefix": "values",
                "levels": [266, 26, 5], "method": {"name": "published structure"}, "packages": package_versions()}
    with session_scope(db) as s:
        v1 = write_version(s, tree, kind="build", message="speed base", manifest=manifest, checksum=content_checksum(tree))
    t = time.perf_counter()
    a = tx.assign(v1, batches="2", cache_dir=str(cache), db=db)
    assign_s = time.perf_counter() - t
    t = time.perf_counter()
    d = tx.drift(a.version_id, from_batches="3", to_batches="4", level=1, db=db)
    drift_s = time.perf_counter() - t
    return {"n_base": n_base, "n_new": n_new, "assign_seconds": round(assign_s, 1), "n_placed": a.n_placed,
            "n_queued": a.n_queued, "n_records": d.records_before + d.records_after + sum(d.records_outside.values()),
            "drift_seconds": round(drift_s, 1), **setup}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--method", default=None, help="clustering method of the builds (default: the default)")
    ap.add_argument("--refdata", type=Path, default=REFDATA)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/taxo-bench-cache"))
    ap.add_argument("--speed", action="store_true", help="also the speed runs (100k + 20k values, 1M records)")
    ap.add_argument("--n-base", type=int, default=100_000)
    ap.add_argument("--n-new", type=int, default=20_000)
    ap.add_argument("--n-records", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "assign_quality.md")
    args = ap.parse_args()
    runs = []
    speed = None
    with tempfile.TemporaryDirectory(prefix="taxo-assign-bench-") as tmp:
        work = Path(tmp)
        for seed in args.seeds:
            r = run_seed(seed, args.refdata, work, args.cache, args.method)
            print(json.dumps(r), flush=True)
            runs.append(r)
        if args.speed:
            speed = run_speed(args.refdata, work, args.n_base, args.n_new, args.n_records)
            print(json.dumps(speed), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"runs": runs, "speed": speed}, indent=2) + "\n")
    args.out.write_text(report(runs, speed))
    print(report(runs, speed))


def report(runs: list[dict], speed: dict | None) -> str:
    def mean(key, i=None):
        xs = [r[key][i] if i is not None else r[key] for r in runs]
        return float(np.mean(xs))

    lines = [f"# assign quality (seeds {', '.join(str(r['seed']) for r in runs)})", ""]
    if runs:
        lines += ["| NMI vs published | L1 | L2 | L3 |", "|---|---|---|---|"]
        for label, key in (("full rebuild (3,307)", "nmi_rebuild"), ("base build (80%)", "nmi_base"),
                           ("assigned (80% + placed)", "nmi_assigned"), ("assigned, all placed", "nmi_all_placed")):
            lines.append(f"| {label} | " + " | ".join(f"{mean(key, i):.3f}" for i in range(3)) + " |")
        lines += ["", "| per seed | " + " | ".join(str(r["seed"]) for r in runs) + " |",
                  "|---|" + "---|" * len(runs)]
        for key in ("nmi_rebuild", "nmi_assigned", "nmi_all_placed"):
            lines.append(f"| {key} | " + " | ".join("/".join(f"{x:.3f}" for x in r[key]) for r in runs) + " |")
        for key in ("placement_accuracy", "placement_accuracy_all_placed", "placement_accuracy_rebuild", "novelty_precision", "novelty_recall",
                    "genuine_queued_share", "threshold", "n_queued", "n_groups", "assign_seconds", "curated_unchanged"):
            lines.append(f"| {key} | " + " | ".join(f"{r[key]:.3f}" if isinstance(r[key], float) else str(r[key])
                                                    for r in runs) + " |")
    if speed:
        lines += ["", f"Speed: assign {speed['n_new']:,} new values into a {speed['n_base']:,}-value version (warm "
                  f"cache): {speed['assign_seconds']} s ({speed['n_placed']} placed, {speed['n_queued']} queued); "
                  f"drift over {speed['n_records']:,} records: {speed['drift_seconds']} s."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
