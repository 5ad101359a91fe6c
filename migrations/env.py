"""Alembic environment. The workbench runs migrations programmatically (`taxo init`); it passes its engine in
``config.attributes["engine"]``. Running ``alembic`` by hand works too with ``-x url=...`` or TAXO_DATABASE_URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from taxonomy.config import database_url
from taxonomy.db.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    x = context.get_x_argument(as_dictionary=True)
    return database_url(x.get("url") or config.get_main_option("sqlalchemy.url") or None)


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = config.attributes.get("engine") or create_engine(_url())
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
