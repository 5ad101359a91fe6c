"""Secrets never reach the screen, a log or the database: a local server that echoes the request headers (the
API key, the token) in its error bodies, driven through real `taxo` processes for every command that talks to a
model server or Label Studio."""

from __future__ import annotations

import json
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import taxonomy.api as tx
from taxonomy.secrets import MASK, redact, register

from .curation_fixtures import make_version
from .test_hardening import one_line_error, taxo

KEY = "sk-live-Zq8xW2mN4pR7tY1uV3bC5dF9"  # an API key as the providers shape them
TOKEN = "lstoken0123456789abcdefDEADBEEF"  # a Label Studio token
HIDDEN = "customvar-SECRET-77aa88bb99cc"  # a key in a variable whose name says nothing


class EchoServer:
    """Answers every request with ``status`` and a body that repeats the request line and all its headers (as
    careless proxies and debug servers do). ``models_ok``: ``GET .../models`` succeeds, so that the real calls
    come next and fail the same way."""

    def __init__(self, status: int = 401, models_ok: bool = False):
        self.status, self.models_ok = status, models_ok
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                server.requests += 1
                if server.models_ok and self.command == "GET" and self.path.rstrip("/").endswith("/models"):
                    return self._send(200, {"object": "list", "data": [{"id": "echo-model", "type": "model"}]})
                creds = ("authorization", "x-api-key")  # credentials first, so that no shortening hides them
                headers = sorted(self.headers.items(), key=lambda kv: kv[0].lower() not in creds)
                echoed = "; ".join(f"{k}={v}" for k, v in headers)
                msg = f"{self.command} {self.path} refused; request headers: {echoed}"
                self._send(server.status, {"detail": msg, "message": msg, "error": {"message": msg, "type": "x"}})

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def assert_no_secret(proc, *secrets: str) -> str:
    """One error line, no secret anywhere in the output, and the proof that the server did echo it."""
    line = one_line_error(proc)
    out = proc.stdout + proc.stderr
    for s in secrets:
        assert s not in out, out
        assert s[4:-4] not in out, out  # no part of it either
    assert MASK in line, line
    return line


def assert_not_stored(db_path, *secrets: str) -> None:
    con = sqlite3.connect(db_path)
    dump = "\n".join(con.iterdump())
    con.close()
    for s in secrets:
        assert s not in dump


