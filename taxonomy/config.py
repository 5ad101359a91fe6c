"""Where things live: the database URL and the embedding cache directory."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///taxonomy.db"


def database_url(url: str | None = None) -> str:
    """The database URL: the argument, else ``TAXO_DATABASE_URL``, else ``sqlite:///taxonomy.db``.

    A bare file path is taken as a SQLite file. ``postgresql://`` URLs use the psycopg (3) driver.
    """
    url = (url or os.environ.get("TAXO_DATABASE_URL") or DEFAULT_DATABASE_URL).strip()
    if "://" not in url:
        url = f"sqlite:///{url}"
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix) :]
    scheme = url.split("://", 1)[0].lower()
    if scheme not in SUPPORTED_SCHEMES:
        from taxonomy.errors import UsageError
        from taxonomy.secrets import redact_url

        raise UsageError(
            f"unsupported database URL {redact_url(url)!r}: taxo works with SQLite (a file path or "
            "sqlite:///path/to/file.db) and PostgreSQL (postgresql://user@host:5432/db, driver psycopg 3)"
        )
    return url


#: URL schemes (dialect+driver) the workbench is tested with.
SUPPORTED_SCHEMES = ("sqlite", "sqlite+pysqlite", "postgresql+psycopg")


def cache_dir(path: str | os.PathLike | None = None) -> Path:
    """The embedding cache directory: the argument, else ``TAXO_CACHE_DIR``, else the user's cache directory
    (``$XDG_CACHE_HOME/taxo`` on Linux, ``~/.cache/taxo`` when that is unset)."""
    if path is None:
        path = os.environ.get("TAXO_CACHE_DIR")
    if path is None:
        import platformdirs

        path = platformdirs.user_cache_dir("taxo", appauthor=False)
    return Path(path).expanduser()
