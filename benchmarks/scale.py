"""Cost of every stage at 10k / 30k / 100k (/ 300k) distinct values, with growth exponents.

    .venv/bin/python benchmarks/scale.py [--sizes 10000 30000 100000] [--records-per-value 10]
        [--stages ingest,engines,build,write,outside,embed] [--timeout 1200] [--workdir /tmp/taxo-scale]
        [--out benchmarks/results/scale.md]

Per size n (synthetic data from ``benchmarks/synthetic.py``: n distinct value phrases, 10 n extraction records):

* **ingest**: ``taxo init`` + ``taxo ingest records.csv`` in a fresh SQLite file, as a user runs it (separate
  process; wall time and peak RSS from ``/usr/bin/time``).
* **engines** (in this process, old and new engine on the same data, so the ratio does not depend on the load):
  the kNN graph (exact faiss scan, IVF, HNSW, with the recall of each against an exact search of 2,000 rows)
  and level-1 k-means on the local layout (scikit-learn vs the faiss engine, with their inertia). The exact / scikit-learn runs are skipped
  above ``--compare-max`` values.
* **build**: ``taxo build --levels auto`` with a warm embedding cache, in a separate process: its own timings
  (load, embed, cluster, summarize, write), wall time and peak RSS. The cache is filled beforehand with
  *stand-in* vectors (``benchmarks/surrogate.py``: sums of real embeddings of each phrase's parts plus noise)
  because embedding 100k phrases with the real model takes longer than all the rest on 2 shared cores; the
  embedding cost is measured separately (``embed``).
* **write** (only when ``build`` did not run or failed): a version made without the full build (faiss k-means on
  the stand-in vectors, names from each node's heaviest member), timing ``write_version``, so that the commands
  outside the build can be timed at sizes where the build does not finish in the time available.
* **outside**: on the built (or written) version: ``show --level 1`` (table and ``--json``), ``export --format skos-ttl``,
  an edit (``rename``, which writes version 2), ``diff 1 2`` (and ``--json``), ``similar``.
* **embed** (once, at the smallest size): the real model on 2,000 phrases with an empty cache: values/s.

Growth exponents: the slope of log(time) against log(n) between consecutive sizes. The machine is shared (load
average recorded with every figure), so absolute seconds are pessimistic; the in-process engine ratios are not.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))
TAXO = Path(sys.executable).parent / "taxo"

import numpy as np  # noqa: E402

import surrogate  # noqa: E402
import synthetic  # noqa: E402

ALL_STAGES = ("ingest", "engines", "build", "write", "outside", "embed")


def load() -> float:
    return round(os.getloadavg()[0], 2)


def timed_run(args: list[str], env: dict, timeout: float) -> dict:
    """Run ``taxo ARGS`` under /usr/bin/time; wall seconds, CPU seconds (user + system), peak RSS (MB), stdout;
    raises on failure."""
    cmd = [str(TAXO), *args]
    rss_file = tempfile.NamedTemporaryFile(delete=False, suffix=".rss")
    rss_file.close()
    if shutil.which("time") or Path("/usr/bin/time").exists():
        cmd = ["/usr/bin/time", "-f", "%U %S %M", "-o", rss_file.name, *cmd]
    t = time.perf_counter()
    before = load()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"taxo {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    try:
        user, sys_, rss = Path(rss_file.name).read_text().split()[-3:]
        rss_mb, cpu = int(rss) / 1024, round(float(user) + float(sys_), 2)
    except (OSError, ValueError, IndexError):
        rss_mb = cpu = None
    os.unlink(rss_file.name)
    return {"wall_s": round(wall, 2), "cpu_s": cpu, "rss_mb": round(rss_mb) if rss_mb else None, "load": before,
            "load_after": load(), "stdout": proc.stdout}


def stage_ingest(n: int, rpv: int, work: Path, env: dict, timeout: float) -> dict:
    records = work / "records.csv"
    t = time.perf_counter()
    synthetic.write(records, n, rpv * n, seed=0)
    gen = time.perf_counter() - t
    timed_run(["init", "--quiet"], env, timeout)
    r = timed_run(["ingest", str(records), "--role-col", "role", "--task-col", "task", "--excerpt-col", "excerpt",
                   "--quiet", "--json"], env, timeout)
    out = json.loads(r.pop("stdout"))
    return {"generate_s": round(gen, 2), **r, "n_records": out["n_records"], "n_values": out["n_values"],
            "file_mb": round(records.stat().st_size / 2**20)}


def fill_cache(n: int, cache_dir: Path) -> float:
    """Put stand-in vectors for the n phrases into the embedding cache under the default model's identity."""
    from embeddings import EmbeddingCache, resolve_model
    from taxonomy.normalize import normalize_value

    t = time.perf_counter()
    texts, X = surrogate.surrogate_embeddings(n, seed=0, cache_dir=str(cache_dir / "parts"))
    EmbeddingCache(cache_dir).put(resolve_model(None).identity, [normalize_value(s) for s in texts], X)
    return time.perf_counter() - t


