"""Embedding speed and cost of the backends: torch fp32 (sentence-transformers) against ONNX Runtime fp32 and
per-token int8 ONNX, in one process, on the 3,307 published values and on synthetic value phrases.

    .venv/bin/python benchmarks/embed_speed.py [--threads 1 2] [--repeat 2] [--synthetic 100000]
        [--synthetic-backends onnx-int8] [--synthetic-threads 1 2] [--out benchmarks/results/embed_speed.md]
    .venv/bin/python benchmarks/embed_speed.py --warm 100000 [--warm-backend onnx-int8] [--repeat 2]

For each data set, backend and thread count (torch's intra-op threads; the ONNX backends' worker threads, each
running whole batches on one ONNX Runtime thread): values/s (wall) and values per CPU-second (process CPU, all
threads), best of ``--repeat`` passes (the model loaded and, for ONNX, exported beforehand: the first load is
reported apart), the load average, and the cosine between each backend's vector and torch's for the same text
(min / mean; on the synthetic set only when torch is among its backends). The NMI and name fidelity on the
published tree with each backend's vectors come from ``build_quality.py --embed-backend``. ``--warm N`` times
only the build's embed stage with every vector already cached (CPU and wall seconds, whether the model or torch
was loaded), each pass in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))


def measure(texts: list[str], backends: list[str], threads: list[int], repeat: int, batch: int, cache: str,
            label: str) -> list[dict]:
    from embeddings.embedder import Embedder

    rows, vectors = [], {}
    for backend in backends:
        for t in threads:
            emb = Embedder(cache_dir=cache, use_cache=False, backend=backend, threads=t, batch_size=batch,
                           device="cpu")
            start = time.perf_counter()
            emb.embed(texts[:8])  # load (and export / quantize on first use)
            load_s = time.perf_counter() - start
            best = None
            for _ in range(repeat):
                w, c = time.perf_counter(), time.process_time()
                X = emb.embed(texts)
                w, c = time.perf_counter() - w, time.process_time() - c
                if best is None or w < best[0]:
                    best = (w, c)
            vectors[backend] = X
            rows.append(dict(data=label, n=len(texts), backend=backend, threads=t, load_s=load_s, wall_s=best[0],
                             cpu_s=best[1], per_s=len(texts) / best[0], per_cpu_s=len(texts) / best[1],
                             load=os.getloadavg()[0]))
            print(rows[-1], file=sys.stderr, flush=True)
    base = vectors.get("torch")
    for r in rows:
        if base is not None:
            cos = (vectors[r["backend"]] * base).sum(1)
            r["cos_min"], r["cos_mean"] = float(cos.min()), float(cos.mean())
    return rows


def table(rows: list[dict]) -> list[str]:
    torch_rate = {(r["data"], r["threads"]): r["per_cpu_s"] for r in rows if r["backend"] == "torch"}
    lines = [
        "| data | backend | threads | values/s | values per CPU-s | × torch per CPU-s | cosine to torch min / mean | "
        "first load s | load avg |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        rate = torch_rate.get((r["data"], r["threads"]))
        ratio = f"{r['per_cpu_s'] / rate:.2f}" if rate else "—"
        cos = f"{r['cos_min']:.4f} / {r['cos_mean']:.5f}" if "cos_min" in r else "—"
        lines.append(f"| {r['data']} | {r['backend']} | {r['threads']} | {r['per_s']:,.0f} | {r['per_cpu_s']:,.0f} | "
                     f"{ratio} | {cos} | {r['load_s']:.1f} | {r['load']:.1f} |")
    return lines


NOTES = """\
onnx-int8 is the per-token int8 model (`embeddings/onnx_quant.py`): weights int8 per output column, each token
row's activations quantized on their own (uint8, symmetric around 128, or 0..255 after a GELU) by one
QuantizeLinear per tensor (the query, key and value projections share theirs), so a value's vector does not
depend on what it is batched with. The ONNX encoder runs N Python threads over one session, each running whole
batches with one ONNX Runtime thread (no intra-op pool, nothing spins), on batches of one token length (no
padding): the vectors are the same bit for bit for any thread count and batch size
(`tests/test_embed_backends.py`). *values per CPU-s* is the steadier figure on a shared machine; the wall
figures at 2 threads mean something only when the load average is below 1. Quality of the built tree with
each backend's vectors: `benchmarks/results/build_quality_int8.md` (10 seeds)."""


def compare(before: list[dict], after: list[dict], name: str) -> list[str]:
    """before -> after per (data, backend, threads) present in both runs."""
    old = {(r.get("data", "published"), r["backend"], r["threads"]): r for r in before}
    lines = [f"Before -> after (before: `{name}`, an earlier run of this script on the same machine; load average "
             "of each run in brackets)", "",
             "| data | backend | threads | values/s | values per CPU-s | cosine to torch min / mean |",
             "|---|---|---|---|---|---|"]
    for r in after:
        b = old.get((r["data"], r["backend"], r["threads"]))
        if b is None:
            continue
        cos = (f"{b['cos_min']:.4f} / {b['cos_mean']:.4f} -> {r['cos_min']:.4f} / {r['cos_mean']:.4f}"
               if "cos_min" in b and "cos_min" in r else "—")
        lines.append(f"| {r['data']} | {r['backend']} | {r['threads']} | {b['per_s']:,.0f} [{b['load']:.1f}] -> "
                     f"{r['per_s']:,.0f} [{r['load']:.1f}] | {b['per_cpu_s']:,.0f} -> {r['per_cpu_s']:,.0f} | {cos} |")
    return lines


