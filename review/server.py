"""Starting a local Label Studio for the workbench (tests, benchmarks; ``scripts/label-studio.sh`` does the same from
the shell).

Label Studio runs from its own virtualenv (``.venv-ls``, created by ``scripts/setup.sh``: its pins clash with the
workbench's) with a pre-seeded user and a legacy API token, so that ``TAXO_LABEL_STUDIO_TOKEN`` can be set before
the server first starts. It listens on 127.0.0.1 only and makes no calls home (version check, analytics, Sentry
are off).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_VENV = Path(os.environ.get("TAXO_LABEL_STUDIO_VENV", REPO / ".venv-ls"))


def label_studio_bin(venv: Path = DEFAULT_VENV) -> Path:
    return Path(venv) / "bin" / "label-studio"


def installed_version(venv: Path = DEFAULT_VENV) -> str | None:
    for sp in sorted(Path(venv).glob("lib/python3*/site-packages")):
        for d in sp.glob("label_studio-*.dist-info"):
            return d.name[len("label_studio-") : -len(".dist-info")]
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(data_dir: Path, *, port: int, token: str, username: str, password: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAXO_LABEL_STUDIO", "LABEL_STUDIO_", "DJANGO"))}
    env.update(
        {
            "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
            "LABEL_STUDIO_USER_TOKEN": token,
            "LABEL_STUDIO_USERNAME": username,
            "LABEL_STUDIO_PASSWORD": password,
            "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
            "LABEL_STUDIO_PORT": str(port),
            "LATEST_VERSION_CHECK": "false",
            "COLLECT_ANALYTICS": "false",
            "SENTRY_DSN": "",
            "FRONTEND_SENTRY_DSN": "",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def answers(url: str, token: str, timeout: float = 5.0) -> bool:
    """True when Label Studio at ``url`` accepts ``token``."""
    import httpx

    try:
        r = httpx.get(f"{url}/api/current-user/whoami", headers={"Authorization": f"Token {token}"}, timeout=timeout)
        return r.status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class LocalServer:
    """A Label Studio process started by :func:`start`; ``stop()`` ends it (and its children)."""

    url: str
    token: str
    username: str
    data_dir: Path
    log: Path
    process: subprocess.Popen = field(repr=False)
    startup_s: float = 0.0

    def stop(self) -> None:
        proc = self.process
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def __enter__(self) -> "LocalServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class ServerStartError(RuntimeError):
    pass


def start(
    data_dir: Path,
    *,
    token: str,
    username: str,
    password: str,
    port: int | None = None,
    venv: Path = DEFAULT_VENV,
    timeout: float = 420.0,
) -> LocalServer:
    """Start Label Studio on 127.0.0.1 and wait until it accepts ``token`` (a fresh data directory runs the
    migrations first: about a minute)."""
    exe = label_studio_bin(venv)
    if not exe.exists():
        raise ServerStartError(f"{exe} is missing: run scripts/setup.sh (it creates .venv-ls)")
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log = data_dir / "server.log"
    started = time.monotonic()
    with open(log, "ab") as fh:
        proc = subprocess.Popen(
            [str(exe), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port)],
            cwd=data_dir,
            env=server_env(data_dir, port=port, token=token, username=username, password=password),
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = LocalServer(url, token, username, data_dir, log, proc)
    while not answers(url, token):
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise ServerStartError(f"Label Studio exited with code {proc.returncode} while starting; log:\n{tail}")
        if time.monotonic() - started > timeout:
            server.stop()
            tail = log.read_text(errors="replace")[-3000:]
            raise ServerStartError(f"Label Studio did not answer within {timeout:.0f}s; log:\n{tail}")
        time.sleep(0.5)
    server.startup_s = time.monotonic() - started
    return server