def stage_engines(n: int, compare_max: int, cache_dir: Path, hnsw_max: int = 100_000) -> dict:
    """Old vs new engines in this process, on the stand-in vectors of n phrases."""
    from taxonomy.cluster import auto_levels
    from taxonomy.cluster._common import kmeans_exact
    from taxonomy.cluster._layout import knn, umap_embed

    _, X = surrogate.surrogate_embeddings(n, seed=0, cache_dir=str(cache_dir / "parts"))
    out: dict = {"load": load()}
    import faiss

    m = min(n, 2000)  # recall against an exact search of the first m rows
    flat = faiss.IndexFlatIP(X.shape[1])
    flat.add(X)
    truth = flat.search(X[:m], 100)[1]
    truth = [[j for j in row if j != i][:99] for i, row in enumerate(truth)]
    D = I = None
    for engine in ("ivf", "hnsw", "exact"):
        if engine == "exact" and n > compare_max:
            continue
        if engine == "hnsw" and n > hnsw_max:
            continue
        t = time.perf_counter()
        De, Ie = knn(X, 99, engine=engine)
        out[f"knn99_{engine}_s"] = round(time.perf_counter() - t, 2)
        out[f"{engine}_recall_at_14"] = round(
            float(np.mean([len(set(a[:14]) & set(b[:14])) / 14 for a, b in zip(Ie[:m], truth, strict=True)])), 4)
        out[f"{engine}_recall_at_99"] = round(
            float(np.mean([len(set(a) & set(b)) / 99 for a, b in zip(Ie[:m], truth, strict=True)])), 4)
        if engine == "ivf":
            D, I = De, Ie
    t = time.perf_counter()
    Y = umap_embed(X, knn_graph=(D[:, :14], I[:, :14]), seed=0)
    out["layout_local_s"] = round(time.perf_counter() - t, 2)
    k = auto_levels(n)[0]
    out["k"] = k

    def inertia(labels):
        Yd = Y.astype(np.float64)
        C = np.zeros((k, Y.shape[1]))
        np.add.at(C, labels, Yd)
        C /= np.bincount(labels, minlength=k)[:, None]
        return round(float(((Yd - C[labels]) ** 2).sum()), 3)

    t = time.perf_counter()
    lab = kmeans_exact(Y, k, None, 0, n_init=3, engine="faiss")
    out["kmeans_faiss_s"] = round(time.perf_counter() - t, 2)
    out["kmeans_faiss_inertia"] = inertia(lab)
    if n <= compare_max:
        t = time.perf_counter()
        lab = kmeans_exact(Y, k, None, 0, n_init=3, engine="sklearn")
        out["kmeans_sklearn_s"] = round(time.perf_counter() - t, 2)
        out["kmeans_sklearn_inertia"] = inertia(lab)
    return out


def stage_build(env: dict, timeout: float) -> dict:
    r = timed_run(["build", "--levels", "auto", "--seed", "0", "--quiet", "--json", "-m", "scale"], env, timeout)
    res = json.loads(r.pop("stdout"))
    return {**r, "levels": res["levels"], "timings": res["timings"], "embedded": res["embedded"],
            "cached": res["cached"], "version": res["version_id"]}


