"""The command line as a new and a hostile user meets it, through a real `taxo` process: exit codes, one-line
errors, database URL and init safety, hostile text, the same limits on SQLite and PostgreSQL, duplicate batches."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, text

import taxonomy.api as tx
from taxonomy.db.engine import session_scope
from taxonomy.db.models import Batch, Node, Version

from .curation_fixtures import make_version, uid

TAXO = str(Path(sys.executable).parent / "taxo")


def taxo(*args, cwd: Path, env: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    """Run the installed `taxo` script; the worktree's code comes through PYTHONPATH."""
    full_env = {k: v for k, v in os.environ.items() if k != "TAXO_DEBUG"}
    full_env.update({"COLUMNS": "250", **(env or {})})
    return subprocess.run([TAXO, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=full_env,
                          input=stdin, timeout=600)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """The process printed exactly one line on stderr, starting with 'Error:', and no traceback."""
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("Error: "), proc.stderr
    return lines[0]


@pytest.fixture
def v1(db, tmp_path):
    assert make_version(db, tmp_path) == 1
    return db


@pytest.fixture(scope="module")
def built(tmp_path_factory, cache_dir):
    """A real quickstart build (version 1) on SQLite, shared by the read-only tests of this module."""
    d = tmp_path_factory.mktemp("built")
    url = f"sqlite:///{d / 'q.db'}"
    tx.quickstart(db=url, cache_dir=str(cache_dir))
    return d / "q.db"


@pytest.fixture
def damaged(built, tmp_path):
    """A copy of the built database with two memberships deleted and a node named like rich markup."""
    path = tmp_path / "damaged.db"
    path.write_bytes(built.read_bytes())
    con = sqlite3.connect(path)
    gone = [r[0] for r in con.execute(
        "SELECT v.text FROM memberships m JOIN value_strings v ON v.id = m.value_id WHERE m.version_id = 1 "
        "ORDER BY v.text LIMIT 2")]
    con.execute("DELETE FROM memberships WHERE version_id = 1 AND value_id IN "
                "(SELECT id FROM value_strings WHERE text IN (?, ?))", gone)
    con.commit()
    con.close()
    return path, gone


# ----------------------------------------------------------------------------------------------- exit codes
def test_check_of_a_damaged_version_exits_1_names_rules_and_orphaned_values(damaged, tmp_path):
    path, gone = damaged
    proc = taxo("check", "1", "--db", path, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    for value in gone:
        assert f"[one-root-path] value {value!r} has no place in the version (its membership is missing)" in lines
    assert any(ln.startswith("[weights-consistent] node values:l1:") for ln in lines), proc.stdout
    proc = taxo("check", "1", "--db", path, "--json", cwd=tmp_path)
    rep = json.loads(proc.stdout)
    assert proc.returncode == 1 and rep["ok"] is False
    assert {v["rule"] for v in rep["violations"]} == {"one-root-path", "weights-consistent"}


def test_check_of_a_sound_version_exits_0(built, tmp_path):
    proc = taxo("check", "1", "--db", built, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.startswith("Version 1: OK (66 nodes, 552 values")


def test_export_refuses_a_version_that_fails_check(damaged, tmp_path):
    path, gone = damaged
    out = tmp_path / "tree.csv"
    proc = taxo("export", "1", "--db", path, "-o", out, cwd=tmp_path)
    line = one_line_error(proc)
    assert proc.returncode == 1 and not out.exists()
    assert "version 1 fails `taxo check`" in line and gone[0] in line and "nothing was exported" in line
    proc = taxo("export", "1", "--db", path, "--format", "json", cwd=tmp_path)
    assert proc.returncode == 1 and proc.stdout == ""


def test_branch_conflict_exits_3(v1, tmp_path):
    tx.branch("main", 1, db=v1)
    tx.rename(1, uid("a1x"), "Candour", db=v1, branch="main")  # main -> 2
    changes = tmp_path / "c.yaml"
    changes.write_text(f"- {{op: rename, node: {uid('b1x')}, name: Kindness}}\n")
    proc = taxo("apply", "1", changes, "--branch", "main", "--db", v1, cwd=tmp_path)
    line = one_line_error(proc)
    assert proc.returncode == 3 and "branch 'main'" in line and "version 2" in line


def test_a_refused_branch_apply_takes_no_version_id(v1, tmp_path):
    """Ids are taken only when the version is committed: 1, 2, 3 — not 1, 2, 4 after a refused attempt."""
    from taxonomy.changesets import BranchConflictError, _claim_branch  # noqa: PLC2701 - the unit under test

    tx.branch("main", 1, db=v1)
    assert tx.rename(1, uid("a1x"), "Candour", db=v1, branch="main").version_id == 2
    changes = tmp_path / "c.yaml"
    changes.write_text(f"- {{op: rename, node: {uid('b1x')}, name: Kindness}}\n")
    # the race: the branch moves between reading the base and writing the new version
    with pytest.raises(BranchConflictError), session_scope(v1) as s:
        _claim_branch(s, "main", 1)
    for _ in range(2):
        proc = taxo("apply", "1", changes, "--branch", "main", "--db", v1, cwd=tmp_path)
        assert proc.returncode == 3
    proc = taxo("apply", "2", changes, "--branch", "main", "--db", v1, "--quiet", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == "3"
    with session_scope(v1) as s:
        assert s.scalars(select(Version.id).order_by(Version.id)).all() == [1, 2, 3]


# ----------------------------------------------------------------------------------------------- usage errors
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["nosuch"], "No such command 'nosuch'. Valid commands: init, ingest, build"),
        (["show", "abc"], "taxo show: Invalid value for 'version': not an integer"),
        (["show"], "taxo show: Missing argument 'version'"),
        (["show", "1", "--bogus"], "No such option: --bogus. Valid options: --db, --help, --json, --level"),
        (["edit", "1", "explode"], "No such command 'explode'. Valid commands: rename, merge, move, split"),
        (["edit", "1", "merge", "a"], "taxo edit 1 merge: Missing option '--into'. (see `taxo edit 1 merge --help`)"),
        (["edit", "1", "rename", "a", "b", "--x"], "taxo edit 1 rename: No such option: --x. Valid options: --author"),
        (["build", "--contrast", "x"], "taxo build: Invalid value for '--contrast': not a number"),
        (["build", "--contrast", "0"], "--contrast must be a share between 0 (excluded) and 1, got 0.0"),
        (["build", "--device", "tpu"], "--device 'tpu': use cpu, cuda, cuda:N or auto"),
        (["export", "1", "--format"], "Option '--format' requires an argument"),
        (["build", "--levels", "30,6,"], "--levels: item 3 of '30,6,' is empty"),
        (["build", "--batch-size", "0"], "--batch-size must be a positive integer, got 0"),
        (["build", "--top", "0"], "--top must be a positive integer"),
        (["review", "pull"], "taxo review pull: Missing argument"),
        (["validate", "nosuch"], "Valid commands: plan, sample, push, pull, report"),
    ],
)
def test_usage_errors_are_one_line_with_the_choices_and_exit_2(args, expected, v1, tmp_path):
    proc = taxo(*args, cwd=tmp_path, env={"TAXO_DATABASE_URL": v1})
    line = one_line_error(proc)
    assert proc.returncode == 2, proc.stderr
    assert expected in line, line


def test_version_and_help(tmp_path):
    from taxonomy import __version__

    proc = taxo("--version", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == f"taxo {__version__}" and proc.stderr == ""
    proc = taxo("--help", cwd=tmp_path)
    assert proc.returncode == 0 and "Exit codes: 0 ok, 1 failure, 2 bad input or usage, 3 conflict" in proc.stdout


def test_export_to_an_unwritable_path_is_one_line(built, tmp_path):
    for target in ("/proc/version", "/proc/taxo-new.csv"):
        proc = taxo("export", "1", "--db", built, "-o", target, cwd=tmp_path)
        line = one_line_error(proc)
        assert proc.returncode == 1 and f"cannot write {target}" in line and "nothing was written" in line
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    if os.access(ro, os.W_OK):  # root ignores permissions; /proc above covers the case
        return
    proc = taxo("export", "1", "--db", built, "-o", ro / "t.csv", cwd=tmp_path)
    assert proc.returncode == 1 and "cannot write" in one_line_error(proc)


def test_an_unsupported_database_url_says_which_are_supported(tmp_path):
    proc = taxo("init", "--db", "mysql://bob:hunter22@localhost/x", cwd=tmp_path)
    line = one_line_error(proc)
    assert proc.returncode == 2
    assert "unsupported database URL 'mysql://bob:***@localhost/x'" in line and "hunter22" not in line
    assert "SQLite" in line and "PostgreSQL" in line and "psycopg" in line


def test_unexpected_errors_are_one_line_and_traceback_on_request(tmp_path, monkeypatch):
    """A bug (here: a failing import inside a command) is one line; TAXO_DEBUG=1 shows the traceback."""
    broken = tmp_path / "broken"
    broken.mkdir()
    env = {"PYTHONPATH": f"{broken}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    # a sitecustomize that breaks taxonomy.api.versions
    (broken / "sitecustomize.py").write_text(
        "import taxonomy.api as a\n"
        "def versions(**kw):\n    raise RuntimeError('boom')\n"
        "a.versions = versions\n"
    )
    db = tmp_path / "x.db"
    tx.init(str(db))
    proc = taxo("versions", "--db", db, cwd=tmp_path, env=env)
    line = one_line_error(proc)
    assert proc.returncode == 1 and "internal error (RuntimeError: boom)" in line and "TAXO_DEBUG=1" in line
    proc = taxo("versions", "--db", db, cwd=tmp_path, env={**env, "TAXO_DEBUG": "1"})
    assert proc.returncode == 1 and "Traceback" in proc.stderr


def test_database_errors_are_one_line(db, tmp_path):
    """A server that does not answer, and a table missing from a migrated database: one line, exit 1."""
    proc = taxo("versions", "--db", "postgresql://postgres@127.0.0.1:1/nothing", cwd=tmp_path)
    line = one_line_error(proc)
    assert proc.returncode == 1 and line.startswith("Error: cannot use the database: ") and "127.0.0.1" in line
    from taxonomy.db.engine import dispose_engine, get_engine

    with get_engine(db).begin() as conn:
        conn.execute(text("DROP TABLE memberships"))
    dispose_engine(db)
    proc = taxo("versions", "--db", db, cwd=tmp_path)
    line = one_line_error(proc)
    assert proc.returncode == 1 and "memberships" in line
    assert line.startswith("Error: cannot use the database: " if db.startswith("sqlite") else "Error: database error: ")


# ------------------------------------------------------------------------------------------ init and database files
def test_read_only_commands_on_a_missing_file_create_nothing(tmp_path):
    for args in (["versions"], ["show", "1"], ["check", "1"], ["log"], ["export", "1"]):
        proc = taxo(*args, "--db", "typo.db", cwd=tmp_path)
        line = one_line_error(proc)
        assert proc.returncode == 1 and "the database file typo.db does not exist" in line
        assert not (tmp_path / "typo.db").exists()


def test_init_does_not_create_missing_directories(tmp_path):
    target = tmp_path / "no" / "such" / "dir" / "x.db"
    proc = taxo("init", "--db", target, cwd=tmp_path)
    line = one_line_error(proc)
    assert proc.returncode == 2 and f"the directory {target.parent} does not exist" in line
    assert not (tmp_path / "no").exists()


def test_init_refuses_a_database_holding_other_tables_before_writing(tmp_path):
    path = tmp_path / "theirs.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    con.commit()
    con.close()
    before = path.read_bytes()
    proc = taxo("init", "--db", path, cwd=tmp_path)
    line = one_line_error(proc)
    assert proc.returncode == 2 and "tables that are not the workbench's (customers)" in line
    assert path.read_bytes() == before
    con = sqlite3.connect(path)
    assert [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["customers"]


def test_init_refuses_other_tables_on_postgresql(pg_url, tmp_path):
    from taxonomy.db.engine import get_engine, table_names

    eng = get_engine(pg_url)
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE customers (id INTEGER PRIMARY KEY)"))
    proc = taxo("init", "--db", pg_url, cwd=tmp_path)
    assert proc.returncode == 2 and "(customers)" in one_line_error(proc)
    assert table_names(eng) == ["customers"]


def test_init_and_commands_on_an_unknown_schema_revision(db, tmp_path):
    from taxonomy.db.engine import get_engine

    with get_engine(db).begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    proc = taxo("init", "--db", db, cwd=tmp_path)
    line = one_line_error(proc)
    assert proc.returncode == 2 and "schema revision '9999'" in line and "nothing was changed" in line
    proc = taxo("versions", "--db", db, cwd=tmp_path)
    assert proc.returncode == 1 and "'9999'" in one_line_error(proc)


# ------------------------------------------------------------------------------------------ change-set messages
def test_change_set_errors_name_the_file_and_the_operation(v1, tmp_path):
    changes = tmp_path / "changes.yaml"
    changes.write_text(
        f"operations:\n  - {{op: rename, node: {uid('a1x')}, name: Fine}}\n"
        f"  - {{op: merge, node: {uid('a1x')}, into: {uid('a1x')}}}\n"
    )
    proc = taxo("apply", "1", changes, "--db", v1, cwd=tmp_path)
    line = one_line_error(proc)
    assert proc.returncode == 2
    assert f"Error: {changes}, operation 2 (merge " in line and "into itself" in line


# ------------------------------------------------------------------------------------------------ hostile text
@pytest.mark.parametrize(
    ("cell", "problem"),
    [
        ("evil\x1b[2Jvalue", "contains the control character U+001B"),
        ("bell\x07", "contains the control character U+0007"),
        ("nul\x00byte", "contains a NUL character"),
        ("c1\x9bcontrol", "contains the control character U+009B"),
        ("abc\u202etxt.exe", "contains the bidirectional control U+202E"),
        ("iso\u2066late", "contains the bidirectional control U+2066"),
    ],
)
def test_control_and_bidi_characters_in_values_are_refused(cell, problem, db_url, tmp_path):
    tx.init(db_url)
    f = tmp_path / "v.csv"
    f.write_bytes(("value,weight\nhonesty,1\n" + f'"{cell}",2\n').encode("utf-8"))
    proc = taxo("ingest", f, "--weight-col", "weight", "--db", db_url, cwd=tmp_path)
    line = one_line_error(proc)
    assert proc.returncode == 2
    assert f"{f}, line 3, field 'value': value {problem}" in line
    assert "\x1b" not in proc.stderr and "\x07" not in proc.stderr and "\u202e" not in proc.stderr
    with session_scope(db_url) as s:
        assert s.scalars(select(Batch)).all() == []


def test_zero_width_characters_are_removed_so_look_alikes_are_one_value(db, tmp_path):
    f = tmp_path / "v.csv"
    f.write_text("value,weight\nhonesty,1\nhon\u200besty,2\n\ufeffhonesty\u200d,3\nkindness,1\n", encoding="utf-8")
    res = tx.ingest(str(f), weight_col="weight", db=db)
    assert res.n_values == 2
    with session_scope(db) as s:
        from taxonomy.db.models import Value, ValueAlias

        assert sorted(s.scalars(select(Value.text))) == ["honesty", "kindness"]
        assert sorted(s.scalars(select(ValueAlias.surface))) == ["honesty", "kindness"]


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("Evil\x1b[31m", "the new name contains the control character U+001B"),
        ("Two\nlines", "the new name contains a line break"),
        ("Rev\u202eersed", "bidirectional control U+202E"),
        ("x" * 501, "the new name is 501 characters long; the limit is 500"),
    ],
)
def test_hostile_or_too_long_names_are_refused_alike_on_both_databases(name, problem, v1, tmp_path):
    proc = taxo("edit", "1", "rename", uid("a1x")[10:18], name, "--db", v1, cwd=tmp_path)
    line = one_line_error(proc)
    assert proc.returncode == 2 and "operation 1 (rename" in line and problem in line
    assert "\x1b" not in proc.stderr and "\u202e" not in proc.stderr
    assert "psycopg" not in line and "sqlite3" not in line
    with session_scope(v1) as s:
        assert s.scalars(select(Version.id)).all() == [1]


def test_a_version_write_whose_checksum_or_memberships_fail_writes_nothing(v1):
    """The checksum function runs while the memberships go in (PostgreSQL: beside its COPY, in a thread): an error
    in either ends the write with nothing stored, and the first error is the one raised."""
    from taxonomy.store import read_tree, write_version
    from taxonomy.tree import content_checksum

    with session_scope(v1) as s:
        tree = read_tree(s, 1)

    def failing() -> str:
        raise RuntimeError("no checksum")

    with pytest.raises(RuntimeError, match="no checksum"), session_scope(v1) as s:
        write_version(s, tree, kind="edit", message="", manifest={}, checksum=failing, parent_id=1)
    tree.leaves[0].value_id = 10**6  # no such value: the memberships' foreign key refuses it
    with pytest.raises(Exception, match="(?i)foreign key"), session_scope(v1) as s:  # (the driver's own error)
        write_version(s, tree, kind="edit", message="", manifest={}, checksum=lambda: content_checksum(tree),
                      parent_id=1)
    with session_scope(v1) as s:
        assert s.scalars(select(Version.id)).all() == [1]


def test_too_long_values_and_authors_fail_alike_on_both_databases(db, tmp_path):
    f = tmp_path / "long.csv"
    f.write_text("value\n" + "v" * 501 + "\n")
    proc = taxo("ingest", f, "--db", db, cwd=tmp_path)
    assert proc.returncode == 2
    assert "line 2, field 'value': value is 501 characters long after normalisation; the limit is 500" in one_line_error(proc)
    f.write_text("value,conversation_id\nhonesty," + "c" * 201 + "\n")
    proc = taxo("ingest", f, "--db", db, cwd=tmp_path)
    assert proc.returncode == 2 and "conversation id is 201 characters long; the limit is 200" in one_line_error(proc)
    make_version(db, tmp_path)
    proc = taxo("edit", "1", "rename", uid("a1x")[10:18], "Fine", "--author", "a" * 201, "--db", db, cwd=tmp_path)
    assert proc.returncode == 2 and "--author is 201 characters long; the limit is 200" in one_line_error(proc)


def test_show_history_and_json_escape_non_printable_text(v1, tmp_path):
    """Names stored before these rules (or written by another program) still cannot drive the terminal."""
    hostile = "Evil\x1b[2J\x07\u202eyxe.txt\u200b"
    with session_scope(v1) as s:
        node = s.scalar(select(Node).where(Node.version_id == 1, Node.uid == uid("a1x")))
        node.name = hostile
        node.description = "[bold]not bold[/bold] \x1b]0;title\x07"
    for args in (["show", "1", "--level", "1"], ["show", "1", "--node", uid("a1x")], ["history", uid("a1x")]):
        proc = taxo(*args, "--db", v1, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        for ch in "\x1b\x07\u202e\u200b":
            assert ch not in proc.stdout, (args, proc.stdout)
        assert "Evil\\x1b[2J\\x07\\u202eyxe.txt\\u200b" in proc.stdout
    proc = taxo("show", "1", "--node", uid("a1x"), "--db", v1, cwd=tmp_path)
    assert "[bold]not bold[/bold]" in proc.stdout
    proc = taxo("show", "1", "--node", uid("a1x"), "--json", "--db", v1, cwd=tmp_path)
    assert proc.returncode == 0 and not any(ch in proc.stdout for ch in "\x1b\x07\u202e\u200b")
    assert json.loads(proc.stdout)["node"]["name"] == hostile


# ------------------------------------------------------------------------------------------------ duplicate batches
def test_the_same_rows_in_another_order_are_refused_unless_allowed(db, tmp_path, sample_csv):
    rows = sample_csv.read_text(encoding="utf-8").splitlines()
    shuffled = tmp_path / "shuffled.csv"
    shuffled.write_text("\n".join([rows[0], *reversed(rows[1:])]) + "\n", encoding="utf-8")
    as_jsonl = tmp_path / "same.jsonl"
    import csv

    with sample_csv.open(encoding="utf-8") as fh:
        recs = list(csv.DictReader(fh))
    as_jsonl.write_text("".join(json.dumps({"value": r["value"].upper(), "pct_convos": float(r["pct_convos"])}) + "\n"
                                for r in recs), encoding="utf-8")
    assert taxo("ingest", sample_csv, "--weight-col", "pct_convos", "--db", db, cwd=tmp_path).returncode == 0
    for f in (shuffled, as_jsonl):
        proc = taxo("ingest", f, "--weight-col", "pct_convos", "--db", db, cwd=tmp_path)
        line = one_line_error(proc)
        assert proc.returncode == 2 and "are the same as those of batch 1" in line and "--allow-duplicate" in line
    with session_scope(db) as s:
        assert len(s.scalars(select(Batch)).all()) == 1
    proc = taxo("ingest", shuffled, "--weight-col", "pct_convos", "--allow-duplicate", "--db", db, cwd=tmp_path)
    assert proc.returncode == 0 and "Batch 2" in proc.stdout
    assert "552 of the 552 values of this batch (100%) already came with the same weights" in proc.stderr


def test_a_batch_mostly_repeating_one_earlier_batch_warns(db, tmp_path, sample_csv):
    rows = sample_csv.read_text(encoding="utf-8").splitlines()
    part = tmp_path / "part.csv"
    part.write_text("\n".join(rows[:401] + ["a brand new value,1.5"]) + "\n", encoding="utf-8")
    tx.ingest(str(sample_csv), weight_col="pct_convos", db=db)
    res = tx.ingest(str(part), weight_col="pct_convos", db=db)
    assert res.batch_id == 2 and res.warnings == [
        "400 of the 401 values of this batch (100%) already came with the same weights and counts from batch 1; "
        "if this is the same data again, the next build counts their weights twice"
    ]
    other = tmp_path / "other.csv"
    other.write_text("value,pct_convos\nhonesty,99\nkindness,98\nsomething else,1\n")
    assert tx.ingest(str(other), weight_col="pct_convos", db=db).warnings == []


def test_migration_0004_computes_the_content_hash_of_existing_batches(db, tmp_path, sample_csv):
    from taxonomy.init import downgrade, init

    recs = tmp_path / "recs.jsonl"
    recs.write_text("".join(json.dumps({"value": v, "conversation_id": f"c{i % 3}", "excerpt": f"e{i}"}) + "\n"
                            for i, v in enumerate(["honesty", "Kindness", "honesty", "care"])))
    tx.ingest(str(sample_csv), weight_col="pct_convos", db=db)
    tx.ingest(str(recs), conversation_col="conversation_id", excerpt_col="excerpt", db=db)
    with session_scope(db) as s:
        before = dict(s.execute(select(Batch.id, Batch.content_sha256)).all())
    assert len(before) == 2 and all(before.values())
    downgrade(db, "0003")
    init(db)
    with session_scope(db) as s:
        assert dict(s.execute(select(Batch.id, Batch.content_sha256)).all()) == before
    shuffled = tmp_path / "recs2.jsonl"
    shuffled.write_text("".join(reversed(recs.read_text().splitlines(keepends=True))))
    with pytest.raises(Exception, match="are the same as those of batch 2"):
        tx.ingest(str(shuffled), conversation_col="conversation_id", excerpt_col="excerpt", db=db)


def test_every_version_write_checks_the_column_limits_first(v1):
    """Whatever produced the tree (a language model's name, a plugin), SQLite and PostgreSQL refuse it alike."""
    from taxonomy.errors import UsageError
    from taxonomy.store import read_tree, write_version

    with session_scope(v1) as s:
        tree = read_tree(s, 1)
    tree.nodes[uid("a1x")].name = "n" * 501
    with pytest.raises(UsageError, match=r"the name is 501 characters long; the limit is 500"), session_scope(v1) as s:
        write_version(s, tree, kind="edit", message="", manifest={}, checksum="x", parent_id=1)
    tree.nodes[uid("a1x")].name = "fine"
    tree.nodes[uid("a1x")].description = "nul\x00inside"
    with pytest.raises(UsageError, match="NUL"), session_scope(v1) as s:
        write_version(s, tree, kind="edit", message="", manifest={}, checksum="x", parent_id=1)
    with session_scope(v1) as s:
        assert s.scalars(select(Version.id)).all() == [1]
