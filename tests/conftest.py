"""Shared fixtures: databases (SQLite and PostgreSQL), the real embedding model, small input files.

PostgreSQL: tests marked ``postgres`` (and every ``db_url`` test's postgresql variant) run against
``TAXO_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``) in a fresh database per test.
When that server is unreachable they are skipped locally; with ``CI`` set (or ``TAXO_REQUIRE_ALL=1``) any skipped
test fails the run, so CI never passes on skipped integration tests.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

pytest_plugins = ["tests.labelstudio_server"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

PG_URL = os.environ.get("TAXO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
STRICT = bool(os.environ.get("CI")) or os.environ.get("TAXO_REQUIRE_ALL") == "1"

_skipped: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    if STRICT and _skipped and exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if STRICT and _skipped:
        terminalreporter.write_line(
            f"FAILED: {len(_skipped)} test(s) were skipped, and skips are not allowed in CI "
            "(CI or TAXO_REQUIRE_ALL is set):",
            red=True,
        )
        for nodeid in _skipped:
            terminalreporter.write_line(f"  skipped: {nodeid}", red=True)


def _pg_admin_engine():
    from sqlalchemy import create_engine

    from taxonomy.config import database_url

    return create_engine(database_url(PG_URL), isolation_level="AUTOCOMMIT")


_pg_available: bool | None = None
_pg_error = ""


def pg_available() -> bool:
    global _pg_available, _pg_error
    if _pg_available is None:
        try:
            from sqlalchemy import text

            eng = _pg_admin_engine()
            with eng.connect() as conn:
                conn.execute(text("SELECT 1"))
            eng.dispose()
            _pg_available = True
        except Exception as exc:  # noqa: BLE001
            _pg_available, _pg_error = False, str(exc).splitlines()[0]
    return _pg_available


@pytest.fixture
def pg_url():
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    if not pg_available():
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {_pg_error}")
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from taxonomy.config import database_url
    from taxonomy.db.engine import dispose_engine

    name = f"taxo_test_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(database_url(PG_URL)).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        dispose_engine(url)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'taxonomy.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """An empty database URL; every test using it runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'taxonomy.db'}"
    else:
        yield request.getfixturevalue("pg_url")


@pytest.fixture
def db(db_url):
    """An initialised (migrated) database URL, SQLite and PostgreSQL."""
    from taxonomy.init import init

    init(db_url)
    return db_url


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One embedding cache for the whole test session (the model runs once per distinct text)."""
    return tmp_path_factory.mktemp("embedding-cache")


@pytest.fixture(scope="session")
def embedder(cache_dir):
    from embeddings import Embedder

    return Embedder(cache_dir=cache_dir)


@pytest.fixture
def write(tmp_path):
    """write(name, text_or_bytes) -> Path of a file in the test's tmp dir."""

    def _write(name: str, content: str | bytes) -> Path:
        p = tmp_path / name
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8")
        return p

    return _write


@pytest.fixture(scope="session")
def sample_csv() -> Path:
    from taxonomy.api import sample_path

    return sample_path()
