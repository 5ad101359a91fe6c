"""The light encoder (embeddings/light.py): a few texts the cache lacks are encoded without sentence-transformers,
to the same vectors, bit for bit, as sentence-transformers' own encode of each text alone."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embeddings import Embedder
from embeddings.embedder import LIGHT_MAX_TEXTS
from embeddings.light import LightEncoder, light_supported
from embeddings.model import load_sentence_transformer, resolve_model

ROOT = Path(__file__).resolve().parents[1]


def _phrases() -> list[str]:
    rng = random.Random(16)
    spec = resolve_model(None)
    words = (spec.path / "vocab.txt").read_text(encoding="utf-8").split()[2000:12000]
    fixed = [
        "honesty", "a", "I", "respect for the user's autonomy and privacy", "café au lait — naïve résumé",
        "日本語のテキスト", "Ünïcödé ☃ 🙂 emoji", "!!!???...", "tab\tnew\nline", "  spaced  out  ", "UPPER case",
        "12345 67.89", "don't; can't: won't", "x" * 3000, " ".join(["longer"] * 400),  # past max_seq_length
        "(parenthesised) [bracketed] {braced}", "Ελληνικά και русский", "emoji-only 🤖🧠",
    ]
    random_ones = [
        " ".join(rng.choice(words) for _ in range(rng.choice([1, 1, 2, 2, 3, 3, 4, 5, 8, 12, 20, 40, 300])))
        + rng.choice(["", ".", "!", ",", " ?", "…"])
        for _ in range(300)
    ]
    return fixed + random_ones


@pytest.fixture(scope="module")
def encoders():
    spec = resolve_model(None)
    return LightEncoder(spec, "cpu"), load_sentence_transformer(spec, device="cpu")


def test_vectors_are_bit_identical_to_sentence_transformers(encoders):
    light, st = encoders
    phrases = _phrases()
    n_tokens = [len(st.tokenizer(p)["input_ids"]) for p in phrases]
    assert max(n_tokens) > st.max_seq_length  # some are truncated
    differing = []
    for text in phrases:
        ours = light.encode([text])
        theirs = st.encode([text], batch_size=64, normalize_embeddings=True, convert_to_numpy=True,
                           show_progress_bar=False)
        assert ours.dtype == theirs.dtype == np.float32 and ours.shape == theirs.shape
        if not np.array_equal(ours, theirs):
            differing.append(text[:40])
    assert not differing, differing
    # several texts at once: each encoded on its own
    batch = phrases[:LIGHT_MAX_TEXTS]
    alone = np.vstack([light.encode([t]) for t in batch])
    assert np.array_equal(light.encode(batch), alone)
    assert light.get_sentence_embedding_dimension() == st.get_embedding_dimension()


def test_embedder_takes_the_light_path_for_one_text(encoders, tmp_path):
    _, st = encoders
    assert LIGHT_MAX_TEXTS == 1
    emb = Embedder(cache_dir=tmp_path, backend="torch", device="cpu")
    text = "a phrase the cache lacks, with punctuation!"
    got = emb.embed([text])
    assert emb.stats.n_light == 1 and emb.stats.n_embedded == 1
    alone = st.encode([text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    assert np.array_equal(got, alone)
    # the cache holds it under the torch identity: read back bit for bit
    again = Embedder(cache_dir=tmp_path, backend="torch", device="cpu")
    assert np.array_equal(again.embed([text]), got) and again.stats.n_embedded == 0
    # two or more missing texts go to sentence-transformers, batched as before (its padding moves last bits)
    many = ["value number one", "a somewhat longer value number two"]
    vecs = emb.embed(many)
    assert emb.stats.n_light == 1 and emb.stats.n_embedded == 3
    order = sorted(many, key=lambda t: (-len(t), t))  # the embedder's batch order: longest first
    batched = st.encode(order, batch_size=emb.batch_size, normalize_embeddings=True, convert_to_numpy=True,
                        show_progress_bar=False)
    assert np.array_equal(vecs, batched[[order.index(t) for t in many]])


_PROBE = """
import json, sys
from embeddings import Embedder
emb = Embedder(cache_dir=sys.argv[1], backend="torch", device="cpu")
vec = emb.embed([sys.argv[2]])
print(json.dumps({"st": "sentence_transformers" in sys.modules, "hf": "transformers" in sys.modules,
                  "light": emb.stats.n_light,
                  "shape": list(vec.shape), "bytes": vec.tobytes().hex()}))
