"""The first `taxo similar` on a version after a build, after a rename and after a merge, as a user runs it.

On a database whose version ``--version`` was written by ``taxo build`` (which stores the version's vectors in
``<cache>/version-vectors``), this writes two edits of it (``edit V rename``, then ``edit V merge`` of two
level-1 nodes) and runs ``taxo similar PHRASE --version X -k 10 --json`` on each of the three versions, each call
its own process under ``/usr/bin/time`` (wall, user + system CPU-s, peak RSS): first with a phrase the embedding
cache lacks (a fresh random phrase, so the encoder is loaded), then again with the same phrase. E.g., on the
100k build of the README's "Large inputs"::

    benchmarks/similar_after_edit.py --db sqlite:////tmp/e2e/taxo.db --cache-dir /tmp/e2e/cache --version 1

The database gets the two edit versions; use a copy.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def taxo(args: list[str], env: dict) -> tuple[dict, str]:
    with tempfile.NamedTemporaryFile(suffix=".time", delete=False) as f:
        tfile = f.name
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", "-o", tfile, sys.executable, "-m", "taxonomy.cli", *args],
                       capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - t
    user, system, rss = Path(tfile).read_text().split()[-3:]
    os.unlink(tfile)
    if p.returncode:
        raise SystemExit(f"taxo {' '.join(args)}: exit {p.returncode}: {p.stderr[-500:]}")
    return {"wall_s": round(wall, 2), "cpu_s": round(float(user) + float(system), 2),
            "rss_mb": round(int(rss) / 1024)}, p.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--cache-dir", required=True)
    ap.add_argument("--version", default="1")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random phrases")
    ap.add_argument("--out", default=None, help="JSON results")
    a = ap.parse_args()
    env = dict(os.environ, TAXO_DATABASE_URL=a.db, TAXO_CACHE_DIR=a.cache_dir, PYTHONPATH=str(ROOT),
               OMP_NUM_THREADS="1")
    _, out = taxo(["show", a.version, "--level", "1", "--json"], env)
    nodes = [n["id"] for n in json.loads(out)["nodes"][:3]]
    versions = {"build": a.version}
    for name, args in (("rename", ["rename", nodes[0], "Renamed for the benchmark"]),
                       ("merge", ["merge", nodes[1], "--into", nodes[2]])):
        r, out = taxo(["edit", a.version, *args, "--json"], env)
        versions[name] = str(json.loads(out)["version_id"])
        print(f"edit {name}: {r}", flush=True)
    rng = random.Random(a.seed)
    words = ["steady", "careful", "patient", "honest", "bold", "quiet", "fair", "open", "calm", "exact"]
    res = {"db": a.db.split(":")[0], "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "load_start": round(os.getloadavg()[0], 2), "runs": {}}
    for name, v in versions.items():
        phrase = f"{rng.choice(words)} {rng.choice(words)} care {rng.randrange(10**6)}"
        first, out1 = taxo(["similar", phrase, "--version", v, "-k", "10", "--json"], env)
        again, out2 = taxo(["similar", phrase, "--version", v, "-k", "10", "--json"], env)
        res["runs"][name] = {"version": v, "first": first, "again": again, "same_output": out1 == out2}
        print(name, res["runs"][name], flush=True)
    res["load_end"] = round(os.getloadavg()[0], 2)
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