def stage_write(n: int, db_url: str, cache_dir: Path) -> dict:
    """Without the full build: a version from faiss k-means on the stand-in vectors (levels auto, names from each
    node's heaviest member), so that writing a version and the commands outside the build can be timed at sizes
    where the build itself does not finish in the time available. Times ``write_version`` (one transaction)."""
    from taxonomy.build import assemble_tree
    from taxonomy.cluster import auto_levels
    from taxonomy.cluster._common import kmeans_exact, upper_levels
    from taxonomy.db.engine import session_scope
    from taxonomy.ingest import value_totals
    from taxonomy.normalize import normalize_value
    from taxonomy.store import write_version
    from taxonomy.tree import content_checksum

    texts0, X0 = surrogate.surrogate_embeddings(n, seed=0, cache_dir=str(cache_dir / "parts"))
    pos = {normalize_value(t): i for i, t in enumerate(texts0)}
    with session_scope(db_url) as session:
        totals = value_totals(session)
    texts = [t.text for t in totals]
    X = X0[[pos[t] for t in texts]]
    w = np.array([t.weight for t in totals])
    levels = auto_levels(len(texts))
    t = time.perf_counter()
    # a few Lloyd iterations on the 384-d vectors: this version only has to exist (its quality is not measured)
    l1 = kmeans_exact(X, levels[0], None, 0, n_init=1, max_iter=4, engine="faiss")
    ups = upper_levels(X, l1, levels, np.ones(len(X)), lambda C, k, m: kmeans_exact(C, k, m, 0, n_init=3),
                       normalize=True)
    cluster_s = time.perf_counter() - t
    tree, _ = assemble_tree(texts, w, [t.count for t in totals], [t.id for t in totals], [l1, *ups])
    heaviest: dict[str, tuple[float, str]] = {}
    for leaf in tree.leaves:
        uid = leaf.parent_uid
        while uid is not None:
            if leaf.weight > heaviest.get(uid, (-1.0, ""))[0]:
                heaviest[uid] = (leaf.weight, leaf.text)
            uid = tree.nodes[uid].parent_uid
    for uid, node in tree.nodes.items():
        node.name = f"{heaviest[uid][1]} (level {node.level}, {uid[-8:]})"
        node.description = f"Values like {heaviest[uid][1]}; {node.member_count} values."
    checksum = content_checksum(tree)
    t = time.perf_counter()
    with session_scope(db_url) as session:
        vid = write_version(session, tree, kind="build", message="scale: fast version", checksum=checksum,
                            manifest={"kind": "build", "levels": levels, "model": {"name": "all-MiniLM-L6-v2"},
                                      "note": "benchmarks/scale.py stage_write"})
    return {"version": vid, "levels": levels, "cluster_s": round(cluster_s, 2),
            "write_version_s": round(time.perf_counter() - t, 2), "load": load()}


def stage_outside(version: int, work: Path, env: dict, timeout: float) -> dict:
    out: dict = {}

    def run(name, args):
        try:
            r = timed_run(args, env, timeout)
            out[name] = {"wall_s": r["wall_s"], "cpu_s": r["cpu_s"], "rss_mb": r["rss_mb"], "load": r["load"]}
            return r["stdout"]
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            out[name] = {"error": str(exc)[:300]}
            return None

    v = str(version)
    run("show_level1", ["show", v, "--level", "1"])
    top = run("show_level1_json", ["show", v, "--level", "1", "--json"])
    run("export_skos_ttl", ["export", v, "--format", "skos-ttl", "-o", str(work / "tree.ttl")])
    run("export_csv", ["export", v, "--format", "values-tree-csv", "-o", str(work / "tree.csv")])
    for fmt, suffix in (("json", "json"), ("parquet", "parquet"), ("skos-jsonld", "jsonld")):
        run(f"export_{fmt.replace('-', '_')}", ["export", v, "--format", fmt, "-o", str(work / f"tree.{suffix}")])
    node = None
    if top:
        data = json.loads(top)
        nodes = data.get("nodes", data) if isinstance(data, dict) else data
        node = nodes[0].get("id") if nodes and isinstance(nodes[0], dict) else None
    if node:
        new = run("edit_rename", ["edit", v, "rename", node, "Renamed for the benchmark", "--json"])
        if new:
            nv = str(json.loads(new).get("version_id", json.loads(new).get("version", "")))
            run("diff", ["diff", v, nv])
            run("diff_json", ["diff", v, nv, "--json"])
    run("similar", ["similar", "honesty", "--version", v, "-k", "10"])
    run("check", ["check", v])
    return out


def stage_embed(cache_dir: Path) -> dict:
    from embeddings import Embedder
    from taxonomy.threads import thread_budget

    texts = synthetic.phrases(20_000, seed=1)[-2000:]
    e = Embedder(cache_dir=str(cache_dir / "embed-cold"))
    e.embed(texts[:64])  # model load and warm-up, not timed
    t, c = time.perf_counter(), time.process_time()
    e.embed(texts[64:])
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    n = len(texts) - 64
    return {"values": n, "threads": thread_budget(), "values_per_s": round(n / wall, 1),
            "values_per_cpu_s": round(n / cpu, 1), "load": load()}


def exponents(sizes: list[int], series: list[float | None]) -> list[str]:
    out = []
    for (n0, a), (n1, b) in zip(zip(sizes, series, strict=True), list(zip(sizes, series, strict=True))[1:]):
        out.append(f"{math.log(b / a) / math.log(n1 / n0):.2f}" if a and b and a > 0 and b > 0 else "—")
    return out


