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
