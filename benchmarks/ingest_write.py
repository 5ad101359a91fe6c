"""`taxo ingest` of a large records file, as a user runs it, and the proof that two trees write the same database.

    .venv/bin/python benchmarks/ingest_write.py time RECORDS [--db URL] [--tree DIR] [-- INGEST OPTIONS]
    .venv/bin/python benchmarks/ingest_write.py dump URL

``time``: ``taxo init`` then ``taxo ingest RECORDS --role-col role --task-col task --excerpt-col excerpt`` (or the
options after ``--``) into a fresh database (a temporary SQLite file, or ``--db`` a PostgreSQL server URL, on which
a scratch database ``taxo_bench_ingest`` is created and dropped), the ingest in a child process of the tree
``--tree`` (default: this one): its wall time, user + system CPU seconds, peak RSS and the 1-minute load average
before -> after, as one line of Markdown table. With ``--keep`` the database is left for ``dump``.

``dump``: the sha256 of every table of a database, its rows ordered by primary key, timestamps left out (the one
column random by design); one ``table rows sha256`` line each. Two trees that ingest the same files in the same
order into fresh databases must print the same lines.

RECORDS: e.g. ``benchmarks/synthetic.py --values 100000 --records 1000000 -o /tmp/ingest/r.csv`` (or ``r.jsonl``;
a Parquet file from the CSV with ``pyarrow.csv.read_csv`` + ``pyarrow.parquet.write_table``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRATCH = "taxo_bench_ingest"


def dump(url: str) -> list[str]:
    """``table rows sha256`` for every table of ``url`` (timestamps left out, rows by primary key)."""
    from sqlalchemy import DateTime, MetaData, create_engine, select

    sys.path.insert(0, str(ROOT))
    from taxonomy.config import database_url

    engine = create_engine(database_url(url))
    meta = MetaData()
    meta.reflect(engine)
    out = []
    with engine.connect() as conn:
        for name in sorted(meta.tables):
            table = meta.tables[name]
            cols = [c for c in table.columns if not isinstance(c.type, DateTime)]
            order = list(table.primary_key.columns) or cols
            h = hashlib.sha256()
            n = 0
            for row in conn.execute(select(*cols).order_by(*order)).yield_per(50_000):
                h.update(repr(tuple(row)).encode("utf-8", "surrogatepass"))
                h.update(b"\n")
                n += 1
            out.append(f"{name} {n} {h.hexdigest()}")
    engine.dispose()
    return out


def _pg_scratch(server: str) -> str:
    import psycopg

    with psycopg.connect(server.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {SCRATCH}")
        c.execute(f"CREATE DATABASE {SCRATCH}")
    return server.rsplit("/", 1)[0] + "/" + SCRATCH


def time_ingest(records: str, db: str | None, tree: Path, options: list[str], keep: bool) -> str:
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    tmp = None
    if db is None:
        tmp = tempfile.mkdtemp(prefix="taxo-ingest-bench-")
        url = f"sqlite:///{tmp}/bench.db"
    else:
        url = _pg_scratch(db)
    python = sys.executable
    subprocess.run([python, "-m", "taxonomy.cli", "init", "--db", url], env=env, check=True, cwd=tree,
                   stdout=subprocess.DEVNULL)
    load0 = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run([python, "-m", "taxonomy.cli", "ingest", records, *options, "--db", url], env=env, check=True,
                   cwd=tree)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    user, sys_ = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    line = (f"| {'SQLite' if db is None else 'PostgreSQL'} | {Path(records).suffix[1:]} | {wall:.1f} s | "
            f"{user + sys_:.1f} ({user:.1f} + {sys_:.1f}) | {after.ru_maxrss / 1024:.0f} MB | "
            f"{load0:.1f} → {os.getloadavg()[0]:.1f} |")
    if keep:
        line += f" <!-- {url} -->"
    elif tmp is not None:
        Path(tmp, "bench.db").unlink()
        os.rmdir(tmp)
    else:
        import psycopg

        with psycopg.connect(db.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {SCRATCH}")
    return line


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("time", help="time one ingest into a fresh database")
    t.add_argument("records")
    t.add_argument("--db", default=None, help="PostgreSQL server URL (default: a temporary SQLite file)")
    t.add_argument("--tree", type=Path, default=ROOT, help="source tree to run (default: this one)")
    t.add_argument("--keep", action="store_true", help="keep the database (its URL is printed) for `dump`")
    t.add_argument("options", nargs="*", help="ingest options (after --)")
    d = sub.add_parser("dump", help="sha256 of every table of a database")
    d.add_argument("url")
    args = ap.parse_args()
    if args.cmd == "dump":
        print("\n".join(dump(args.url)))
        return
    options = args.options or ["--role-col", "role", "--task-col", "task", "--excerpt-col", "excerpt"]
    print(time_ingest(args.records, args.db, args.tree.resolve(), options, args.keep), flush=True)


if __name__ == "__main__":
    main()
