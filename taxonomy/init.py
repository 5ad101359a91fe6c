"""`taxo init`: create or upgrade the database schema."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import Engine

from taxonomy.db.engine import alembic_config, current_revision, display_url, get_engine, head_revision


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
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        from pathlib import Path

        Path(engine.url.database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    before = current_revision(engine)
    command.upgrade(alembic_config(engine), "head")
    return InitResult(database=display_url(engine), previous_revision=before, revision=head_revision())


def downgrade(db: str | Engine | None = None, revision: str = "base") -> None:
    """Downgrade the schema (used by tests and for rolling back a migration)."""
    from alembic import command

    command.downgrade(alembic_config(get_engine(db)), revision)
