"""Stand-in embeddings for the synthetic value phrases, so that clustering can be timed at 100k-300k values
without embedding them all first (which alone takes minutes to hours on 2 shared cores).

Each phrase of :mod:`synthetic` is (qualifier, head, context). Its vector is the normalised sum of the *real*
all-MiniLM-L6-v2 embeddings of its parts (head 1.0, qualifier 0.55, context 0.6) plus Gaussian noise (0.35 of
the unit norm spread over the dimensions), so phrases that share a head or a family lie close together as real
embeddings do, with the same dimension (384) and a comparable spread of nearest-neighbour distances. Only the
~260 parts go through the model (cached). Same n and seed -> the same array.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthetic  # noqa: E402


def part_vectors(cache_dir: str | None = None) -> dict[str, np.ndarray]:
    from embeddings import Embedder

    heads = [h for fam in synthetic.FAMILIES.values() for h in fam]
    parts = sorted(set(heads) | set(synthetic.QUALIFIERS) | set(synthetic.CONTEXTS))
    E = Embedder(cache_dir=cache_dir).embed(parts)
    return dict(zip(parts, E, strict=True))


def surrogate_embeddings(n: int, seed: int = 0, cache_dir: str | None = None) -> tuple[list[str], np.ndarray]:
    """(phrases, unit vectors float32 (n, 384)) for the first ``n`` synthetic phrases."""
    parts = synthetic.phrase_parts(n, seed)
    vec = part_vectors(cache_dir)
    dim = len(next(iter(vec.values())))
    rng = np.random.default_rng(seed + 1)
    X = rng.normal(0.0, 0.35 / np.sqrt(dim), size=(n, dim))
    heads = np.stack([vec[h] for _, h, _ in parts])
    X += heads
    for j, (q, _, c) in enumerate(parts):
        if q:
            X[j] += 0.55 * vec[q]
        if c:
            X[j] += 0.6 * vec[c]
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return [synthetic.join_parts(p) for p in parts], np.ascontiguousarray(X, dtype=np.float32)