def markdown(results: dict, meta: dict) -> str:
    sizes = [int(s) for s in results]
    rows: list[tuple[str, list]] = []

    def get(path):
        vals = []
        for s in results:
            cur = results[s]
            for p in path:
                cur = cur.get(p) if isinstance(cur, dict) else None
            vals.append(cur if isinstance(cur, (int, float)) else None)
        return vals

    spec = [
        ("generate records (in process)", ("ingest", "generate_s")),
        ("ingest, wall", ("ingest", "wall_s")),
        ("ingest, CPU seconds", ("ingest", "cpu_s")),
        ("ingest, peak RSS (MB)", ("ingest", "rss_mb")),
        ("kNN k=99 exact (in process)", ("engines", "knn99_exact_s")),
        ("kNN k=99 IVF (in process)", ("engines", "knn99_ivf_s")),
        ("kNN k=99 HNSW (in process)", ("engines", "knn99_hnsw_s")),
        ("IVF recall@14 / exact", ("engines", "ivf_recall_at_14")),
        ("IVF recall@99 / exact", ("engines", "ivf_recall_at_99")),
        ("HNSW recall@14 / exact", ("engines", "hnsw_recall_at_14")),
        ("local layout (in process; epochs scaled above 20k values)", ("engines", "layout_local_s")),
        ("level-1 k-means, scikit-learn n_init=3 (in process)", ("engines", "kmeans_sklearn_s")),
        ("level-1 k-means, faiss engine n_init=3 (in process)", ("engines", "kmeans_faiss_s")),
        ("inertia scikit-learn", ("engines", "kmeans_sklearn_inertia")),
        ("inertia faiss engine", ("engines", "kmeans_faiss_inertia")),
        ("build warm: wall", ("build", "wall_s")),
        ("build warm: CPU seconds (user + sys)", ("build", "cpu_s")),
        ("build warm: load average before / after", ("build", "load")),
        ("build: load", ("build", "timings", "load")),
        ("build: embed (cache)", ("build", "timings", "embed")),
        ("build: cluster", ("build", "timings", "cluster")),
        ("build: summarize", ("build", "timings", "summarize")),
        ("build: write", ("build", "timings", "write")),
        ("build: peak RSS (MB)", ("build", "rss_mb")),
        ("write a version (fast version, in process)", ("write", "write_version_s")),
        ("show --level 1", ("outside", "show_level1", "wall_s")),
        ("show --level 1 --json", ("outside", "show_level1_json", "wall_s")),
        ("export skos-ttl", ("outside", "export_skos_ttl", "wall_s")),
        ("export skos-ttl peak RSS (MB)", ("outside", "export_skos_ttl", "rss_mb")),
        ("export values-tree-csv", ("outside", "export_csv", "wall_s")),
        ("export json", ("outside", "export_json", "wall_s")),
        ("export parquet", ("outside", "export_parquet", "wall_s")),
        ("export skos-jsonld", ("outside", "export_skos_jsonld", "wall_s")),
        ("edit (rename)", ("outside", "edit_rename", "wall_s")),
        ("diff", ("outside", "diff", "wall_s")),
        ("diff --json", ("outside", "diff_json", "wall_s")),
        ("similar", ("outside", "similar", "wall_s")),
        ("check", ("outside", "check", "wall_s")),
    ]
    for label, path in spec:
        vals = get(path)
        if any(v is not None for v in vals):
            rows.append((label, vals))
    head = " | ".join(f"{s:,}" for s in sizes)
    exp_head = " | ".join(f"growth {a // 1000}k→{b // 1000}k" for a, b in zip(sizes, sizes[1:], strict=False))
    lines = [
        "# Scale benchmark",
        "",
        f"Generated by `benchmarks/scale.py` on {meta['date']} ({meta['machine']}); records per value "
        f"{meta['records_per_value']}. Seconds unless stated. The machine was shared with other jobs: load "
        f"averages {meta['loads']} (2 cores).",
        "",
        f"| stage | {head} | {exp_head} |" if len(sizes) > 1 else f"| stage | {head} |",
        "|---" * (1 + len(sizes) + max(0, len(sizes) - 1)) + "|",
    ]
    for label, vals in rows:
        def fmt(v, label=label):
            if v is None:
                return "—"
            if "recall" in label:
                return f"{v:.4f}"
            return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"

        cells = " | ".join(fmt(v) for v in vals)
        if len(sizes) > 1:
            skip = "inertia" in label or "recall" in label
            growth = " | ".join("" if skip else e for e in exponents(sizes, vals))
            lines.append(f"| {label} | {cells} | {growth} |")
        else:
            lines.append(f"| {label} | {cells} |")
    lines.append("")
    for s, r in results.items():
        if "build" in r and "levels" in r["build"]:
            lines.append(f"- {int(s):,} values: levels {r['build']['levels']}")
    if meta.get("embed"):
        e = meta["embed"]
        lines.append(
            f"- embedding, real model, empty cache: {e['values_per_s']} values/s ({e['values_per_cpu_s']} per "
            f"CPU-second, {e['threads']} torch thread(s), load {e['load']})")
    errors = [(s, k, v) for s, r in results.items() for k, v in r.items() if isinstance(v, dict) and "error" in v]
    for s, k, v in errors:
        lines.append(f"- {s} {k}: {v['error']}")
    return "\n".join(lines) + "\n"


