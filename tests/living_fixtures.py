"""Extraction-record batches made from the bundled sample, for assign / novelty / drift tests."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

#: strings that are not values at all: the novelty queue should catch them
NON_VALUES = [
    "eiffel tower", "spaghetti carbonara", "screwdriver", "the number 42", "mount kilimanjaro", "toaster",
    "parking lot", "banana bread", "tokyo subway map", "cheese grater",
]


def sample_values() -> list[str]:
    from taxonomy.api import sample_path

    with open(sample_path(), encoding="utf-8") as fh:
        return [row["value"] for row in csv.DictReader(fh)]


def write_records(path: Path, values: list[str], *, n_conversations: int, seed: int, prefix: str,
                  per_conversation: int = 3) -> Path:
    """A JSONL batch: conversations with a few values each, the role alternating ai / human by conversation."""
    rng = random.Random(seed)
    lines = []
    for c in range(n_conversations):
        role = "ai" if c % 3 else "human"
        for v in rng.sample(values, min(per_conversation, len(values))):
            lines.append(json.dumps({"conversation_id": f"{prefix}{c}", "role": role, "value": v}))
    # every value appears at least once, in an ai conversation
    for i, v in enumerate(values):
        lines.append(json.dumps({"conversation_id": f"{prefix}x{i}", "role": "ai", "value": v}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def split_sample(n_base: int = 200, n_new: int = 40) -> tuple[list[str], list[str]]:
    vals = sample_values()
    rng = random.Random(7)
    rng.shuffle(vals)
    return vals[:n_base], vals[n_base : n_base + n_new]


def n_versions(db) -> int:
    """How many versions the database holds."""
    from sqlalchemy import func, select

    from taxonomy.db.engine import session_scope
    from taxonomy.db.models import Version

    with session_scope(db) as s:
        return s.scalar(select(func.count()).select_from(Version))


def tree_of(db, v):
    """The stored tree of version ``v``."""
    from taxonomy.db.engine import session_scope
    from taxonomy.store import read_tree

    with session_scope(db) as s:
        return read_tree(s, v)
