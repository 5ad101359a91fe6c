"""`taxo serve`: the report pages live from the database, read-only, on 127.0.0.1.

``/`` redirects to the newest version; ``/v/<V>/`` is the report of version V and ``/v/<V>/diff/<A>/`` the same
with the changes from version A. The files are the ones `taxo report` writes; a version's data are gathered on
first request and kept while no version is added (versions never change). Only GET and HEAD are answered.
"""

from __future__ import annotations

import mimetypes
import re
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

from sqlalchemy import Engine, func, select

from taxonomy.db.engine import get_engine, session_scope
from taxonomy.db.models import Version
from taxonomy.errors import TaxoError, UsageError
from taxonomy.report.data import ReportOptions, collect
from taxonomy.report.site import site_files

_ROUTE = re.compile(r"^/v/(\d+)/(?:diff/(\d+)/)?(.*)$")
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".html": "text/html; charset=utf-8", ".svg": "image/svg+xml"}


@dataclass
class _Site:
    newest: int | None
    files: dict[str, bytes | Path]


class ReportServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, *, db, analyses, options: ReportOptions, log: Callable[[str], None] | None):
        self.db = db
        self.analyses = analyses
        self.options = options
        self.log = log
        self.sites: dict[tuple[int, int | None], _Site] = {}
        self.lock = threading.Lock()
        super().__init__(address, _Handler)

    def newest(self) -> int | None:
        with session_scope(self.db) as session:
            return session.scalar(select(func.max(Version.id)))

    def site(self, version: int, diff: int | None) -> dict[str, bytes | Path]:
        newest = self.newest()
        key = (version, diff)
        with self.lock:
            cached = self.sites.get(key)
            if cached is not None and cached.newest == newest:
                return cached.files
            data = collect(version, diff=diff, analyses=self.analyses, options=self.options, db=self.db)
            files = site_files(data, serve=True)
            self.sites[key] = _Site(newest, files)
            return files


class _Handler(BaseHTTPRequestHandler):
    server: ReportServer
    server_version = "taxo-serve"

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        if self.server.log is not None:
            self.server.log(f"{self.address_string()} {format % args}")

    def _send(self, status: int, body: bytes, ctype: str = "text/plain; charset=utf-8", head: bool = False,
              extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-cache")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _get(self, head: bool) -> None:
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        if path in ("/", "/index.html"):
            newest = self.server.newest()
            if newest is None:
                return self._send(404, b"no versions yet: run `taxo build`\n", head=head)
            return self._send(302, b"", head=head, extra={"Location": f"/v/{newest}/"})
        m = _ROUTE.match(path)
        if not m:
            return self._send(404, b"not found\n", head=head)
        version, diff, rel = int(m.group(1)), m.group(2), unquote(m.group(3)) or "index.html"
        try:
            files = self.server.site(version, int(diff) if diff else None)
        except TaxoError as exc:
            return self._send(404, f"{exc}\n".encode(), head=head)
        content = files.get(rel)
        if content is None:
            return self._send(404, b"not found\n", head=head)
        body = content.read_bytes() if isinstance(content, Path) else content
        suffix = Path(rel).suffix.lower()
        ctype = _TYPES.get(suffix) or mimetypes.guess_type(rel)[0] or "application/octet-stream"
        self._send(200, body, ctype, head=head)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._get(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._get(head=True)

    def _refuse(self) -> None:
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, b"read-only: only GET and HEAD\n", extra={"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse  # noqa: N815


def make_server(*, port: int = 8765, host: str = "127.0.0.1", analyses=None, options: ReportOptions = ReportOptions(),
                db: str | Engine | None = None, log: Callable[[str], None] | None = None) -> ReportServer:
    """A server bound to ``host:port`` (not yet serving). The database is checked first."""
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, got {port}")
    engine = get_engine(db)
    with session_scope(engine) as session:
        session.scalar(select(func.count(Version.id)))  # an uninitialised database fails here, before binding
    try:
        return ReportServer((host, port), db=engine, analyses=analyses, options=options, log=log)
    except OSError as exc:
        raise TaxoError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


def serve_forever(server: ReportServer) -> None:
    """Serve until Ctrl-C or SIGTERM, then close the socket and return."""
    stop = threading.Event()

    def on_term(signum, frame):  # runs in the main thread; shutdown() must come from another
        if not stop.is_set():
            stop.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, on_term)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
