"""Engines, sessions, and the schema check."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.orm import Session, sessionmaker

from taxonomy.config import database_url
from taxonomy.errors import DatabaseNotInitialisedError, TaxoError

def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


_ENGINES: dict[str, Engine] = {}


def _engine_for(url: str) -> Engine:
    if url in _ENGINES:
        return _ENGINES[url]
    kwargs: dict = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30}
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    _ENGINES[url] = engine
    return engine


def dispose_engine(db: str) -> None:
    """Close the pooled connections of the engine for ``db`` (e.g. before dropping that database)."""
    engine = _ENGINES.pop(database_url(db), None)
    if engine is not None:
        engine.dispose()


def get_engine(db: str | Engine | None = None) -> Engine:
    """An engine for ``db``: an Engine, a URL, a SQLite file path, or None for the configured default."""
    if isinstance(db, Engine):
        return db
    return _engine_for(database_url(db))


def display_url(engine: Engine) -> str:
    """The engine's URL with any password hidden."""
    return engine.url.render_as_string(hide_password=True)


def migrations_dir() -> Path:
    import migrations

    return Path(migrations.__file__).resolve().parent


def alembic_config(engine: Engine):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    if head is None:
        raise TaxoError(f"no database migration found in {migrations_dir()}: the installation is incomplete")
    return head


def is_known_revision(rev: str) -> bool:
    """Is ``rev`` one of this workbench's migrations?"""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    return any(s.revision == rev for s in ScriptDirectory.from_config(cfg).walk_revisions())


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def sqlite_path(engine: Engine) -> Path | None:
    """The file of a SQLite engine (None for other databases and in-memory SQLite)."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return None
    if str(engine.url.database).startswith("file:"):
        return None
    return Path(engine.url.database).expanduser()


def check_schema(engine: Engine) -> None:
    """Raise a clear error unless the database is migrated to the head revision. A SQLite file that does not
    exist is reported as such, and not created."""
    path = sqlite_path(engine)
    if path is not None and not path.exists():
        raise DatabaseNotInitialisedError(
            f"the database file {path} does not exist; check --db (or TAXO_DATABASE_URL), or run "
            f"`taxo init --db {path}` to create it"
        )
    rev = current_revision(engine)
    if rev is None:
        raise DatabaseNotInitialisedError(
            f"the database {display_url(engine)} has no workbench schema; run `taxo init` first"
        )
    head = head_revision()
    if rev != head and not is_known_revision(rev):
        raise DatabaseNotInitialisedError(
            f"the database {display_url(engine)} is at schema revision {rev!r}, which this version of the "
            f"workbench does not know (it needs {head}); it was made by a newer or different program"
        )
    if rev != head:
        raise DatabaseNotInitialisedError(
            f"the database {display_url(engine)} is at schema revision {rev}, the workbench needs {head}; "
            "run `taxo init` to upgrade it"
        )


@contextmanager
def session_scope(db: str | Engine | None = None, *, check: bool = True) -> Iterator[Session]:
    """One transaction: commits when the block ends normally, rolls back on any exception."""
    engine = get_engine(db)
    if check:
        check_schema(engine)
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session:
        with session.begin():
            yield session


def table_names(engine: Engine) -> list[str]:
    return inspect(engine).get_table_names()
