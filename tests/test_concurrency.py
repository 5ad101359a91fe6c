"""Two real processes applying change-sets to the same base at the same time, against PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

import taxonomy.api as tx
from taxonomy.db.engine import session_scope
from taxonomy.db.models import Version
from taxonomy.init import init

from .curation_fixtures import make_version, uid

TAXO = str(Path(sys.executable).parent / "taxo")


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([TAXO, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200"})


@pytest.fixture
def pg_v1(pg_url, tmp_path):
    init(pg_url)
    make_version(pg_url, tmp_path)
    a = tmp_path / "a.yaml"
    a.write_text(f"- {{op: rename, node: {uid('a1x')}, name: Honesty}}\n")
    b = tmp_path / "b.yaml"
    b.write_text(f"- {{op: merge, node: {uid('b1x')}, into: {uid('b1y')}}}\n")
    return pg_url, a, b


@pytest.mark.postgres
def test_concurrent_changesets_without_a_branch_both_become_versions(pg_v1, tmp_path):
    url, a, b = pg_v1
    procs = [_start(["apply", "1", str(p), "--db", url, "--quiet"], tmp_path) for p in (a, b)]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    assert [r[2] for r in results] == [0, 0], results
    with session_scope(url) as s:
        rows = s.execute(select(Version.id, Version.parent_id).order_by(Version.id)).all()
    assert [tuple(r) for r in rows] == [(1, None), (2, 1), (3, 1)]
    assert {int(r[0].strip()) for r in results} == {2, 3}


@pytest.mark.postgres
def test_concurrent_advances_of_one_branch_exactly_one_wins(pg_v1, tmp_path):
    url, a, b = pg_v1
    tx.branch("main", 1, db=url)
    procs = [_start(["apply", "1", str(p), "--db", url, "--branch", "main", "--quiet"], tmp_path) for p in (a, b)]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    codes = sorted(r[2] for r in results)
    assert codes == [0, 3], results
    loser = next(r for r in results if r[2] == 3)
    assert "rebase" in loser[1].lower() and "main" in loser[1]
    winner = int(next(r for r in results if r[2] == 0)[0].strip())
    with session_scope(url) as s:
        ids = s.scalars(select(Version.id).order_by(Version.id)).all()
    assert ids == [1, winner] == [1, 2], "the losing change-set wrote nothing and took no version id"
    assert tx.branches(db=url)[0].head_version_id == winner
    # rebasing the loser onto the new head works
    loser_path = b if results[0][2] == 0 else a
    proc = subprocess.run([TAXO, "apply", str(winner), str(loser_path), "--db", url, "--branch", "main", "--quiet"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert tx.branches(db=url)[0].head_version_id == int(proc.stdout.strip()) == 3, "no gap in the ids"

