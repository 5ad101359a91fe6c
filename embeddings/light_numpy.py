"""The light encoder's forward pass in NumPy, for a query phrase: no torch import (~1.3 CPU-s of a first
``taxo similar`` with a phrase the embedding cache lacks).

It computes what :class:`embeddings.light.LightEncoder` computes (the same BERT forward, mean pooling and
normalisations, for the models :func:`embeddings.light.light_supported` accepts) with NumPy's matrix products
instead of torch's kernels, so its vector is not bit for bit torch's: it agrees to about 1e-7 per component
(``tests/test_embed_light.py`` checks 318 phrases). That is why it only serves queries and its vectors are never
stored in the embedding cache, whose vectors under the torch identity are torch's bit for bit (a build reading a
NumPy vector there would not give the tree torch's give). See :meth:`embeddings.Embedder.embed_query`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embeddings.light import WEIGHTS, setup
from embeddings.model import ModelSpec


class NumpyEncoder:
    """Unit vectors of single texts through the model's BERT forward pass in float32 NumPy (module docstring)."""

    def __init__(self, spec: ModelSpec):
        from safetensors.numpy import load_file

        path = Path(spec.path)
        setup(self, path, load_file(str(path / WEIGHTS)))

    def encode_one(self, text: str) -> np.ndarray:
        """The (d,) float32 unit vector of ``text``."""
        enc = self.tokenizer.encode(text)
        h = self._bert(np.asarray(enc.ids, dtype=np.int64), np.asarray(enc.type_ids, dtype=np.int64))
        v = h.mean(axis=0, dtype=np.float32)  # mean pooling over an unpadded sequence
        for _ in range(2):  # the Normalize module, then encode(normalize_embeddings=True)
            v = v / max(float(np.linalg.norm(v)), 1e-12)
        return v.astype(np.float32)

    def _bert(self, ids: np.ndarray, types: np.ndarray) -> np.ndarray:
        """The last hidden state (n, d) of one unpadded sequence, dropout off, exact GELU."""
        from scipy.special import erf

        w, n, hd = self._w, len(ids), self.hidden // self.heads

        def linear(x, name):
            return x @ w[name + ".weight"].T + w[name + ".bias"]

        def layer_norm(x, name):
            mu = x.mean(axis=-1, keepdims=True)
            var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
            return (x - mu) / np.sqrt(var + np.float32(self.eps)) * w[name + ".weight"] + w[name + ".bias"]

        h = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.token_type_embeddings.weight"][types]
             + w["embeddings.position_embeddings.weight"][np.arange(n)])
        h = layer_norm(h, "embeddings.LayerNorm")
        scale = np.float32(hd**-0.5)
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q, k, v = (linear(h, p + f"attention.self.{x}").reshape(n, self.heads, hd).transpose(1, 0, 2)
                       for x in ("query", "key", "value"))
            s = (q @ k.transpose(0, 2, 1)) * scale
            s = np.exp(s - s.max(axis=-1, keepdims=True))
            a = (s / s.sum(axis=-1, keepdims=True)) @ v
            a = a.transpose(1, 0, 2).reshape(n, self.hidden)
            a = layer_norm(linear(a, p + "attention.output.dense") + h, p + "attention.output.LayerNorm")
            x = linear(a, p + "intermediate.dense")
            x = x * np.float32(0.5) * (np.float32(1.0) + erf(x / np.float32(np.sqrt(2.0))).astype(np.float32))
            h = layer_norm(linear(x, p + "output.dense") + a, p + "output.LayerNorm")
        return h.astype(np.float32)
