"""Engines, sessions, and the schema check."""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.orm import Session, sessionmaker

from taxonomy.config import database_url
from taxonomy.errors import DatabaseNotInitialisedError, TaxoError


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


_ENGINES: dict[str, Engine] = {}

SQLITE_CACHE_KIB = -262_144  #: negative: KiB (256 MiB), as SQLite's PRAGMA cache_size takes it


@contextmanager
def sqlite_big_cache(cur, sqlite: bool = True) -> Iterator[None]:
    """A bigger page cache (:data:`SQLITE_CACHE_KIB`) for a SQLite DB-API cursor's connection while a block grows
    big indexes (bulk inserts), the connection's own size again after it; nothing for another database
    (``sqlite`` false). Only a cache: what is written is the same."""
    if not sqlite:
        yield
        return
    old = cur.execute("PRAGMA cache_size").fetchone()[0]
    cur.execute(f"PRAGMA cache_size = {SQLITE_CACHE_KIB}")
    try:
        yield
    finally:
        cur.execute(f"PRAGMA cache_size = {int(old)}")


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


#: ``revision = "0006"`` / ``down_revision: str | None = "0005"`` lines of a migration file
_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.MULTILINE)


@functools.cache
def _migration_chain() -> tuple[str, frozenset[str]] | None:
    """(head revision, every revision) read from the ``revision`` and ``down_revision`` lines of the migration
    files, without importing alembic or the migrations (a command's start costs ~0.2 s less); None unless they
    read as one chain of plain string revisions (then alembic's own reading decides)."""
    parents: dict[str, str | None] = {}
    for path in sorted((migrations_dir() / "versions").glob("*.py")):
        found = dict(_REVISION_LINE.findall(path.read_text(encoding="utf-8")))
        if not found and path.name == "__init__.py":
            continue
        try:
            rev, down = ast.literal_eval(found["revision"]), ast.literal_eval(found["down_revision"])
        except (KeyError, ValueError, SyntaxError):
            return None
        if not isinstance(rev, str) or not (down is None or isinstance(down, str)) or rev in parents:
            return None
        parents[rev] = down
    heads = set(parents) - set(parents.values())
    roots = [r for r, down in parents.items() if down is None]
    if len(heads) != 1 or len(roots) != 1 or any(d is not None and d not in parents for d in parents.values()):
        return None
    return heads.pop(), frozenset(parents)


def _script_directory():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    return ScriptDirectory.from_config(cfg)


def head_revision() -> str:
    chain = _migration_chain()
    head = chain[0] if chain else _script_directory().get_current_head()
    if head is None:
        raise TaxoError(f"no database migration found in {migrations_dir()}: the installation is incomplete")
    return head


def is_known_revision(rev: str) -> bool:
    """Is ``rev`` one of this workbench's migrations?"""
    chain = _migration_chain()
    if chain is not None:
        return rev in chain[1]
    return any(s.revision == rev for s in _script_directory().walk_revisions())


def current_revision(engine: Engine) -> str | None:
    """The revision recorded in the database's ``alembic_version`` table (None: no table, or no row), read with one
    query instead of alembic's migration context (whose import costs a command ~0.15 s)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        revs = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        if len(revs) > 1:  # several heads: alembic's message
            from alembic.runtime.migration import MigrationContext

            return MigrationContext.configure(conn).get_current_revision()
        return revs[0] if revs else None


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
