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
