"""A light encoder for a few texts: the model's BERT transformer in plain torch ops, without importing
sentence-transformers or transformers' modelling code (together ~3-5 CPU-s: the cost of a first ``taxo similar``
with a phrase the embedding cache lacks; torch alone is ~0.9).

It does what sentence-transformers 6.x with transformers 5.x does for a model saved as Transformer (BERT) →
Pooling (mean) → Normalize, encoding one text at a time (a batch of one, so no padding): the tokenizer from the
model's ``tokenizer.json`` truncated at ``max_seq_length`` of ``sentence_bert_config.json``; ``BertModel``'s
forward with the "sdpa" attention sentence-transformers loads it with (transformers passes no mask to SDPA for a
sequence without padding), dropout off; mean pooling over the attention mask with float32 sums
(``Pooling._forward_padded``); the ``Normalize`` module's L2 normalisation and then the second one
``encode(normalize_embeddings=True)`` applies. Same ops, same order, same kernels (``configure_torch``): a text's
vector is bit for bit the one ``SentenceTransformer.encode([text])`` gives (``tests/test_embed_light.py`` checks
it on 318 phrases, some past ``max_seq_length``), which is what the embedding cache holds under the torch
identity.

Only models whose saved configuration is exactly that are encoded here (:func:`light_supported`); any other
(another module list or pooling, lower-casing, prompts, another architecture or BERT variant, weights other than
float32 safetensors) goes to sentence-transformers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embeddings.model import ModelSpec

#: the saved module list this encoder reproduces (sentence-transformers' modules.json)
_MODULES = [
    ("sentence_transformers.models.Transformer", ""),
    ("sentence_transformers.models.Pooling", "1_Pooling"),
    ("sentence_transformers.models.Normalize", "2_Normalize"),
]
WEIGHTS = "model.safetensors"  #: the weights file both light encoders read
_POOLING_MODES = ("pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens",
                  "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken")
#: the BERT configuration values the plain-torch forward assumes (absent counts as these defaults)
_BERT = {"model_type": "bert", "hidden_act": "gelu", "position_embedding_type": "absolute", "is_decoder": False,
         "add_cross_attention": False, "chunk_size_feed_forward": 0}


def _json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def max_seq_length(path: Path) -> int:
    """The truncation length of the model in ``path`` (its sentence_bert_config.json)."""
    return int(_json(path / "sentence_bert_config.json")["max_seq_length"])


def _plain_stack(path: Path) -> bool:
    """modules.json is Transformer → Pooling → Normalize, the pooling mean only, no prompts or lower-casing."""
    modules = _json(path / "modules.json")
    if not isinstance(modules, list) or len(modules) != len(_MODULES):
        return False
    for m, (kind, sub) in zip(modules, _MODULES):
        if not isinstance(m, dict) or m.get("type") != kind or (m.get("path") or "") != sub:
            return False
        if set(m) - {"idx", "name", "path", "type"}:  # e.g. module kwargs: not the plain stack
            return False
    pooling = _json(path / "1_Pooling" / "config.json")
    if not isinstance(pooling, dict):
        return False
    mode = pooling.get("pooling_mode")
    if mode is not None:  # the newer spelling
        if mode not in ("mean", ["mean"]):
            return False
    elif not pooling.get("pooling_mode_mean_tokens") or any(pooling.get(k) for k in _POOLING_MODES):
        return False
    if pooling.get("include_prompt") is False:
        return False
    normalize = _json(path / "2_Normalize" / "config.json") if (path / "2_Normalize").exists() else {}
    if normalize and normalize.get("module_input_name", "sentence_embedding") != "sentence_embedding":
        return False
    bert_cfg = _json(path / "sentence_bert_config.json")
    if not isinstance(bert_cfg, dict) or set(bert_cfg) - {"max_seq_length", "do_lower_case"}:
        return False
    if bert_cfg.get("do_lower_case") or not isinstance(bert_cfg.get("max_seq_length"), int):
        return False
    st_file = path / "config_sentence_transformers.json"
    st_cfg = _json(st_file) if st_file.exists() else {}
    if not isinstance(st_cfg, dict) or st_cfg.get("prompts") or st_cfg.get("default_prompt_name"):
        return False
    return not set(st_cfg) - {"__version__", "prompts", "default_prompt_name", "similarity_fn_name", "model_type"}


def light_supported(path: Path) -> bool:
    """Whether the sentence-transformers model in ``path`` is one this encoder reproduces bit for bit: modules
    Transformer → Pooling → Normalize, mean pooling only, no lower-casing, no prompts or extra module
    arguments, a plain BERT (absolute positions, exact GELU, an encoder, SDPA attention) with ``tokenizer.json``
    and float32 safetensors weights."""
    path = Path(path)
    if not _plain_stack(path) or not (path / "tokenizer.json").is_file() or not (path / WEIGHTS).is_file():
        return False
    config = _json(path / "config.json")
    if not isinstance(config, dict) or "embedding_size" in config or not _float32_weights(path / WEIGHTS):
        return False
    if config.get("attn_implementation", config.get("_attn_implementation")) not in (None, "sdpa"):
        return False
    if config.get("dtype", config.get("torch_dtype")) not in (None, "float32"):
        return False
    return all(config.get(k, v if k != "model_type" else None) == v for k, v in _BERT.items())


def _float32_weights(path: Path) -> bool:
    """Whether every floating-point tensor of the safetensors file is float32 (read from its header)."""
    try:
        with open(path, "rb") as fh:
            size = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(size)) if 0 < size < 1 << 26 else None
    except (OSError, ValueError):
        return False
    if not isinstance(header, dict):
        return False
    dtypes = {t.get("dtype") for k, t in header.items() if k != "__metadata__" and isinstance(t, dict)}
    return bool(dtypes) and dtypes <= {"F32", "I64", "I32", "I16", "I8", "U8", "BOOL"} and "F32" in dtypes


def setup(encoder, path: Path, weights: dict) -> None:
    """What both light encoders (this one, :mod:`embeddings.light_numpy`) take from the model in ``path``: its
    BERT weights without their prefix (``encoder._w``), the tokenizer (truncated, no padding) and the shape
    (``hidden``, ``heads``, ``layers``, ``eps``, ``pad_id``)."""
    from tokenizers import Tokenizer

    config = _json(path / "config.json")
    prefix = "" if "embeddings.word_embeddings.weight" in weights else "bert."
    encoder._w = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
    encoder.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    encoder.tokenizer.enable_truncation(max_seq_length(path))
    encoder.tokenizer.no_padding()
    encoder.hidden = int(config["hidden_size"])
    encoder.heads = int(config["num_attention_heads"])
    encoder.layers = int(config["num_hidden_layers"])
    encoder.eps = float(config["layer_norm_eps"])
    encoder.pad_id = config.get("pad_token_id", 0)


class LightEncoder:
    """Unit vectors of texts, one text at a time, as sentence-transformers gives them (module docstring)."""

    def __init__(self, spec: ModelSpec, device: str = "cpu"):
        from taxonomy.kernels import configure_torch

        configure_torch(device)
        import torch
        from safetensors.torch import load_file

        setup(self, spec.path, load_file(str(spec.path / WEIGHTS), device=device))  # float32 (light_supported)
        self.device = device
        self._torch = torch

    def get_sentence_embedding_dimension(self) -> int:
        return self.hidden

    def encode(self, texts: Sequence[str], **_ignored) -> np.ndarray:
        """(n, d) float32 unit vectors of ``texts`` in their order, each encoded on its own."""
        out = np.zeros((len(texts), self.hidden), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = self._one(text)
        return out

    def _one(self, text: str) -> np.ndarray:
        torch = self._torch
        normalize = torch.nn.functional.normalize
        enc = self.tokenizer.encode(text)
        ids = torch.tensor([enc.ids], dtype=torch.long, device=self.device)
        types = torch.tensor([enc.type_ids], dtype=torch.long, device=self.device)
        with torch.inference_mode():
            tokens = self._bert(ids, types)
            # Pooling._forward_padded, mode "mean" (a batch of one without padding: the mask is all ones)
            dtype = tokens.dtype
            mask = torch.ones(tokens.shape[:-1], dtype=torch.int64, device=self.device).unsqueeze(-1).to(dtype)
            total = (tokens * mask).sum(dim=1, dtype=dtype)
            count = torch.clamp(mask.sum(dim=1, dtype=dtype), min=1e-9)
            vector = (total / count).to(dtype)
            vector = normalize(vector, p=2, dim=-1)  # the Normalize module
            vector = normalize(vector, p=2, dim=1)  # encode(normalize_embeddings=True)
        return vector.cpu().numpy()[0]

    def _bert(self, ids, types):
        """``BertModel(...).last_hidden_state`` of one unpadded sequence with the "sdpa" attention of transformers
        5 (no mask: transformers drops an all-ones mask for SDPA), dropout off: the same torch ops in the same
        order as ``BertEmbeddings``, ``BertSelfAttention`` + ``sdpa_attention_forward``, ``BertSelfOutput``,
        ``BertIntermediate`` (exact GELU) and ``BertOutput``."""
        F = self._torch.nn.functional
        w, n, hd = self._w, ids.shape[1], self.hidden // self.heads

        def linear(x, name):
            return F.linear(x, w[name + ".weight"], w[name + ".bias"])

        def layer_norm(x, name):
            return F.layer_norm(x, (self.hidden,), w[name + ".weight"], w[name + ".bias"], self.eps)

        positions = self._torch.arange(n, device=self.device).unsqueeze(0)
        h = F.embedding(ids, w["embeddings.word_embeddings.weight"], self.pad_id)
        h = h + F.embedding(types, w["embeddings.token_type_embeddings.weight"])
        h = h + F.embedding(positions, w["embeddings.position_embeddings.weight"])
        h = layer_norm(h, "embeddings.LayerNorm")
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q, k, v = (linear(h, p + f"attention.self.{x}").view(1, n, -1, hd).transpose(1, 2)
                       for x in ("query", "key", "value"))
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0, scale=hd**-0.5, is_causal=False)
            a = a.reshape(a.shape[0], -1, n, v.shape[-1]).transpose(1, 2).contiguous()
            a = a.reshape(1, n, -1).contiguous()
            a = layer_norm(linear(a, p + "attention.output.dense") + h, p + "attention.output.LayerNorm")
            h = layer_norm(linear(F.gelu(linear(a, p + "intermediate.dense")), p + "output.dense") + a,
                           p + "output.LayerNorm")
        return h