# ---------------------------------------------------------------------------------------------- redaction unit
def test_redact_removes_known_secrets_url_passwords_and_credential_headers(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    register(HIDDEN)
    assert redact(f"HTTP 401: Authorization=Bearer {KEY}; x") == f"HTTP 401: Authorization=Bearer {MASK}; x"
    assert redact(f"echo: {HIDDEN}!") == f"echo: {MASK}!"
    assert redact("postgresql://bob:hunter22@db:5432/x") == "postgresql://bob:***@db:5432/x"
    assert redact('{"x-api-key": "unknown-key-1234"}') == f'{{"x-api-key": "{MASK}"}}'
    assert redact("Authorization: Token whatever-it-is") == f"Authorization: Token {MASK}"
    assert redact("Cookie: sessionid=abc123") == f"Cookie: {MASK}"
    assert redact("bearer responsibility and token economics") == "bearer responsibility and token economics"
    assert redact(redact(f"Bearer {KEY}")) == f"Bearer {MASK}"
    # a message shortened before it was redacted keeps no part of the key
    assert redact(f"(HTTP 401: x-api-key={HIDDEN[:12]}). Nothing was done.") == f"(HTTP 401: x-api-key={MASK}). Nothing was done."


def test_errors_are_redacted_when_made(monkeypatch):
    from taxonomy.errors import UsageError
    from taxonomy.llm.errors import FatalError

    monkeypatch.setenv("TAXO_LABEL_STUDIO_TOKEN", TOKEN)
    assert TOKEN not in str(UsageError(f"server said {TOKEN}"))
    assert TOKEN not in str(FatalError(f"HTTP 401: {TOKEN}", 401))


# ---------------------------------------------------------------------------------------------- model servers
@pytest.fixture
def ingested(tmp_path, sample_csv):
    db = tmp_path / "t.db"
    tx.init(str(db))
    tx.ingest(str(sample_csv), weight_col="pct_convos", db=str(db))
    return db


@pytest.mark.parametrize(
    "args",
    [
        ["build", "--levels", "20,4", "--summarizer", "openai"],
        ["build", "--levels", "20,4", "--summarizer", "anthropic"],
        ["build", "--levels", "20,4", "--summarizer", "anthropic", "--hierarchy", "clio"],
    ],
    ids=["openai", "anthropic", "clio"],
)
def test_a_model_server_echoing_the_key_never_gets_it_printed(args, ingested, tmp_path, cache_dir):
    with EchoServer(401) as srv:
        base = srv.url + ("/v1" if "openai" in args else "")
        proc = taxo(*args, "--llm-base-url", base, "--llm-api-key-env", "LLMCRED", "--db", ingested,
                    "--cache-dir", cache_dir, cwd=tmp_path, env={"LLMCRED": HIDDEN})
    assert srv.requests >= 1
    assert proc.returncode == 2
    line = assert_no_secret(proc, HIDDEN)
    assert "refused the API key from LLMCRED" in line
    assert_not_stored(ingested, HIDDEN)


def test_resummarize_with_a_server_echoing_the_key_in_call_errors(tmp_path, cache_dir):
    db = tmp_path / "v.db"
    tx.init(str(db))
    make_version(str(db), tmp_path)
    with EchoServer(400, models_ok=True) as srv:
        proc = taxo("resummarize", "1", "--level", "1", "--summarizer", "openai", "--llm-base-url", srv.url + "/v1",
                    "--db", db, "--cache-dir", cache_dir, cwd=tmp_path, env={"OPENAI_API_KEY": KEY})
    assert proc.returncode == 1
    line = assert_no_secret(proc, KEY)
    assert "refused the request" in line and "HTTP 400" in line
    assert_not_stored(db, KEY)


# ---------------------------------------------------------------------------------------------- Label Studio
def test_review_push_to_a_server_echoing_the_token(tmp_path, cache_dir):
    db = tmp_path / "v.db"
    tx.init(str(db))
    make_version(str(db), tmp_path)
    with EchoServer(401) as srv:
        host = srv.url.split("://", 1)[1]
        proc = taxo("review", "push", "1", "--url", f"http://reviewer:pw-Secret-123@{host}", "--db", db,
                    "--cache-dir", cache_dir, cwd=tmp_path, env={"TAXO_LABEL_STUDIO_TOKEN": TOKEN})
    assert proc.returncode == 1
    line = assert_no_secret(proc, TOKEN, "pw-Secret-123")
    assert "rejected the token" in line
    assert_not_stored(db, TOKEN, "pw-Secret-123")


def test_validate_push_to_a_failing_server_echoing_the_token(tmp_path):
    from .test_validation_db import write_records

    db = tmp_path / "v.db"
    tx.init(str(db))
    recs = write_records(tmp_path / "recs.jsonl")
    tx.ingest(str(recs), conversation_col="conversation_id", role_col="role", excerpt_col="excerpt", db=str(db))
    from review import validation as val

    sample = val.sample(n=3, seed=0, db=str(db)).sample_id
    with EchoServer(500) as srv:
        proc = taxo("validate", "push", sample, "--url", srv.url, "--db", db, cwd=tmp_path,
                    env={"TAXO_LABEL_STUDIO_TOKEN": TOKEN})
    assert proc.returncode == 1 and srv.requests >= 2  # retried, then given up
    line = assert_no_secret(proc, TOKEN)
    assert "HTTP 500" in line
    assert_not_stored(db, TOKEN)
