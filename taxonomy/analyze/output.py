"""Writing an analysis: one tidy CSV per table (with the privacy threshold on every row) and a JSON file with the
threshold, the suppressed counts, the parameters and the summary."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd

from taxonomy.analyze.common import AnalysisResult
from taxonomy.errors import UsageError


def output_dir(path: str | os.PathLike, option: str) -> Path:
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UsageError(f"{option} {p}: exists and is not a directory")
    if not p.parent.is_dir() and not p.exists():
        raise UsageError(f"{option} {p}: the parent directory {p.parent} does not exist")
    return p


def _replace(target: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_csv(result: AnalysisResult, directory: str | os.PathLike) -> list[str]:
    """``<analysis>_<table>.csv`` per table and ``<analysis>_meta.json``; returns the paths written."""
    d = output_dir(directory, "--csv")
    d.mkdir(exist_ok=True)
    written = []
    for name, t in result.tables.items():
        df = pd.DataFrame(t.rows, columns=t.columns)
        df["min_conversations"] = result.min_conversations
        target = d / f"{result.analysis}_{name}.csv"
        _replace(target, lambda tmp, df=df: df.to_csv(tmp, index=False))
        written.append(str(target))
    meta = {k: v for k, v in result.to_dict().items() if k != "tables"}
    meta["tables"] = {n: {"title": t.title, "n_suppressed": t.n_suppressed, "suppressed_what": t.suppressed_what,
                          "n_rows": len(t.rows), "file": f"{result.analysis}_{n}.csv"}
                      for n, t in result.tables.items()}
    target = d / f"{result.analysis}_meta.json"
    _replace(target, lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=2, default=str) + "\n"))
    written.append(str(target))
    return written
