"""A light encoder for a few texts: the model's transformer through ``transformers`` alone, without importing
sentence-transformers (5.5 CPU-s on a loaded 2-core machine, ~3.5 on an idle one: the cost of a first
``taxo similar`` with a phrase the embedding cache lacks).

It does what sentence-transformers 6.x does for a model saved as Transformer → Pooling (mean) → Normalize,
encoding one text at a time (a batch of one, so no padding): the tokenizer from the model directory with
``model_max_length`` = ``max_seq_length`` of ``sentence_bert_config.json``, called with ``padding=True,
truncation="longest_first"``; ``AutoModel.from_pretrained`` with the same configuration (``use_cache`` off, the
default attention implementation); mean pooling over the attention mask with float32 sums
(``Pooling._forward_padded``); the ``Normalize`` module's L2 normalisation and then the second one
``encode(normalize_embeddings=True)`` applies. Same ops, same order, same kernels (``configure_torch``): a text's
vector is bit for bit the one ``SentenceTransformer.encode([text])`` gives (``tests/test_embed_light.py``), which
is what the embedding cache holds under the torch identity.

Only models whose saved configuration is exactly that are encoded here (:func:`light_supported`); any other
(another module list or pooling, lower-casing, prompts, another architecture than BERT) goes to
sentence-transformers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embeddings.model import ModelSpec, quiet_model_loading

#: the saved module list this encoder reproduces (sentence-transformers' modules.json)
_MODULES = [
    ("sentence_transformers.models.Transformer", ""),
    ("sentence_transformers.models.Pooling", "1_Pooling"),
    ("sentence_transformers.models.Normalize", "2_Normalize"),
]
#: architectures whose bit-identity with sentence-transformers a test checks (the bundled all-MiniLM-L6-v2)
_MODEL_TYPES = {"bert"}
_POOLING_MODES = ("pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens",
                  "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken")


def _json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def light_supported(path: Path) -> bool:
    """Whether the sentence-transformers model in ``path`` is one this encoder reproduces bit for bit: modules
    Transformer → Pooling → Normalize, mean pooling only, no lower-casing, no prompts or extra module
    arguments, a BERT transformer."""
    path = Path(path)
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
    if bert_cfg.get("do_lower_case"):
        return False
    st_file = path / "config_sentence_transformers.json"
    st_cfg = _json(st_file) if st_file.exists() else {}
    if not isinstance(st_cfg, dict) or st_cfg.get("prompts") or st_cfg.get("default_prompt_name"):
        return False
    if set(st_cfg) - {"__version__", "prompts", "default_prompt_name", "similarity_fn_name", "model_type"}:
        return False
    config = _json(path / "config.json")
    return isinstance(config, dict) and config.get("model_type") in _MODEL_TYPES


class LightEncoder:
    """Unit vectors of texts, one text at a time, as sentence-transformers gives them (module docstring)."""

    def __init__(self, spec: ModelSpec, device: str = "cpu"):
        quiet_model_loading()
        from taxonomy.kernels import configure_torch

        configure_torch(device)
        import torch
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        path = str(spec.path)
        hub = {"subfolder": "", "token": None, "cache_dir": None, "revision": None, "local_files_only": True,
               "trust_remote_code": False}
        config = AutoConfig.from_pretrained(path, **hub)
        if hasattr(config, "use_cache"):
            config.use_cache = False
        self.model = AutoModel.from_pretrained(path, config=config, **hub).to(device).eval()
        tok_kwargs = dict(hub)
        max_len = (_json(spec.path / "sentence_bert_config.json") or {}).get("max_seq_length")
        if max_len is not None:
            tok_kwargs["model_max_length"] = max_len
        self.tokenizer = AutoTokenizer.from_pretrained(path, **tok_kwargs)
        if max_len is None and getattr(config, "max_position_embeddings", -1) != -1:
            self.tokenizer.model_max_length = min(self.tokenizer.model_max_length, config.max_position_embeddings)
        self.device = device
        self._torch = torch

    def get_sentence_embedding_dimension(self) -> int:
        return int(self.model.config.hidden_size)

    def encode(self, texts: Sequence[str], **_ignored) -> np.ndarray:
        """(n, d) float32 unit vectors of ``texts`` in their order, each encoded on its own."""
        out = np.zeros((len(texts), self.get_sentence_embedding_dimension()), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = self._one(text)
        return out

    def _one(self, text: str) -> np.ndarray:
        torch = self._torch
        normalize = torch.nn.functional.normalize
        features = self.tokenizer([text], padding=True, truncation="longest_first", return_tensors="pt")
        features = {k: v.to(self.device) for k, v in features.items()}
        with torch.inference_mode():
            tokens = self.model(**features, return_dict=True).last_hidden_state
            # Pooling._forward_padded, mode "mean" (float32 model: its accumulation dtype is float32)
            dtype = tokens.dtype
            acc = torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
            mask = features["attention_mask"].unsqueeze(-1).to(dtype)
            total = (tokens * mask).sum(dim=1, dtype=acc)
            count = torch.clamp(mask.sum(dim=1, dtype=acc), min=1e-9)
            vector = (total / count).to(dtype)
            vector = normalize(vector, p=2, dim=-1)  # the Normalize module
            vector = normalize(vector, p=2, dim=1)  # encode(normalize_embeddings=True)
        return vector.cpu().float().numpy()[0]
