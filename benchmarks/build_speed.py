"""Wall time of a full `taxo build` of the 3,307 published values (levels 266,26,5), as a user runs it:
separate processes, model load included; once with an empty embedding cache, once with a warm one.

    .venv/bin/python benchmarks/build_speed.py [--repeats 2] [--out benchmarks/results/build_speed.md]

Needs ../shared/refdata/values-in-the-wild/values_frequencies.csv (or --values PATH).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VALUES = ROOT.parent / "shared" / "refdata" / "values-in-the-wild" / "values_frequencies.csv"
TAXO = Path(sys.executable).parent / "taxo"


def run(args: list[str], env: dict) -> float:
    t = time.perf_counter()
    proc = subprocess.run([str(TAXO), *args], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"taxo {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--values", default=str(DEFAULT_VALUES))
    ap.add_argument("--levels", default="266,26,5")
    ap.add_argument("--method", default=None)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "build_speed.md"))
    args = ap.parse_args()

    cold, warm = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            env = {
                **os.environ,
                "TAXO_DATABASE_URL": f"sqlite:///{tmp}/bench.db",
                "TAXO_CACHE_DIR": f"{tmp}/cache",
            }
            run(["init", "--quiet"], env)
            run(["ingest", args.values, "--value-col", "value", "--weight-col", "pct_convos", "--quiet"], env)
            build = ["build", "--levels", args.levels, "--seed", "0", "--quiet"]
            if args.method:
                build += ["--method", args.method]
            cold.append(run(build, env))
            warm.append(run(build, env))
    result = {
        "levels": args.levels,
        "method": args.method or "default",
        "cold_s": cold,
        "warm_s": warm,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    lines = [
        "# `taxo build` wall time (3,307 published values, levels " + args.levels + ")",
        "",
        f"Machine: {result['machine']}. Each run is a separate `taxo build` process (imports and model load "
        "included).",
        "",
        "| cache | runs (s) | median (s) | budget (s) |",
        "|---|---|---|---|",
        f"| empty (model loaded, 3,307 values embedded) | {', '.join(f'{x:.1f}' for x in cold)} | "
        f"{statistics.median(cold):.1f} | 60 |",
        f"| warm (nothing embedded) | {', '.join(f'{x:.1f}' for x in warm)} | {statistics.median(warm):.1f} | 20 |",
        "",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines))
    Path(args.out).with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
