"""`taxo init`: create or upgrade the database schema."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import Engine

from taxonomy.db.engine import (
    alembic_config,
    current_revision,
    display_url,
    get_engine,
    head_revision,
    is_known_revision,
    sqlite_path,
    table_names,
)
from taxonomy.errors import UsageError


@dataclass
class InitResult:
    database: str
    previous_revision: str | None
    revision: str

    def to_dict(self) -> dict:
        return asdict(self)


def init(db: str | Engine | None = None) -> InitResult:
    """Create the database schema, or upgrade it to the newest revision. Safe to run again."""
    from alembic import command

    engine = get_engine(db)
    path = sqlite_path(engine)
    if path is not None:
        if path.is_dir():
            raise UsageError(f"{path} is a directory: give the database file's path, e.g. {path / 'taxonomy.db'}")
        parent = path.resolve().parent
        if not parent.is_dir():
            raise UsageError(f"cannot create the database {path}: the directory {parent} does not exist")
    before = current_revision(engine)
    if before is None:
        foreign = sorted(set(table_names(engine)) - {"alembic_version"})
        if foreign:
            shown = ", ".join(foreign[:8]) + (f" and {len(foreign) - 8} more" if len(foreign) > 8 else "")
            raise UsageError(
                f"the database {display_url(engine)} already holds tables that are not the workbench's ({shown}); "
                "nothing was changed. Use a new database file or an empty PostgreSQL database"
            )
    elif before != head_revision() and not is_known_revision(before):
        raise UsageError(
            f"the database {display_url(engine)} is at schema revision {before!r}, which this version of the "
            f"workbench does not know (its newest is {head_revision()}); nothing was changed. Is it from a newer "
            "taxo? Upgrade taxo, or use another database"
        )
    command.upgrade(alembic_config(engine), "head")
    return InitResult(database=display_url(engine), previous_revision=before, revision=head_revision())


def downgrade(db: str | Engine | None = None, revision: str = "base") -> None:
    """Downgrade the schema (used by tests and for rolling back a migration)."""
    from alembic import command

    command.downgrade(alembic_config(get_engine(db)), revision)
