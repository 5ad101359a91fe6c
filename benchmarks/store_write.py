"""Writing a version (``taxonomy.store.write_version``, one transaction) of N values, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/store_write.py [--sizes 30000 100000] [--rounds 2]
        [--pg postgresql://postgres@127.0.0.1:5432/postgres] [--out benchmarks/results/store_write.md]

N synthetic values are ingested (aggregated shape), a 3-level tree of N/12, N/250 and 5 nodes with random
labels is assembled (clustering is not what is timed) and written ``--rounds`` times as new versions. Reported:
wall seconds and this process's CPU seconds per write (the database server's CPU is not in the latter), with
the load average, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def one_size(n: int, url: str, rounds: int) -> list[dict]:
    import numpy as np

    from taxonomy.build import assemble_tree
    from taxonomy.db.engine import session_scope
    from taxonomy.export import content_checksum
    from taxonomy.ingest import ingest, value_totals
    from taxonomy.init import init
    from taxonomy.store import write_version

    init(url)
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        f.write("value,count\n" + "".join(f"value number {i},{1 + i % 7}\n" for i in range(n)))
    ingest(f.name, db=url, count_col="count")
    os.unlink(f.name)
    with session_scope(url) as s:
        totals = value_totals(s)
    rng = np.random.default_rng(0)
    k1, k2 = max(2, n // 12), max(2, n // 250)
    l1 = np.concatenate([np.arange(k1), rng.integers(0, k1, n - k1)])
    l2 = np.concatenate([np.arange(k2), rng.integers(0, k2, k1 - k2)])
    l3 = np.concatenate([np.arange(5), rng.integers(0, 5, k2 - 5)])
    tree, _ = assemble_tree([t.text for t in totals], np.array([t.weight for t in totals]),
                            [t.count for t in totals], [t.id for t in totals], [l1, l2, l3])
    for node in tree.nodes.values():
        node.name = f"node {node.uid}"
        node.description = f"A synthetic node of level {node.level}."
    checksum = content_checksum(tree)
    out = []
    for r in range(rounds):
        load = os.getloadavg()[0]
        t, c = time.perf_counter(), time.process_time()
        with session_scope(url) as s:
            write_version(s, tree, kind="build", message=f"bench {r}", manifest={"kind": "build"}, checksum=checksum)
        out.append({"n": n, "round": r + 1, "wall_s": round(time.perf_counter() - t, 2),
                    "cpu_s": round(time.process_time() - c, 2), "load": round(load, 1), "nodes": len(tree.nodes)})
        print(out[-1], flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[30_000, 100_000])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres", help="'none' to skip")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "store_write.md"))
    args = ap.parse_args()
    from scale import scratch_postgres

    from taxonomy.db.engine import dispose_engine

    rows = []
    tmp = tempfile.mkdtemp(prefix="taxo-store-bench-")
    for n in args.sizes:
        targets = [("sqlite", f"sqlite:///{tmp}/w{n}.db")]
        if args.pg != "none":
            targets.append(("postgresql", scratch_postgres(args.pg, f"taxo_store_bench_{n}")))
        for name, url in targets:
            rows += [{"db": name, **r} for r in one_size(n, url, args.rounds)]
            dispose_engine(url)
    lines = ["# Writing a version", "", f"`benchmarks/store_write.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
             f" ({os.cpu_count()} cores, shared: see the load column).", "",
             "| database | values | nodes | round | wall s | client CPU s | load |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['db']} | {r['n']:,} | {r['nodes']:,} | {r['round']} | {r['wall_s']} | {r['cpu_s']} | {r['load']} |"
              for r in rows]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
