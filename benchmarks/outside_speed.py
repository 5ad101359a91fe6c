"""The commands outside the build on a synthetic 100,000-value version, on SQLite or PostgreSQL: writing the
version, ``show``, ``diff``, ``check``, ``export`` (every format), ``similar`` and an edit, each as a user runs it
(a separate process: wall seconds, CPU seconds user + system, peak RSS, load average).

    .venv/bin/python benchmarks/outside_speed.py [--values 100000] [--db sqlite|URL] [--workdir /tmp/taxo-outside]
        [--reuse] [--out benchmarks/results/outside_speed.json]

``--db`` is ``sqlite`` (a file in the work directory, the default) or a PostgreSQL server URL such as
``postgresql://postgres@127.0.0.1:5432/postgres``: a scratch database ``taxo_outside_N`` (or ``--dbname``) is
created there (dropped first) and dropped at the end unless ``--keep``. ``--cache-dir`` (default: ``cache`` in the
work directory) is the embedding cache. With ``--db-times`` every command runs through
``benchmarks/db_timed.py``, which adds the statements' execute seconds and, on a local server, the server
processes' CPU seconds to its figures.

The version is stored as ``benchmarks/report_speed.py`` does (synthetic values ingested, a 4-level tree of
8 % / 0.6 % / 0.03 % / 6 nodes written through the store, random unit vectors in the embedding cache standing in
for the embeddings), so nothing is clustered. Writing a version is timed in this process (``write_version`` of
that tree again, one transaction: wall and CPU seconds of this process; the server's CPU is not in the latter).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

import report_speed  # noqa: E402
from db_timed import _proc_cpu  # noqa: E402


def load() -> float:
    return round(os.getloadavg()[0], 2)


def cli(args: list[str], env: dict, db_times: bool = False) -> dict:
    """``taxo ARGS`` in a separate process under /usr/bin/time: wall, CPU (user + sys), peak RSS, load before;
    with ``db_times``, through ``db_timed.py``: also the statements' count and execute seconds, and the server's
    CPU seconds."""
    with tempfile.NamedTemporaryFile(suffix=".time", delete=False) as f:
        tfile = f.name
    run = [str(ROOT / "benchmarks" / "db_timed.py")] if db_times else ["-m", "taxonomy.cli"]
    env = dict(env, TAXO_DB_TIMES=tfile + ".db") if db_times else env
    before = load()
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", "-o", tfile, sys.executable, *run, *args],
                       capture_output=True, text=True, env=env, cwd=env["PYTHONPATH"])  # (-m: cwd comes first)
    wall = time.perf_counter() - t
    user, system, rss = Path(tfile).read_text().split()[-3:]
    os.unlink(tfile)
    extra = {}
    if db_times and os.path.exists(tfile + ".db"):
        extra = json.loads(Path(tfile + ".db").read_text().splitlines()[-1])
        os.unlink(tfile + ".db")
        extra = {k: extra[k] for k in ("statements", "execute_s", "server_cpu_s")}
    if p.returncode:
        raise RuntimeError(f"taxo {' '.join(args)}: exit {p.returncode}: {p.stderr[-800:]}")
    return {"wall_s": round(wall, 2), "cpu_s": round(float(user) + float(system), 2), "rss_mb": round(int(rss) / 1024),
            "load": before, **extra, "stdout": p.stdout}


def commands(version: int, work: Path) -> list[tuple[str, list[str]]]:
    v = str(version)
    out = [("show_level1", ["show", v, "--level", "1"]), ("show_level1_json", ["show", v, "--level", "1", "--json"]),
           ("check", ["check", v])]
    for fmt, suffix in (("values-tree-csv", "csv"), ("json", "json"), ("parquet", "parquet"), ("skos-ttl", "ttl"),
                        ("skos-jsonld", "jsonld")):
        out.append((f"export_{fmt}", ["export", v, "--format", fmt, "-o", str(work / f"tree.{suffix}")]))
    out += [("similar", ["similar", "honesty", "--version", v, "-k", "10"]),
            ("similar_again", ["similar", "honesty", "--version", v, "-k", "10"])]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--values", type=int, default=100_000)
    ap.add_argument("--db", default="sqlite", help="'sqlite' or a PostgreSQL server URL")
    ap.add_argument("--workdir", default="/tmp/taxo-outside")
    ap.add_argument("--reuse", action="store_true", help="reuse the database and cache of an earlier run")
    ap.add_argument("--keep", action="store_true", help="keep the PostgreSQL scratch database")
    ap.add_argument("--dbname", default=None, help="name of the PostgreSQL scratch database [taxo_outside_N]")
    ap.add_argument("--cache-dir", default=None, help="embedding cache [WORKDIR/<db>/cache]")
    ap.add_argument("--db-times", action="store_true",
                    help="also the statements' execute seconds and the server's CPU seconds (benchmarks/db_timed.py)")
    ap.add_argument("--code", default=str(ROOT), help="checkout whose taxonomy package the commands run [this one]")
    ap.add_argument("--save", default=None, help="directory for every command's stdout and exported file")
    ap.add_argument("--diff-to", type=int, default=None,
                    help="diff against this version instead of editing (no new version; the same diff every run)")
    ap.add_argument("--no-similar", action="store_true", help="skip `similar` (no fake embeddings are written)")
    ap.add_argument("--only", default=None, help="comma-separated command names to run (default: all)")
    ap.add_argument("--out", default=None, help="JSON results (default results/outside_speed[_postgresql].json)")
    ap.add_argument("--markdown", nargs="+", metavar="DB=BEFORE.json,AFTER.json",
                    help="only print the before -> after tables of earlier runs, e.g. postgresql=b.json,a.json")
    a = ap.parse_args()
    if a.markdown:
        pairs = []
        for spec in a.markdown:
            db, files = spec.split("=", 1)
            before, after = (json.loads(Path(f).read_text()) for f in files.split(","))
            pairs.append((db, before, after))
        return print(markdown(pairs))
    pg = a.db != "sqlite"
    work = Path(a.workdir) / ("postgresql" if pg else "sqlite")
    scratch = a.dbname or f"taxo_outside_{a.values}"
    if pg:
        from scale import scratch_postgres

        db = a.db.rsplit("/", 1)[0] + "/" + scratch if a.reuse else scratch_postgres(a.db, scratch)
    else:
        db = f"sqlite:///{work / 'taxo.db'}"
    cache = Path(a.cache_dir) if a.cache_dir else work / "cache"
    os.environ["TAXO_CACHE_DIR"] = str(cache)
    out_path = Path(a.out or ROOT / "benchmarks" / "results" / f"outside_speed{'_postgresql' if pg else ''}.json")
    from taxonomy import api as tx
    from taxonomy.db.engine import dispose_engine, session_scope
    from taxonomy.store import read_tree, write_version
    from taxonomy.tree import content_checksum

    res: dict = {"values": a.values, "db": "postgresql" if pg else "sqlite", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                 "load_start": load(), "cores": os.cpu_count()}
    if not a.reuse:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        tx.init(db=db)
        # the setup only (not timed): PostgreSQL's planner takes the new, not yet analysed value table for empty
        # during the ingest's transaction and scans it for every chunk of ids it looks up; no sequential scans then
        setup = f"{db}?options=-c%20enable_seqscan%3Doff" if pg else db
        t = time.perf_counter()
        version = report_speed.store_tree(setup, work, a.values, 0)
        res["ingest_and_first_write_s"] = round(time.perf_counter() - t, 2)
        if not a.no_similar:
            report_speed.fake_embeddings(cache, setup, version, 0)
        dispose_engine(setup)
    version = 1
    only = set(a.only.split(",")) if a.only else None
    if not only or "write_version" in only:
        with session_scope(db) as s:
            tree = read_tree(s, version)
        checksum = content_checksum(tree)
        lo, t, c = load(), time.perf_counter(), time.process_time()
        with session_scope(db) as s:
            backend = s.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar() if pg else None
            server0 = _proc_cpu(backend) if backend else None
            write_version(s, tree, kind="build", message="benchmark: the same tree again", manifest={"kind": "build"},
                          checksum=checksum, parent_id=version)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        server1 = _proc_cpu(backend) if server0 is not None else None
        res["write_version"] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "load": lo,
                                "nodes": len(tree.nodes), "values": len(tree.leaves)}
        if server1 is not None:
            res["write_version"]["server_cpu_s"] = round(server1 - server0, 2)
        print("write_version", res["write_version"], flush=True)
        del tree
    dispose_engine(db)
    env = dict(os.environ, TAXO_CACHE_DIR=str(cache), TAXO_DATABASE_URL=db, PYTHONPATH=a.code, OMP_NUM_THREADS="1")
    res["cli"] = {}

    def run(name, args):
        if (only and name not in only) or (a.no_similar and name.startswith("similar")):
            return None
        try:
            r = cli(args, env, a.db_times)
        except RuntimeError as exc:
            res["cli"][name] = {"error": str(exc)[:800]}
            print(name, res["cli"][name], flush=True)
            return None
        stdout = r.pop("stdout")
        if a.save:  # what the command printed and wrote, to compare two codes' outputs byte for byte
            save = Path(a.save)
            save.mkdir(parents=True, exist_ok=True)
            (save / f"{name}.out").write_text(stdout, encoding="utf-8")
            if "-o" in args:
                shutil.copyfile(args[args.index("-o") + 1], save / Path(args[args.index("-o") + 1]).name)
        res["cli"][name] = r
        print(name, r, flush=True)
        return stdout

    for name, args in commands(version, work):
        run(name, args)
    nv = str(a.diff_to) if a.diff_to else None
    if nv is None:
        node = json.loads(tx_show_json(version, db))[0]
        new = run("edit_rename", ["edit", str(version), "rename", node, "Renamed for the benchmark", "--json"])
        nv = str(json.loads(new)["version_id"]) if new else None
    if nv:
        run("diff", ["diff", str(version), nv])
        run("diff_json", ["diff", str(version), nv, "--json"])
    res["load_end"] = load()
    if pg and not a.keep:
        import psycopg

        dispose_engine(db)
        with psycopg.connect(a.db, autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {scratch}")
    out_path.write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res, indent=1))


ROWS = [("write a version (in process; client CPU)", "write_version"), ("show --level 1", "show_level1"),
        ("show --level 1 --json", "show_level1_json"), ("check", "check"),
        ("export values-tree-csv", "export_values-tree-csv"), ("export json", "export_json"),
        ("export parquet", "export_parquet"), ("export skos-ttl", "export_skos-ttl"),
        ("export skos-jsonld", "export_skos-jsonld"), ("similar, first call on the version (its vectors computed)", "similar"),
        ("similar again", "similar_again"), ("edit (rename; writes a version)", "edit_rename"), ("diff", "diff"),
        ("diff --json", "diff_json")]


def markdown(pairs: list[tuple[str, dict, dict]]) -> str:
    """One table per database: before -> after (wall s / CPU s / load) of every command."""
    lines = []
    for db, before, after in pairs:
        lines += [f"### {db}: {after['values']:,} values", "",
                  f"Before: {before['date']}, load {before['load_start']} at the start. After: {after['date']}, "
                  f"load {after['load_start']} at the start ({after['cores']} cores).", "",
                  "| command | before: wall s | CPU s | load | after: wall s | CPU s | load | peak RSS MB before → after |",
                  "|---|---|---|---|---|---|---|---|"]
        for label, key in ROWS:
            b = before.get(key) or before["cli"].get(key) or {}
            a = after.get(key) or after["cli"].get(key) or {}
            if not a and not b:
                continue
            rss = f"{b.get('rss_mb', '—')} → {a.get('rss_mb', '—')}" if "rss_mb" in a or "rss_mb" in b else ""
            lines.append(f"| {label} | {b.get('wall_s', '—')} | {b.get('cpu_s', '—')} | {b.get('load', '—')} | "
                         f"{a.get('wall_s', '—')} | {a.get('cpu_s', '—')} | {a.get('load', '—')} | {rss} |")
        lines.append("")
    return "\n".join(lines)


def tx_show_json(version: int, db: str) -> str:
    from taxonomy import api as tx

    return json.dumps([n.id for n in tx.show(version, level=1, db=db).nodes])


if __name__ == "__main__":
    main()
