"""The write half of `taxo ingest` for a large records file: the bulk path against the previous per-row ORM path,
in one process on the same file, alternating, on SQLite and (if reachable) PostgreSQL.

    .venv/bin/python benchmarks/ingest_write.py RECORDS.csv [--rounds 2] [--pg postgresql://postgres@127.0.0.1:5432/postgres]

RECORDS.csv: e.g. ``benchmarks/synthetic.py --values 100000 --records 1000000 -o /tmp/records.csv``. The
validation pass alone is timed once; each round ingests the file (both passes) into a fresh database with each
path, so the difference between the two is the write of the records. The
"previous" path is the ORM ``insert(ExtractionRecord)`` with one dict per record in chunks of 5,000, as ingest
did before the bulk path. On PostgreSQL a scratch database ``taxo_bench_ingest`` is created and dropped.
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


def orm_records(session, batch_id, ids, parts, **_) -> None:
    from sqlalchemy import insert

    from taxonomy.db.models import ExtractionRecord

    for part in parts:  # chunks of records (RecordColumns), as the spool gives them
        rows = [
            {"batch_id": batch_id, "value_id": ids[r.value], "line": r.line, "conversation_id": r.conversation_id,
             "surface": r.surface, "role": r.role, "task": r.task, "response_type": r.response_type,
             "excerpt": r.excerpt}
            for r in part.rows()
        ]
        for s in range(0, len(rows), 5000):
            session.execute(insert(ExtractionRecord), rows[s : s + 5000])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres",
                    help="PostgreSQL server to create the scratch database on ('none' to skip)")
    args = ap.parse_args()

    import taxonomy.ingest as ingest_mod
    import taxonomy.readers as readers
    from taxonomy.db.engine import dispose_engine
    from taxonomy.init import init

    t = time.perf_counter()
    stream = readers.open_input(args.records, role_col="role", task_col="task", excerpt_col="excerpt")
    n = sum(len(c) for c in stream.column_chunks())
    print(f"read (validation pass alone): {time.perf_counter() - t:.1f} s ({n:,} records, {len(stream.values):,} "
          f"values; load {os.getloadavg()[0]:.1f})", flush=True)
    bulk = ingest_mod.insert_records

    targets = []
    tmp = tempfile.mkdtemp(prefix="taxo-ingest-bench-")
    targets.append(("sqlite", lambda i: f"sqlite:///{tmp}/bench{i}.db", None))
    if args.pg != "none":
        try:
            import psycopg

            admin = args.pg.replace("postgresql://", "postgresql://", 1)

            def pg_url(i, admin=admin):
                with psycopg.connect(admin, autocommit=True) as c:
                    c.execute("DROP DATABASE IF EXISTS taxo_bench_ingest")
                    c.execute("CREATE DATABASE taxo_bench_ingest")
                return admin.rsplit("/", 1)[0] + "/taxo_bench_ingest"

            def pg_drop(url, admin=admin):
                dispose_engine(url)
                with psycopg.connect(admin, autocommit=True) as c:
                    c.execute("DROP DATABASE IF EXISTS taxo_bench_ingest")

            with psycopg.connect(admin, connect_timeout=3):
                pass
            targets.append(("postgresql", pg_url, pg_drop))
        except Exception as exc:  # noqa: BLE001 - no server: SQLite only
            print(f"PostgreSQL skipped: {exc}", flush=True)
    for name, make, drop in targets:
        for r in range(args.rounds):
            for label, fn in (("previous (ORM rows)", orm_records), ("bulk", bulk)):
                url = make(f"{r}{label[0]}")
                init(url)
                ingest_mod.insert_records = fn
                t = time.perf_counter()
                ingest_mod.ingest(args.records, db=url, role_col="role", task_col="task", excerpt_col="excerpt")
                dt = time.perf_counter() - t
                print(f"{name} round {r + 1} {label}: ingest (read + write) {dt:.1f} s "
                      f"(load {os.getloadavg()[0]:.1f})", flush=True)
                if drop:
                    drop(url)
                else:
                    dispose_engine(url)
                    Path(url.removeprefix("sqlite:///")).unlink()
    ingest_mod.insert_records = bulk


if __name__ == "__main__":
    main()