WARM_STAGE = """
import json, os, resource, sys, time
from taxonomy.build import embed_values
from taxonomy.progress import NullProgress
texts = json.load(open(sys.argv[1]))
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
w, c = time.perf_counter(), cpu()
emb, X = embed_values(texts, model=None, cache_dir=sys.argv[2], batch_size=64, progress=NullProgress(),
                      backend=sys.argv[3], device="auto")
w, c = time.perf_counter() - w, cpu() - c
print(json.dumps(dict(wall_s=w, cpu_s=c, load=os.getloadavg()[0], embedded=emb.stats.n_embedded,
                      model_loaded=emb.stats.model_loaded, torch_imported="torch" in sys.modules)))
"""


def warm(n: int, backend: str, repeat: int) -> list[dict]:
    """The build's embed stage (``taxonomy.build.embed_values``) on ``n`` normalized synthetic phrases whose
    vectors are all in the cache (stand-in unit vectors put under ``backend``'s identity), each run in a fresh
    process as ``taxo build`` runs it."""
    import subprocess

    import numpy as np
    import synthetic

    from embeddings import EmbeddingCache, Embedder
    from taxonomy.normalize import normalize_value

    texts = [normalize_value(t) for t in synthetic.phrases(n)]
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        X = np.random.default_rng(0).normal(size=(n, 384)).astype(np.float32)
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        EmbeddingCache(cache).put(Embedder(cache_dir=cache, backend=backend, device="cpu").identity, texts, X)
        listing = Path(cache) / "texts.json"
        listing.write_text(json.dumps(texts))
        for _ in range(repeat):
            out = subprocess.run([sys.executable, "-c", WARM_STAGE, str(listing), cache, backend], check=True,
                                 capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
            rows.append(dict(data=f"warm {n // 1000}k", n=n, backend=backend, **json.loads(out.splitlines()[-1])))
            print(rows[-1], file=sys.stderr, flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", nargs="+", default=["torch", "onnx", "onnx-int8"])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--refdata", default="/work/shared/refdata/values-in-the-wild")
    ap.add_argument("--synthetic", type=int, default=0, help="also embed this many synthetic value phrases")
    ap.add_argument("--synthetic-backends", nargs="+", default=["onnx-int8"])
    ap.add_argument("--synthetic-threads", type=int, nargs="+", default=None, help="default: --threads")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "embed_speed.md"))
    ap.add_argument("--before", type=Path, default=None,
                    help="the JSON of an earlier run (same machine): adds a before -> after table")
    ap.add_argument("--rows", type=Path, default=None,
                    help="render the rows of this JSON (a run's output) instead of measuring")
    ap.add_argument("--warm", type=int, default=0,
                    help="only time the build's embed stage on this many synthetic phrases, all cached")
    ap.add_argument("--warm-backend", default="onnx-int8")
    args = ap.parse_args()
    if args.warm:
        rows = warm(args.warm, args.warm_backend, args.repeat)
        for r in rows:
            print(f"| {r['data']} | {r['backend']} | {r['cpu_s']:.2f} | {r['wall_s']:.2f} | {r['load']:.1f} | "
                  f"{r['model_loaded']} | {r['torch_imported']} |")
        return

    import build_quality as bq
    import synthetic

    values = bq.load_reference(Path(args.refdata))[0]
    sets = [("published", sorted(set(values)), args.backends, args.threads, args.repeat)]
    if args.synthetic:
        sets.append((f"synthetic {args.synthetic // 1000}k", synthetic.phrases(args.synthetic),
                     args.synthetic_backends, args.synthetic_threads or args.threads, 1))
    rows = json.loads(args.rows.read_text()) if args.rows else []
    with tempfile.TemporaryDirectory() as cache:
        for label, texts, backends, threads, repeat in sets if not args.rows else []:
            rows += measure(texts, backends, threads, repeat, args.batch_size, cache, label)
    lines = [
        "# Embedding backends: speed and closeness to torch fp32",
        "",
        f"Generated by `benchmarks/embed_speed.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
        f"({os.cpu_count()} cores, shared with other jobs: load average at each row below); all-MiniLM-L6-v2, "
        f"batch {args.batch_size}, same process; published = the {len(sets[0][1])} distinct published values "
        f"(best of {args.repeat} passes), synthetic = `benchmarks/synthetic.py` phrases (one pass).",
        "",
        *table(rows),
    ]
    if args.before:
        lines += ["", *compare(json.loads(args.before.read_text()), rows, args.before.name)]
    lines += ["", NOTES]
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    Path(args.out).with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n")
    print(text)


if __name__ == "__main__":
    main()
