"""Database layer: ORM models, engines and sessions, migrations."""

from taxonomy.db.engine import check_schema, get_engine, session_scope

__all__ = ["check_schema", "get_engine", "session_scope"]
