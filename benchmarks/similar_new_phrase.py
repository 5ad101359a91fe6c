"""`taxo similar` with a phrase the embedding cache lacks, as a user runs it, for one or more checkouts.

For each phrase and each checkout (``--code NAME=DIR``, PYTHONPATH of the command): the phrase's rows are deleted
from the embedding cache (and ``<cache>/version-vectors`` with ``--fresh-version-vectors``), then
``taxo similar PHRASE --version V -k 10 --json`` runs in its own process under ``/usr/bin/time`` (user + system
CPU-s, peak RSS). Prints per phrase the CPU-s and RSS of each checkout, whether the printed JSON is byte for byte
the same in all, and whether the vector each stored in the cache is. E.g., on the version
``outside_speed.py --workdir /tmp/light100k --keep --only similar`` builds::

    benchmarks/similar_new_phrase.py --db sqlite:////tmp/light100k/sqlite/taxo.db \\
        --cache-dir /tmp/light100k/sqlite/cache --code before=/tmp/base --code after=. honesty "Café — naïve?!"
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def drop(cache: Path, text: str) -> list[tuple[str, bytes]]:
    """Delete the (normalized) text's rows from the embedding cache; returns them."""
    from taxonomy.normalize import normalize_value

    key = hashlib.sha256(normalize_value(text).encode("utf-8")).digest()
    conn = sqlite3.connect(cache / "embeddings.sqlite")
    try:
        rows = conn.execute("SELECT model, vector FROM embeddings WHERE key = ?", (key,)).fetchall()
        conn.execute("DELETE FROM embeddings WHERE key = ?", (key,))
        conn.commit()
    finally:
        conn.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("phrases", nargs="+")
    ap.add_argument("--db", required=True)
    ap.add_argument("--cache-dir", required=True, type=Path)
    ap.add_argument("--version", default="1")
    ap.add_argument("--code", action="append", required=True, metavar="NAME=DIR")
    ap.add_argument("--fresh-version-vectors", action="store_true", help="first call on the version")
    a = ap.parse_args()
    codes = dict(c.split("=", 1) for c in a.code)
    print("| phrase | " + " | ".join(f"{n}: CPU-s, RSS MB" for n in codes) + " | same output | same vector |")
    print("|---|" + "---|" * len(codes) + "---|---|")
    for phrase in a.phrases:
        runs = {}
        for name, code in codes.items():
            drop(a.cache_dir, phrase)
            if a.fresh_version_vectors:
                shutil.rmtree(a.cache_dir / "version-vectors", ignore_errors=True)
            env = dict(os.environ, PYTHONPATH=str(Path(code).resolve()), OMP_NUM_THREADS="1",
                       TAXO_DATABASE_URL=a.db, TAXO_CACHE_DIR=str(a.cache_dir))
            r = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", sys.executable, "-m", "taxonomy.cli", "similar",
                                phrase, "--version", a.version, "-k", "10", "--json"],
                               env=env, cwd=Path(code).resolve(), capture_output=True, text=True, check=True)
            user, system, rss = r.stderr.strip().splitlines()[-1].split()
            runs[name] = (r.stdout, float(user) + float(system), int(rss) // 1024, drop(a.cache_dir, phrase))
        outs = [v[0] for v in runs.values()]
        vecs = [v[3] for v in runs.values()]
        cells = " | ".join(f"{v[1]:.2f}, {v[2]}" for v in runs.values())
        same_out = all(o == outs[0] for o in outs) and bool(outs[0])
        same_vec = all(v == vecs[0] for v in vecs) and len(vecs[0]) == 1
        print(f"| {phrase[:30]} | {cells} | {same_out} | {same_vec} |", flush=True)


if __name__ == "__main__":
    main()
