"""The report's files: the page assets (package data) and the data as JavaScript files.

Pages opened from file:// cannot fetch() local files, so the data are scripts: ``data/taxo.js`` sets
``window.TAXO_DATA`` (``JSON.parse`` of one string) and each ``data/m-<k>.js`` calls ``TAXO_CHUNK(k, ...)`` when the page adds it for an opened
node. Text from the data is only ever placed with textContent by ``assets/app.js``; JSON keeps it inert here.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from taxonomy.errors import TaxoError, UsageError
from taxonomy.report.data import ReportData

#: a file written into every report directory, so that writing a report again may replace it
MARKER = ".taxo-report"
ASSETS = ("index.html", "app.js", "views.js", "style.css")


def plotly_js() -> Path:
    """plotly.min.js as shipped inside the plotly Python package (no CDN, no download)."""
    import plotly

    path = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    if not path.is_file():  # pragma: no cover - a broken plotly installation
        raise UsageError(f"plotly.js is missing from the plotly package ({path}); reinstall plotly")
    return path


def asset_path(name: str) -> Path:
    return Path(str(resources.files("taxonomy.report") / "assets" / name))


def _js(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def site_files(data: ReportData, *, serve: bool = False) -> dict[str, bytes | Path]:
    """Relative path -> contents (bytes) or the file to copy, for everything the site needs."""
    main = dict(data.main)
    main["serve"] = serve
    files: dict[str, bytes | Path] = {name if name == "index.html" else f"assets/{name}": asset_path(name)
                                      for name in ASSETS}
    files["assets/plotly.min.js"] = plotly_js()
    # JSON.parse of a string literal: parsed several times faster than the same data as an object literal
    text = json.dumps(_js(main), ensure_ascii=False)
    files["data/taxo.js"] = ("window.TAXO_DATA = JSON.parse(" + text + ");\n").encode("utf-8")
    for k, chunk in enumerate(data.chunks):
        files[f"data/m-{k}.js"] = (f"TAXO_CHUNK({k}, " + _js(chunk) + ");\n").encode("utf-8")
    for p in data.analyses:
        files[f"analyses/{p.name}"] = p
    return files


def write_site(data: ReportData, out: str | Path) -> Path:
    """Write the site into directory ``out`` (created; a previous report there is replaced, anything else
    there is refused). Everything is written to a temporary sibling first, so a failure leaves ``out`` as it was."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise UsageError(f"{out}: the directory is not empty and holds no taxo report; choose an empty or new one")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as exc:
        raise TaxoError(f"cannot write {out}: cannot create a directory in {out.parent} "
                        f"({exc.strerror or exc}); nothing was written") from None
    old = None
    try:
        for rel, content in site_files(data).items():
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, Path):
                shutil.copyfile(content, dest)
            else:
                dest.write_bytes(content)
        (tmp / MARKER).write_text(f"taxo report of version {data.version_id}\n", encoding="utf-8")
        os.chmod(tmp, 0o755)
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            out.rename(old)
        tmp.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not out.exists():  # the previous report back in its place
            old.rename(out)
        if isinstance(exc, OSError):  # a full disk, a directory made read-only meanwhile
            raise TaxoError(f"cannot write {out}: {exc.strerror or exc}; nothing was changed") from None
        raise
    return out
