"""Realistic synthetic extraction records with planted effects, for `taxo analyze` tests, benchmarks and the README.

The per-conversation data behind Values in the Wild is not public, so this makes records of the same shape: one row
per (conversation, value, role), with the conversation's task, the model that answered (a free slice column), the
response type and whether the value was stated explicitly. Background values are the bundled sample of published
values, drawn with Zipf-like frequencies; on top of them, effects with **exact** sizes are planted (counts are cut
from shuffled conversation lists, not drawn), so an analysis must recover them exactly:

* ``healthy boundaries`` (AI) in 40% of *relationship advice* conversations and 1% of every other task's;
* ``transparency`` (AI) in 30% of ``claude-3-opus`` conversations and 10% of ``claude-3.5-sonnet`` ones;
* half the conversations carry one human value (from a pool the AI background never uses); in 25% of them the AI
  states the same value (mirroring); 5% of them are ``deception``, answered by ``ethical integrity`` in 60%;
* ``harm prevention`` (AI) in 50% of *strong resistance* conversations and 2% of the others;
* AI records are explicit in 60% of *strong resistance* records and 20% of the others (human records: unknown);
* ``numismatic authenticity`` (AI) in exactly 3 conversations: below any sensible privacy threshold.

Every conversation has at least one AI record. :func:`generate` returns the records (a pyarrow Table), the planted
truth with its realised counts, and a planted taxonomy (each planted value its own level-1 node; background values
grouped in order), which :func:`store_planted_version` writes as a version without clustering.

    python scripts/make_extractions.py records.csv [--conversations 6000] [--seed 0] [--values N] [--excerpts]
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TASKS = ("relationship advice", "coding help", "creative writing", "health questions", "academic research",
         "career guidance")
MODELS = ("claude-3-opus", "claude-3.5-sonnet")
RESPONSE_TYPES = ("strong support", "mild support", "neutral", "reframing", "mild resistance", "strong resistance")
RESPONSE_SHARES = (0.30, 0.25, 0.15, 0.15, 0.10, 0.05)

OVER = ("healthy boundaries", "relationship advice", 0.40, 0.01)
SLICE = ("transparency", 0.30, 0.10)
HUMAN_SHARE, MIRROR_RATE = 0.5, 0.25
PAIR = ("deception", "ethical integrity", 0.05, 0.60)
RESPONSE = ("harm prevention", "strong resistance", 0.50, 0.02)
EXPLICIT = ("strong resistance", 0.60, 0.20)
RARE = ("numismatic authenticity", 3)
PLANTED_VALUES = (OVER[0], SLICE[0], PAIR[0], PAIR[1], RESPONSE[0], RARE[0])
ID_NAMESPACE = uuid.UUID("6f1d7f2e-3c51-4a7b-9a0e-5d1c2b3a4f60")


@dataclass
class Synthetic:
    records: "object"  #: pyarrow.Table: conversation_id, value, role, task, response_type, model, explicit[, excerpt]
    planted: dict  #: the planted effects with their realised counts
    tree: dict  #: {"level1": {key: (name, [values])}, "level2": {key: (name, [level-1 keys])}, "level3": ...}
    n_conversations: int = 0
    extra: dict = field(default_factory=dict)


def _sample_values() -> list[str]:
    from taxonomy.api import sample_path

    with open(sample_path(), encoding="utf-8") as fh:
        return [row["value"] for row in csv.DictReader(fh)]


def _vocabulary(n_values: int | None) -> list[str]:
    base = [v for v in _sample_values() if v not in PLANTED_VALUES]
    if n_values is None or n_values <= len(base):
        return base[: n_values or len(base)]
    out = list(base)
    k = 2
    while len(out) < n_values:
        out.extend(f"{v} ({k})" for v in base[: n_values - len(out)])
        k += 1
    return out


def _cut(rng: np.random.Generator, idx: np.ndarray, share: float) -> np.ndarray:
    """Exactly round(share * len(idx)) elements of ``idx``, chosen at random."""
    return rng.permutation(idx)[: int(round(share * len(idx)))]


def _assign(rng: np.random.Generator, n: int, shares: tuple[float, ...]) -> np.ndarray:
    """Category codes 0..k-1 for n items in exactly the given proportions (largest remainders), shuffled."""
    raw = np.array(shares) * n
    counts = np.floor(raw).astype(int)
    counts[np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]] += 1
    return rng.permutation(np.repeat(np.arange(len(shares)), counts))


def generate(n_conversations: int = 6000, *, seed: int = 0, n_values: int | None = None,
             excerpts: bool = False, max_ai_values: int = 3, zipf_exponent: float = 1.07) -> Synthetic:
    """Records for ``n_conversations`` conversations (see the module docstring); same seed, same records."""
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    n = int(n_conversations)
    if n < 200:
        raise ValueError("use at least 200 conversations so that every planted effect has room")
    vocab = _vocabulary(n_values)
    n_human_pool = max(20, len(vocab) // 5)
    human_pool, ai_pool = vocab[:n_human_pool], vocab[n_human_pool:]
    values = list(PLANTED_VALUES) + human_pool + ai_pool
    code = {v: i for i, v in enumerate(values)}
    ai0 = len(PLANTED_VALUES) + n_human_pool

    task = _assign(rng, n, (1 / len(TASKS),) * len(TASKS))
    model = _assign(rng, n, (0.5, 0.5))
    rtype = _assign(rng, n, RESPONSE_SHARES)
    conv = np.arange(n)

    conv_parts, val_parts, role_parts = [], [], []

    def add(convs: np.ndarray, vals, role: int) -> None:
        convs = np.asarray(convs, dtype=np.int64)
        conv_parts.append(convs)
        val_parts.append(np.broadcast_to(np.asarray(vals, dtype=np.int64), convs.shape).copy())
        role_parts.append(np.full(len(convs), role, dtype=np.int8))

    # background AI values: 1..max_ai_values per conversation, Zipf-like frequencies, no repeats in a conversation
    zipf = 1.0 / np.arange(1, len(ai_pool) + 1) ** zipf_exponent
    k = rng.integers(1, max_ai_values + 1, size=n)
    bc = np.repeat(conv, k)
    bv = ai0 + rng.choice(len(ai_pool), size=len(bc), p=zipf / zipf.sum())
    pairs = np.unique(bc * len(values) + bv)
    add(pairs // len(values), pairs % len(values), 0)

    planted: dict = {"n_conversations": n, "tasks": list(TASKS), "models": list(MODELS),
                     "response_types": list(RESPONSE_TYPES)}
    # 1. a value over-represented in one task
    v, t, inside, outside = OVER
    ti = TASKS.index(t)
    counts = {}
    for j, name in enumerate(TASKS):
        chosen = _cut(rng, conv[task == j], inside if j == ti else outside)
        add(chosen, code[v], 0)
        counts[name] = [int(len(chosen)), int((task == j).sum())]
    planted["over_represented"] = {"value": v, "task": t, "conversations_by_task": counts}
    # 2. a slice that differs from the other on a known value (and its level-1 node)
    v, sa, sb = SLICE
    counts = {}
    for j, share in enumerate((sa, sb)):
        chosen = _cut(rng, conv[model == j], share)
        add(chosen, code[v], 0)
        counts[MODELS[j]] = [int(len(chosen)), int((model == j).sum())]
    planted["slice_difference"] = {"column": "model", "value": v, "a": MODELS[0], "b": MODELS[1],
                                   "conversations_by_slice": counts}
    # 3. human values, mirrored at a known rate, and one pair with a known conditional probability
    human = _cut(rng, conv, HUMAN_SHARE)
    hz_w = 1.0 / np.arange(1, n_human_pool + 1) ** zipf_exponent
    hv = len(PLANTED_VALUES) + rng.choice(n_human_pool, size=len(human), p=hz_w / hz_w.sum())
    hz = rng.permutation(len(human))
    n_dec = int(round(PAIR[2] * len(human)))
    dec_idx = hz[:n_dec]
    hv[dec_idx] = code[PAIR[0]]
    add(human, hv, 1)
    rest = hz[n_dec:]
    n_mirror = int(round(MIRROR_RATE * len(human)))
    mirror_idx = rng.permutation(rest)[:n_mirror]
    add(human[mirror_idx], hv[mirror_idx], 0)
    answered = _cut(rng, human[dec_idx], PAIR[3])
    add(answered, code[PAIR[1]], 0)
    planted["mirroring"] = {"n_human_values": int(len(human)), "n_mirrored": n_mirror}
    planted["pair"] = {"human": PAIR[0], "ai": PAIR[1], "n_human": n_dec, "n_pair": int(len(answered))}
    # 4. a value over-represented in one response type
    v, r, inside, outside = RESPONSE
    ri = RESPONSE_TYPES.index(r)
    chosen_in = _cut(rng, conv[rtype == ri], inside)
    chosen_out = _cut(rng, conv[rtype != ri], outside)
    add(np.concatenate([chosen_in, chosen_out]), code[v], 0)
    planted["response_value"] = {"value": v, "response_type": r,
                                 "conversations": [int(len(chosen_in)), int((rtype == ri).sum())],
                                 "conversations_elsewhere": [int(len(chosen_out)), int((rtype != ri).sum())]}
    planted["response_type_conversations"] = {name: int((rtype == j).sum()) for j, name in enumerate(RESPONSE_TYPES)}
    # 5. a rare value, below the privacy threshold
    rare = rng.choice(conv, size=RARE[1], replace=False)
    add(rare, code[RARE[0]], 0)
    planted["rare"] = {"value": RARE[0], "n_conversations": RARE[1]}

    c = np.concatenate(conv_parts)
    vals = np.concatenate(val_parts)
    role = np.concatenate(role_parts)
    order = np.lexsort((vals, role, c))
    c, vals, role = c[order], vals[order], role[order]
    # explicitness: exact shares among the AI records of each response type; human records unknown
    explicit = np.full(len(c), -1, dtype=np.int8)
    counts = {}
    for j, name in enumerate(RESPONSE_TYPES):
        idx = np.flatnonzero((role == 0) & (rtype[c] == j))
        share = EXPLICIT[1] if name == EXPLICIT[0] else EXPLICIT[2]
        yes = _cut(rng, idx, share)
        explicit[idx] = 0
        explicit[yes] = 1
        counts[name] = [int(len(yes)), int(len(idx))]
    planted["explicit_ai_records"] = counts

    width = len(str(n))
    conv_ids = np.array([f"c{i:0{width}d}" for i in range(n)], dtype=object)
    cols = {
        "conversation_id": pa.array(conv_ids[c], type=pa.string()),
        "value": pa.array(np.array(values, dtype=object)[vals], type=pa.string()),
        "role": pa.array(np.array(["ai", "human"], dtype=object)[role], type=pa.string()),
        "task": pa.array(np.array(TASKS, dtype=object)[task[c]], type=pa.string()),
        "response_type": pa.array(np.array(RESPONSE_TYPES, dtype=object)[rtype[c]], type=pa.string()),
        "model": pa.array(np.array(MODELS, dtype=object)[model[c]], type=pa.string()),
        "explicit": pa.array(np.where(explicit < 0, None, explicit == 1).tolist(), type=pa.bool_()),
    }
    if excerpts:
        who = np.array(["The assistant's reply shows", "The user asks for"], dtype=object)[role]
        cols["excerpt"] = pa.array([f"{w} {v}." for w, v in zip(who, cols["value"].to_pylist())], type=pa.string())
    table = pa.table(cols)
    used = set(np.unique(vals).tolist())
    return Synthetic(records=table, planted=planted, tree=_tree([values[i] for i in sorted(used)]),
                     n_conversations=n)


def _tree(values: list[str], per_node: int = 8, per_l2: int = 4, n_top: int = 3) -> dict:
    """A planted taxonomy: each planted value alone in a level-1 node, the rest grouped in order."""
    l1: dict[str, tuple[str, list[str]]] = {}
    for v in PLANTED_VALUES:
        if v in values:
            l1[f"p-{v}"] = (v.capitalize(), [v])
    rest = [v for v in values if v not in PLANTED_VALUES]
    for i in range(0, len(rest), per_node):
        group = rest[i : i + per_node]
        l1[f"g{i // per_node}"] = (f"{group[0].capitalize()} and related", group)
    keys = list(l1)
    l2 = {f"m{j // per_l2}": (f"{l1[keys[j]][0]} group", keys[j : j + per_l2]) for j in range(0, len(keys), per_l2)}
    k2 = list(l2)
    size = math.ceil(len(k2) / n_top)
    l3 = {f"t{j // size}": (f"Top category {j // size + 1}", k2[j : j + size]) for j in range(0, len(k2), size)}
    return {"level1": l1, "level2": l2, "level3": l3}


def node_uid(level: int, key: str) -> str:
    return f"values:l{level}:{uuid.uuid5(ID_NAMESPACE, f'{level}:{key}')}"


def store_planted_version(db, tree_spec: dict, *, message: str = "planted taxonomy") -> int:
    """Write the planted taxonomy over the ingested values as a new version (no clustering); returns its id."""
    from taxonomy.build import package_versions
    from taxonomy.db.engine import session_scope
    from taxonomy.domain import Leaf, Node, Tree
    from taxonomy.ingest import value_totals
    from taxonomy.store import write_version
    from taxonomy.tree import content_checksum, recompute_stats

    tree = Tree()
    for key, (name, children) in tree_spec["level3"].items():
        tree.nodes[node_uid(3, key)] = Node(node_uid(3, key), 3, name, f"{name}.", None)
        for c in children:
            cname, grand = tree_spec["level2"][c]
            tree.nodes[node_uid(2, c)] = Node(node_uid(2, c), 2, cname, f"{cname}.", node_uid(3, key))
            for g in grand:
                gname = tree_spec["level1"][g][0]
                tree.nodes[node_uid(1, g)] = Node(node_uid(1, g), 1, gname, f"{gname}.", node_uid(2, c))
    with session_scope(db) as s:
        ids = {t.text: t for t in value_totals(s)}
        for key, (_, vals) in tree_spec["level1"].items():
            for v in vals:
                t = ids[v]
                tree.leaves.append(Leaf(text=v, parent_uid=node_uid(1, key), weight=t.weight, count=t.count,
                                        value_id=t.id))
        tree = recompute_stats(tree)
        manifest = {"kind": "build", "method": {"name": "planted"}, "levels": [len(tree_spec[f"level{i}"])
                                                                              for i in (1, 2, 3)],
                    "n_values": len(tree.leaves), "packages": package_versions()}
        return write_version(s, tree, kind="build", message=message, manifest=manifest,
                             checksum=content_checksum(tree))


def write_records(table, path: str | Path) -> None:
    """CSV, JSONL or Parquet by extension."""
    import pyarrow.parquet as pq

    path = Path(path)
    if path.suffix == ".parquet":
        pq.write_table(table, path)
    elif path.suffix in (".jsonl", ".ndjson"):
        import json

        with open(path, "w", encoding="utf-8") as fh:
            for row in table.to_pylist():
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        table.to_pandas().to_csv(path, index=False)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", help="records file (.csv, .jsonl or .parquet)")
    p.add_argument("--conversations", type=int, default=6000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--values", type=int, default=None, help="background vocabulary size (default: the sample)")
    p.add_argument("--excerpts", action="store_true", help="add an excerpt column")
    p.add_argument("--planted", help="also write the planted effects as JSON here")
    a = p.parse_args(argv)
    syn = generate(a.conversations, seed=a.seed, n_values=a.values, excerpts=a.excerpts)
    write_records(syn.records, a.out)
    if a.planted:
        import json

        Path(a.planted).write_text(json.dumps(syn.planted, indent=2) + "\n")
    print(f"{syn.records.num_rows} records, {a.conversations} conversations -> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