"""


def _probe(script: str, cache: Path, text: str) -> dict:
    """The JSON a probe script prints, run in a fresh process (torch backend, CPU) on ``cache`` and ``text``."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", TAXO_DEVICE="cpu")
    env.pop("TAXO_EMBED_BACKEND", None)
    out = subprocess.run([sys.executable, "-c", script, str(cache), text],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=600, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_one_missing_text_does_not_import_sentence_transformers(encoders, tmp_path):
    """A process that embeds one new text imports neither sentence-transformers nor transformers, and gets the
    vector sentence-transformers gives that text in this process."""
    _, st = encoders
    text = "a phrase never embedded before"
    got = _probe(_PROBE, tmp_path, text)
    assert got["st"] is False and got["hf"] is False and got["light"] == 1 and got["shape"] == [1, 384]
    theirs = st.encode([text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    assert bytes.fromhex(got["bytes"]) == theirs.tobytes()


def test_the_numpy_forward_pass_is_within_1e6_of_sentence_transformers(encoders):
    """embeddings.light_numpy (queries only): the same vectors as sentence-transformers to about 1e-7 per
    component on the same 318 phrases (NumPy's matrix products are not torch's kernels, so not bit for bit)."""
    from embeddings.light_numpy import NumpyEncoder

    _, st = encoders
    numpy_encoder = NumpyEncoder(resolve_model(None))
    phrases = _phrases()
    ours = np.stack([numpy_encoder.encode_one(t) for t in phrases])
    theirs = np.vstack([st.encode([t], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
                        for t in phrases])
    assert ours.dtype == np.float32 and ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() < 1e-6
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-6)


_QUERY_PROBE = """
import json, sys
from embeddings import Embedder
emb = Embedder(cache_dir=sys.argv[1], backend="torch", device="cpu")
vec = emb.embed_query(sys.argv[2])
print(json.dumps({"torch": "torch" in sys.modules, "numpy": emb.stats.n_numpy, "count": emb.cache.count(),
                  "shape": list(vec.shape), "vector": vec[0].tolist()}))
"""


def test_a_query_the_cache_lacks_is_encoded_without_torch_and_not_stored(encoders, tmp_path):
    """Embedder.embed_query: a new phrase goes through the NumPy forward pass in a process that never imports
    torch, and is not written to the embedding cache; a phrase the cache holds is read from it, bit for bit."""
    _, st = encoders
    text = "a query phrase never embedded before"
    got = _probe(_QUERY_PROBE, tmp_path, text)
    assert got["torch"] is False and got["numpy"] == 1 and got["count"] == 0 and got["shape"] == [1, 384]
    theirs = st.encode([text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    assert np.abs(np.array(got["vector"], dtype=np.float32) - theirs[0]).max() < 1e-6
    emb = Embedder(cache_dir=tmp_path, backend="torch", device="cpu")
    stored = emb.embed([text])  # through the light encoder (torch): stored, torch's bits
    again = Embedder(cache_dir=tmp_path, backend="torch", device="cpu")
    assert np.array_equal(again.embed_query(text), stored) and again.stats.n_numpy == 0
    assert again.stats.n_cached == 1


def _copy_configs(tmp_path: Path) -> Path:
    """The bundled model's configuration files and a link to its weights: what light_supported reads."""
    src = resolve_model(None).path
    dst = tmp_path / "model"
    for f in src.rglob("*.json"):
        target = dst / f.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, target)
    (dst / "model.safetensors").symlink_to(src / "model.safetensors")
    return dst


def _edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    "file, change",
    [
        ("modules.json", lambda m: m.pop()),  # no Normalize
        ("modules.json", lambda m: m.append({"idx": 3, "name": "3", "path": "3_Dense",
                                              "type": "sentence_transformers.models.Dense"})),
        ("1_Pooling/config.json", lambda c: c.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)),
        ("1_Pooling/config.json", lambda c: c.update(pooling_mode_max_tokens=True)),
        ("sentence_bert_config.json", lambda c: c.update(do_lower_case=True)),
        ("config_sentence_transformers.json", lambda c: c.update(prompts={"query": "query: "},
                                                                  default_prompt_name="query")),
        ("sentence_bert_config.json", lambda c: c.pop("max_seq_length")),
        ("config.json", lambda c: c.update(model_type="xlm-roberta")),
        ("config.json", lambda c: c.update(hidden_act="gelu_new")),
        ("config.json", lambda c: c.update(position_embedding_type="relative_key")),
        ("config.json", lambda c: c.update(is_decoder=True)),
        ("config.json", lambda c: c.update(_attn_implementation="eager")),
        ("config.json", lambda c: c.update(torch_dtype="float16")),
    ],
)
def test_other_models_go_to_sentence_transformers(tmp_path, file, change):
    path = _copy_configs(tmp_path)
    assert light_supported(path)
    _edit(path / file, change)
    assert not light_supported(path)


def test_half_precision_weights_go_to_sentence_transformers(tmp_path):
    from safetensors.torch import load_file, save_file

    path = _copy_configs(tmp_path)
    weights = load_file(str(path / "model.safetensors"))
    (path / "model.safetensors").unlink()
    target = str(path / "model.safetensors")
    save_file({k: v.half() if v.is_floating_point() else v for k, v in weights.items()}, target)
    assert not light_supported(path)
    save_file(weights, target)
    assert light_supported(path)