def scratch_postgres(admin_url: str, name: str) -> str:
    """A fresh, empty database ``name`` on the server of ``admin_url`` (dropped first if it exists); its URL."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {name}")
        c.execute(f"CREATE DATABASE {name}")
    return admin_url.rsplit("/", 1)[0] + "/" + name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    ap.add_argument("--records-per-value", type=int, default=10)
    ap.add_argument("--stages", default=",".join(ALL_STAGES))
    ap.add_argument("--compare-max", type=int, default=30_000, help="largest n for the exact / sklearn runs")
    ap.add_argument("--timeout", type=float, default=1200, help="seconds per command")
    ap.add_argument("--workdir", default="/tmp/taxo-scale")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "scale.md"))
    ap.add_argument("--pg", default=None, metavar="URL",
                    help="run on PostgreSQL: a scratch database taxo_scale_N per size is created on this server "
                         "(e.g. postgresql://postgres@127.0.0.1:5432/postgres) instead of a SQLite file")
    args = ap.parse_args()
    stages = set(args.stages.split(","))
    unknown = stages - set(ALL_STAGES)
    if unknown:
        raise SystemExit(f"unknown stage(s): {', '.join(sorted(unknown))}; known: {', '.join(ALL_STAGES)}")
    work_root = Path(args.workdir)
    cache_dir = work_root / "cache"
    results: dict = {}
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "records_per_value": args.records_per_value, "loads": []}
    out_json = Path(args.out).with_suffix(".json")
    for n in args.sizes:
        work = work_root / str(n)
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        db_url = f"sqlite:///{work}/scale.db" if not args.pg else scratch_postgres(args.pg, f"taxo_scale_{n}")
        env = {**os.environ, "TAXO_DATABASE_URL": db_url, "TAXO_CACHE_DIR": str(cache_dir),
               "PYTHONPATH": str(ROOT)}
        r: dict = {}
        results[n] = r
        meta["loads"].append(load())
        print(f"== {n:,} values (load {load()})", file=sys.stderr, flush=True)
        for name in ("ingest", "engines", "build", "write", "outside"):
            if name not in stages:
                continue
            if name in ("build", "write", "outside") and "ingest" not in stages:
                continue
            if name == "write" and "version" in r.get("build", {}):
                continue  # a real build's version is there
            version = r.get("build", {}).get("version") or r.get("write", {}).get("version")
            if name == "outside" and not version:
                continue
            t = time.perf_counter()
            try:
                if name == "ingest":
                    r[name] = stage_ingest(n, args.records_per_value, work, env, args.timeout)
                elif name == "engines":
                    fill_cache(n, cache_dir)
                    r[name] = stage_engines(n, args.compare_max, cache_dir)
                elif name == "build":
                    r["cache_fill_s"] = round(fill_cache(n, cache_dir), 2)
                    r[name] = stage_build(env, args.timeout)
                elif name == "write":
                    fill_cache(n, cache_dir)  # so that `similar` finds the vectors, as after a build
                    r[name] = stage_write(n, env["TAXO_DATABASE_URL"], cache_dir)
                elif name == "outside":
                    r[name] = stage_outside(version, work, env, args.timeout)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                r[name] = {"error": str(exc)[:300]}
            print(f"   {name}: {time.perf_counter() - t:.1f} s {json.dumps(r[name])[:400]}", file=sys.stderr,
                  flush=True)
            out_json.parent.mkdir(parents=True, exist_ok=True)
            out_json.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    if "embed" in stages:
        meta["embed"] = stage_embed(cache_dir)
        print(f"   embed: {meta['embed']}", file=sys.stderr, flush=True)
    out_json.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    text = markdown(results, meta)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
