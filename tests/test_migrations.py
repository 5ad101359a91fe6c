"""Alembic migrations: upgrade and downgrade on SQLite and PostgreSQL; the ORM models match the migrations."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from taxonomy.db.engine import check_schema, current_revision, get_engine, head_revision
from taxonomy.db.models import Base
from taxonomy.errors import DatabaseNotInitialisedError
from taxonomy.init import downgrade, init

TABLES = {
    "tombstones",
    "change_sets",
    "branches",
    "llm_responses",
    "review_batches",
    "review_tasks",
    "review_annotations",
    "validation_samples",
    "validation_items",
    "validation_judgements",
    "batches",
    "value_strings",
    "value_aliases",
    "batch_values",
    "extraction_records",
    "versions",
    "nodes",
    "memberships",
}


def test_upgrade_creates_schema_and_is_repeatable(db_url):
    res = init(db_url)
    assert res.previous_revision is None and res.revision == head_revision()
    engine = get_engine(db_url)
    assert TABLES <= set(inspect(engine).get_table_names())
    again = init(db_url)
    assert again.previous_revision == head_revision()
    check_schema(engine)


def test_downgrade_to_base_and_up_again(db_url):
    init(db_url)
    downgrade(db_url, "base")
    engine = get_engine(db_url)
    assert current_revision(engine) is None
    assert not TABLES & set(inspect(engine).get_table_names())
    init(db_url)
    assert current_revision(engine) == head_revision()


def test_models_match_migrations(db_url):
    init(db_url)
    with get_engine(db_url).connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def test_commands_refuse_an_uninitialised_database(db_url):
    with pytest.raises(DatabaseNotInitialisedError, match="taxo init"):
        check_schema(get_engine(db_url))


def test_stepwise_upgrade_and_downgrade_keep_data(db_url):
    """Upgrading from the first revision keeps the data; downgrading one step removes only that step's tables."""
    from sqlalchemy import text

    init(db_url)
    downgrade(db_url, "0001")
    engine = get_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO value_strings (text) VALUES ('honesty')"))
    init(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT text FROM value_strings")).scalar() == "honesty"
    assert {"tombstones", "change_sets", "branches"} <= set(inspect(engine).get_table_names())


def _record_indexes(engine) -> dict[str, tuple[str, ...]]:
    return {ix["name"]: tuple(ix["column_names"]) for ix in inspect(engine).get_indexes("extraction_records")}


def test_record_indexes_are_the_models(db_url):
    """After ``init`` the indexes of extraction_records are exactly the model's: no single-column index on value_id
    or conversation_id, which lead the two composite indexes."""
    from taxonomy.db.models import ExtractionRecord

    init(db_url)
    model = {ix.name: tuple(c.name for c in ix.columns) for ix in ExtractionRecord.__table__.indexes}
    assert _record_indexes(get_engine(db_url)) == model == {
        "ix_extraction_records_batch_id": ("batch_id",),
        "ix_extraction_records_value_conversation": ("value_id", "conversation_id"),
        "ix_extraction_records_conversation_role": ("conversation_id", "role"),
    }


def test_0006_downgrade_restores_the_single_column_indexes_and_keeps_records(db_url):
    from sqlalchemy import text

    init(db_url)
    engine = get_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO batches (source, sha256, shape, file_format, options, n_rows, n_values, "
                          "created_at) VALUES ('x.csv', 'ab', 'records', 'csv', '{}', 1, 1, CURRENT_TIMESTAMP)"))
        conn.execute(text("INSERT INTO value_strings (text) VALUES ('honesty')"))
        conn.execute(text("INSERT INTO extraction_records (batch_id, value_id, line, conversation_id, surface) "
                          "SELECT b.id, v.id, 2, 'c1', 'honesty' FROM batches b, value_strings v"))
    after = _record_indexes(engine)
    downgrade(db_url, "0005")
    assert current_revision(engine) == "0005"
    before = _record_indexes(engine)
    assert before == {**after, "ix_extraction_records_value_id": ("value_id",),
                      "ix_extraction_records_conversation_id": ("conversation_id",)}
    init(db_url)
    assert current_revision(engine) == head_revision() == "0006"
    assert _record_indexes(engine) == after
    with engine.connect() as conn:
        assert conn.execute(text("SELECT conversation_id, surface FROM extraction_records")).all() == [("c1", "honesty")]


def test_revision_chain_read_from_the_files_is_alembics():
    """The head and the revisions that the schema check reads from the migration files' lines (without alembic)
    are the ones alembic's script directory finds."""
    from taxonomy.db.engine import _migration_chain, _script_directory, is_known_revision

    chain = _migration_chain()
    assert chain is not None
    scripts = _script_directory()
    assert chain[0] == scripts.get_current_head() == head_revision()
    assert chain[1] == {s.revision for s in scripts.walk_revisions()}
    assert is_known_revision("0001") and not is_known_revision("9999")


def test_revision_chain_unreadable_falls_back_to_alembic(tmp_path, monkeypatch):
    """Migration files whose revision lines are not plain strings (or that branch) are left to alembic."""
    import shutil

    from taxonomy.db import engine as eng

    versions = tmp_path / "versions"
    shutil.copytree(eng.migrations_dir() / "versions", versions)
    shutil.copy(eng.migrations_dir() / "env.py", tmp_path / "env.py")
    shutil.copy(eng.migrations_dir() / "script.py.mako", tmp_path / "script.py.mako")
    monkeypatch.setattr(eng, "migrations_dir", lambda: tmp_path)
    eng._migration_chain.cache_clear()
    try:
        assert eng._migration_chain()[0] == "0006"
        (versions / "0007_x.py").write_text('revision = "0007"\ndown_revision = "0005"\n'
                                            "def upgrade():\n    pass\n\ndef downgrade():\n    pass\n")
        eng._migration_chain.cache_clear()
        assert eng._migration_chain() is None  # two heads: 0006 and 0007
        with pytest.raises(Exception, match="head"):  # alembic's own reading: several heads
            eng.head_revision()
        assert eng.is_known_revision("0007") and not eng.is_known_revision("0008")
    finally:
        eng._migration_chain.cache_clear()


def test_commands_refuse_an_unknown_and_an_old_revision(db_url):
    from sqlalchemy import text

    init(db_url)
    engine = get_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(DatabaseNotInitialisedError, match="'9999', which this version of the workbench does not know"):
        check_schema(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0005'"))
    with pytest.raises(DatabaseNotInitialisedError, match="revision 0005, the workbench needs 0006; run `taxo init`"):
        check_schema(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM alembic_version"))
    assert current_revision(engine) is None
    with pytest.raises(DatabaseNotInitialisedError, match="has no workbench schema"):
        check_schema(engine)
