"""``taxo ARGS`` in this process with the database's share measured: every statement's execute time (from the
client: sent, run by the server, and, with psycopg's client-side cursors, the rows received) and, on a local
PostgreSQL server, the CPU seconds of the server processes that served this command (``/proc/<pid>/stat`` of each
connection's backend, before and after). The command's own output is unchanged; the figures go as one JSON line
to the file named by ``TAXO_DB_TIMES`` (appended), or to stderr.

    PYTHONPATH=. .venv/bin/python benchmarks/db_timed.py show 1 --level 1   (the code on PYTHONPATH runs)
    TAXO_DB_TIMES_STATEMENTS=1 ...  (also the 10 slowest statements, their first 200 characters)
    TAXO_PROFILE=out.prof ...       (and a cProfile of the command)
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14 and 15)


def main(argv: list[str]) -> int:
    from sqlalchemy import Engine, event

    stats = {"statements": 0, "execute_s": 0.0}
    slow: list[tuple[float, str]] = []
    backends: dict[int, float | None] = {}  # backend pid -> its CPU seconds when first seen

    @event.listens_for(Engine, "connect")
    def _connect(dbapi_conn, _record):
        if type(dbapi_conn).__module__.startswith("psycopg"):
            with dbapi_conn.cursor() as cur:
                cur.execute("SELECT pg_backend_pid()")
                pid = cur.fetchone()[0]
            dbapi_conn.commit()
            backends.setdefault(pid, _proc_cpu(pid))

    @event.listens_for(Engine, "before_cursor_execute")
    def _before(conn, cursor, statement, params, context, executemany):
        conn.info["t0"] = time.perf_counter()

    @event.listens_for(Engine, "after_cursor_execute")
    def _after(conn, cursor, statement, params, context, executemany):
        dt = time.perf_counter() - conn.info.pop("t0")
        stats["statements"] += 1
        stats["execute_s"] += dt
        slow.append((dt, " ".join(statement.split())[:200]))

    from taxonomy.cli import main as cli_main

    profile = os.environ.get("TAXO_PROFILE")
    if profile:  # a cProfile of the command (imports included), for pstats
        import cProfile

        prof = cProfile.Profile()
        rc = prof.runcall(cli_main, argv)
        prof.dump_stats(profile)
    else:
        rc = cli_main(argv)
    server = [(c1 - c0) for pid, c0 in backends.items() if c0 is not None and (c1 := _proc_cpu(pid)) is not None]
    stats["execute_s"] = round(stats["execute_s"], 3)
    stats["server_cpu_s"] = round(sum(server), 2) if server else None
    stats["args"] = argv
    if os.environ.get("TAXO_DB_TIMES_STATEMENTS"):
        stats["slowest"] = [[round(dt, 3), s] for dt, s in sorted(slow, reverse=True)[:10]]
    line = json.dumps(stats)
    target = os.environ.get("TAXO_DB_TIMES")
    if target:
        with open(target, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    else:
        print(line, file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
