"""pytest plugin: ONE real Label Studio server per test session (loaded by tests/conftest.py).

The server runs from its own virtualenv, ``.venv-ls`` (created by ``scripts/setup.sh``; Label Studio's pins clash
with the workbench's), on 127.0.0.1 and a free port, with a temporary data directory, a pre-seeded user and a
fixed legacy API token (see :mod:`review.server`). It starts the first time a test asks for the ``label_studio``
fixture and is stopped when the session ends. Without ``.venv-ls`` those tests are skipped locally, and fail in CI
(where skips are not allowed: see tests/conftest.py).

The first start of a fresh data directory runs Label Studio's migrations (a minute or more). The migrated, still
empty database is then kept as a template in the workbench's cache directory (per Label Studio version, user and
token) and copied for later sessions, which start in about ten seconds. ``TAXO_TEST_LABEL_STUDIO_URL`` (with
``TAXO_TEST_LABEL_STUDIO_TOKEN``) uses an already running server instead.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

TEST_TOKEN = "taxo-test-token-5f0c2a9e7b4d41c8"
TEST_USER = "reviewer@taxo.test"
TEST_PASSWORD = "taxo-test-password-1"
START_TIMEOUT = float(os.environ.get("TAXO_LABEL_STUDIO_START_TIMEOUT", "420"))


@dataclass
class LabelStudioServer:
    url: str
    token: str
    username: str
    log: Path | None = None

    def client(self, token: str | None = None, **kw):
        from review.labelstudio import LabelStudioClient, RetryPolicy

        kw.setdefault("retry", RetryPolicy(attempts=3, backoff=0.2, timeout=120))
        return LabelStudioClient(self.url, token or self.token, **kw)


def _template_dir(version: str) -> Path:
    from taxonomy.config import cache_dir

    key = hashlib.sha256(f"{version}\n{TEST_TOKEN}\n{TEST_USER}".encode()).hexdigest()[:12]
    return cache_dir() / f"label-studio-test-template-{version}-{key}"


def _save_template(data_dir: Path, template: Path) -> None:
    """Copy the freshly migrated database (sqlite online backup: consistent while the server runs) and the
    secret key file next to it."""
    tmp = template.with_name(template.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    src = sqlite3.connect(data_dir / "label_studio.sqlite3")
    dst = sqlite3.connect(tmp / "label_studio.sqlite3")
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    for f in data_dir.iterdir():
        if f.is_file() and not f.name.startswith("label_studio.sqlite3") and f.name != "server.log":
            shutil.copy2(f, tmp / f.name)
    try:
        tmp.rename(template)
    except OSError:  # another session saved one first
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory):
    """A running Label Studio: ``.url``, ``.token`` (an admin's), ``.client()``."""
    from review import server as S

    ext = os.environ.get("TAXO_TEST_LABEL_STUDIO_URL")
    if ext:
        yield LabelStudioServer(ext.rstrip("/"), os.environ.get("TAXO_TEST_LABEL_STUDIO_TOKEN", TEST_TOKEN), "")
        return
    if not S.label_studio_bin().exists():
        pytest.skip(f"Label Studio is not installed ({S.label_studio_bin()} is missing): run scripts/setup.sh")
    version = S.installed_version() or "unknown"
    data_dir = tmp_path_factory.mktemp("label-studio-data")
    template = _template_dir(version)
    from_template = (template / "label_studio.sqlite3").exists()
    if from_template:
        for f in template.iterdir():
            shutil.copy2(f, data_dir / f.name)
    try:
        srv = S.start(data_dir, token=TEST_TOKEN, username=TEST_USER, password=TEST_PASSWORD, timeout=START_TIMEOUT)
    except S.ServerStartError as exc:
        pytest.fail(str(exc))
    try:
        if not from_template:
            try:
                _save_template(data_dir, template)
            except Exception:  # noqa: BLE001 - only an optimisation
                pass
        print(f"\nLabel Studio {version} at {srv.url} ready in {srv.startup_s:.0f}s"
              f"{' (from the template)' if from_template else ' (fresh: migrations ran)'}")
        yield LabelStudioServer(srv.url, srv.token, srv.username, srv.log)
    finally:
        srv.stop()
