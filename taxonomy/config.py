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


#: Privacy threshold of `taxo analyze` and `taxo export --min-conversations`: no value, node or cell backed by fewer
#: distinct conversations is reported. Override with ``TAXO_MIN_CONVERSATIONS`` or ``--min-conversations``.
DEFAULT_MIN_CONVERSATIONS = 10


def min_conversations(k: int | None = None) -> int:
    """The privacy threshold: the argument, else ``TAXO_MIN_CONVERSATIONS``, else :data:`DEFAULT_MIN_CONVERSATIONS`.

    Raises :class:`~taxonomy.errors.UsageError` for a threshold below 1 (or one that is not a whole number)."""
    from taxonomy.errors import UsageError

    where = "--min-conversations"
    if k is None:
        raw = os.environ.get("TAXO_MIN_CONVERSATIONS")
        if raw is None or not raw.strip():
            return DEFAULT_MIN_CONVERSATIONS
        where = "TAXO_MIN_CONVERSATIONS"
        try:
            k = int(raw.strip())
        except ValueError:
            raise UsageError(f"{where} must be a whole number, got {raw!r}") from None
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise UsageError(f"{where} must be at least 1 (distinct conversations), got {k!r}")
    return int(k)
