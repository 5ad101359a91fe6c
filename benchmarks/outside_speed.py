"""Before/after, in one process, of three commands outside the build on a synthetic 100,000-value version:
``export --format skos-ttl`` (rdflib graph + serializer vs the streaming writer), ``show V --level 1`` (rich table
vs the plain table used for large tables) and ``similar`` (node vectors rebuilt per call vs cached per version).

    .venv/bin/python benchmarks/outside_speed.py [--values 100000] [--workdir /tmp/taxo-outside] [--reuse]
        [--out benchmarks/results/outside_speed.json]

The version is stored as ``benchmarks/report_speed.py`` does (synthetic values ingested, a 4-level tree of
8 % / 0.6 % / 0.03 % / 6 nodes written through the store, random unit vectors in the embedding cache standing in
for the embeddings), so nothing is clustered. Then, in this process: each old and new path on the same data,
and, as a user runs them, the three commands in a separate process (wall time, peak RSS from /usr/bin/time).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))
TAXO = Path(sys.executable).parent / "taxo"

import report_speed  # noqa: E402


def timed(fn):
    t = time.perf_counter()
    res = fn()
    return time.perf_counter() - t, res


def cli(args: list[str], env: dict) -> dict:
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", str(TAXO), *args], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if p.returncode:
        raise RuntimeError(f"taxo {' '.join(args)}: exit {p.returncode}: {p.stderr[-500:]}")
    return {"wall_s": round(wall, 2), "rss_mb": round(int(p.stderr.strip().splitlines()[-1]) / 1024),
            "load": round(os.getloadavg()[0], 2), "stdout_lines": p.stdout.count("\n")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--values", type=int, default=100_000)
    ap.add_argument("--workdir", default="/tmp/taxo-outside")
    ap.add_argument("--reuse", action="store_true", help="reuse the database and cache of an earlier run")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "outside_speed.json"))
    a = ap.parse_args()
    work = Path(a.workdir)
    db = f"sqlite:///{work / 'taxo.db'}"
    cache = work / "cache"
    os.environ["TAXO_CACHE_DIR"] = str(cache)
    from taxonomy import api as tx

    res: dict = {"values": a.values}
    if not (a.reuse and (work / "taxo.db").exists()):
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        tx.init(db=db)
        res["store_s"], version = timed(lambda: report_speed.store_tree(db, work, a.values, 0))
        report_speed.fake_embeddings(cache, db, version, 0)
    version = 1

    from rich.console import Console
    from rich.table import Table

    from taxonomy.cli_table import print_table
    from taxonomy.db.engine import session_scope
    from taxonomy.export import ExportContext
    from taxonomy.export.skos import write_skos_turtle_rdflib
    from taxonomy.export.skos_turtle import write_skos_turtle
    from taxonomy.normalize import printable
    from taxonomy.store import get_version, read_tree

    with session_scope(db) as s:
        v = get_version(s, version)
        ctx = ExportContext(version, v.checksum, dict(v.manifest or {}))
        tree = read_tree(s, version, aliases=True)
    res["skos_stream_s"] = round(timed(lambda: write_skos_turtle(tree, io.BytesIO(), ctx))[0], 2)
    res["skos_rdflib_s"] = round(timed(lambda: write_skos_turtle_rdflib(tree, io.BytesIO(), ctx))[0], 2)
    del tree

    from rich.markup import escape

    shown = tx.show(version, level=1, db=db)
    rows = [(n.short_id, n.name, n.description, str(n.n_children), str(n.member_count),
             f"{n.pct_total_occurrences:.3f}%") for n in shown.nodes]
    cols = ("id", "name", "description", "children", "values", "pct")

    def rich_table():
        t = Table()
        for col in cols:
            t.add_column(col, overflow="fold")
        for r in rows:
            t.add_row(*(escape(printable(c)) for c in r))
        Console(file=io.StringIO(), width=160).print(t)

    res["show_rows"] = len(rows)
    res["show_rich_s"] = round(timed(rich_table)[0], 2)
    res["show_plain_s"] = round(timed(lambda: print_table(Console(file=io.StringIO(), width=160), cols, rows,
                                                           numeric=cols[3:]))[0], 2)

    from taxonomy.similar_cache import clear_version_vectors

    clear_version_vectors(str(cache))
    for key, kwargs in (("similar_warmup_uncached_s", {"cache_vectors": False}), ("similar_uncached_s", {"cache_vectors": False}),
                        ("similar_first_s", {}), ("similar_cached_s", {})):
        res[key] = round(timed(lambda kw=kwargs: tx.similar("honesty", version=version, k=10, db=db, **kw))[0], 2)

    env = dict(os.environ, TAXO_CACHE_DIR=str(cache))
    res["cli"] = {
        "show_level1": cli(["show", str(version), "--level", "1", "--db", db], env),
        "export_skos_ttl": cli(["export", str(version), "--format", "skos-ttl", "-o", str(work / "t.ttl"), "--db", db], env),
        "similar": cli(["similar", "honesty", "--version", str(version), "--db", db], env),
    }
    res["load"] = round(os.getloadavg()[0], 2)
    Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
