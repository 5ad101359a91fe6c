"""Speed of `taxo analyze` on 1M extraction records and 100k values.

Generates records with scripts/make_extractions.py (about 345,000 conversations, a 100,000-value vocabulary with a
flat Zipf law so that nearly every value occurs), ingests them with `taxonomy.api.ingest` (timed, for information),
stores the planted three-level taxonomy directly as a version (no clustering: building a 100k-value tree is not
what is measured), then times each analysis once through `taxonomy.api.analyze` at level 0 (every value) and at
the top level, and writes a Markdown report.

    .venv/bin/python benchmarks/analyze_speed.py [--conversations 345000] [--values 100000]
        [--db sqlite:////tmp/analyze_speed.db] [--out benchmarks/results/analyze_speed.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.make_extractions import MODELS, generate, store_planted_version, write_records  # noqa: E402
import taxonomy.api as tx  # noqa: E402

BUDGET_S = 30.0


def runs(level: int) -> list[tuple[str, dict]]:
    return [
        ("prevalence", {"level": level, "role": "ai"}),
        ("prevalence", {"level": level, "by": "model"}),
        ("context", {"level": level, "by": "task"}),
        ("consistency", {"level": level, "by": "task"}),
        ("responses", {"level": level}),
        ("pairs", {"level": level}),
        ("compare", {"level": level, "by": "model", "a": MODELS[0], "b": MODELS[1]}),
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--conversations", type=int, default=345_000)
    p.add_argument("--values", type=int, default=100_000)
    p.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file in a temporary directory)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "analyze_speed.md"))
    a = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="analyze-speed-"))
    db = a.db or f"sqlite:///{tmp / 'bench.db'}"
    t0 = time.perf_counter()
    syn = generate(a.conversations, seed=0, n_values=a.values, zipf_exponent=0.5)
    path = tmp / "records.parquet"
    write_records(syn.records, path)
    t_gen = time.perf_counter() - t0
    tx.init(db)
    setup = "reused the database's data (--db given and already loaded)"
    if not tx.versions(db=db):
        t0 = time.perf_counter()
        tx.ingest(str(path), db=db, role_col="role", task_col="task", response_type_col="response_type",
                  slice_cols=["model"], explicit_col="explicit")
        t_ing = time.perf_counter() - t0
        t0 = time.perf_counter()
        store_planted_version(db, syn.tree, message="benchmark: planted taxonomy")
        t_store = time.perf_counter() - t0
        setup = (f"generate {t_gen:.1f} s, ingest {t_ing:.1f} s, store the version {t_store:.1f} s")
    info = tx.versions(db=db)[-1]
    v, n_values = info.id, info.counts.get(0)
    from sqlalchemy import func, select

    from taxonomy.db.engine import session_scope
    from taxonomy.db.models import ExtractionRecord

    with session_scope(db) as s:
        n_records = s.scalar(select(func.count()).select_from(ExtractionRecord))
    print(f"{n_records} records, {n_values} values; {setup}", flush=True)
    results = []
    for level in (0, 3):
        for analysis, kw in runs(level):
            t0 = time.perf_counter()
            res = tx.analyze(v, analysis, db=db, **kw)
            dt = time.perf_counter() - t0
            opts = " ".join(f"--{k.replace('_', '-')} {x}" for k, x in kw.items())
            rows = sum(len(t.rows) for t in res.tables.values())
            supp = sum(res.suppressed.values())
            results.append((analysis, opts, dt, rows, supp))
            print(f"{analysis:12s} {opts:60s} {dt:6.1f}s", flush=True)
    load = os.getloadavg()
    lines = [
        "# `taxo analyze` speed",
        "",
        f"{n_records:,} extraction records, {a.conversations:,} conversations, {n_values:,} values in the "
        f"version (levels {', '.join(str(len(syn.tree[f'level{i}'])) for i in (1, 2, 3))}); database "
        f"`{db.split(':', 1)[0]}`; Python {platform.python_version()}, {os.cpu_count()} CPUs, load average "
        f"{load[0]:.1f} at the end. Budget: {BUDGET_S:.0f} s per analysis. Set-up (not timed against the budget): "
        f"{setup}.",
        "",
        "| analysis | options | seconds | rows reported | suppressed |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {an} | `{o}` | {dt:.1f} | {r:,} | {s:,} |" for an, o, dt, r, s in results]
    worst = max(r[2] for r in results)
    lines += ["", f"Slowest: {worst:.1f} s ({'within' if worst <= BUDGET_S else 'over'} the {BUDGET_S:.0f} s budget).",
              ""]
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
