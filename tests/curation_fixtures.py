"""A small hand-built taxonomy stored as version 1, for curation tests (no clustering involved)."""

from __future__ import annotations

from taxonomy.api import ingest
from taxonomy.build import package_versions
from taxonomy.db.engine import session_scope
from taxonomy.domain import Leaf, Node, Tree
from taxonomy.ingest import value_totals
from taxonomy.store import write_version
from taxonomy.tree import content_checksum, recompute_stats

#: level-1 node -> its values
VALUES = {
    "a1x": ["honesty", "truthfulness", "candor"],
    "a1y": ["transparency", "openness"],
    "a2x": ["efficiency", "productivity", "time management"],
    "b1x": ["empathy", "compassion", "kindness"],
    "b1y": ["community", "belonging", "solidarity", "cooperation"],
}
LEVEL1 = {"a1x": ("A1", "Honesty and candor"), "a1y": ("A1", "Transparency"), "a2x": ("A2", "Efficiency"),
          "b1x": ("B1", "Empathy and compassion"), "b1y": ("B1", "Community and belonging")}
LEVEL2 = {"A1": ("A", "Truthful communication"), "A2": ("A", "Productive work"), "B1": ("B", "Care for others")}
LEVEL3 = {"A": "Practical values", "B": "Social values"}


def uid(key: str) -> str:
    level = 1 if len(key) == 3 else 2 if len(key) == 2 else 3
    return f"values:l{level}:{key.encode().hex():0<8}-0000-4000-8000-000000000000"


def nodes_only() -> Tree:
    """The tree's nodes (A: A1 {a1x, a1y}, A2 {a2x}; B: B1 {b1x, b1y}), without its values."""
    tree = Tree()
    for key, name in LEVEL3.items():
        tree.nodes[uid(key)] = Node(uid(key), 3, name, f"{name} (description).", None)
    for key, (parent, name) in LEVEL2.items():
        tree.nodes[uid(key)] = Node(uid(key), 2, name, f"{name} (description).", uid(parent))
    for key, (parent, name) in LEVEL1.items():
        tree.nodes[uid(key)] = Node(uid(key), 1, name, f"{name} (description).", uid(parent))
    return tree


def make_version(db: str, tmp_path) -> int:
    """Ingest the values (weights 1..n) and write the tree as version 1; returns 1."""
    rows = ["value,weight"]
    i = 0
    for vals in VALUES.values():
        for v in vals:
            i += 1
            rows.append(f"{v},{i}")
    path = tmp_path / "curation_values.csv"
    path.write_text("\n".join(rows) + "\n")
    ingest(str(path), db=db, weight_col="weight")
    tree = nodes_only()
    with session_scope(db) as s:
        ids = {t.text: (t.id, t.weight, t.count) for t in value_totals(s)}
        for key, vals in VALUES.items():
            for v in vals:
                vid, w, c = ids[v]
                tree.leaves.append(Leaf(text=v, parent_uid=uid(key), weight=w, count=c, value_id=vid))
        tree = recompute_stats(tree)
        manifest = {
            "kind": "build",
            "model": {"name": "all-MiniLM-L6-v2"},
            "summarizer": {"name": "offline"},
            "levels": [5, 3, 2],
            "n_values": len(tree.leaves),
            "total_weight": sum(lf.weight for lf in tree.leaves),
            "id_prefix": "values",
            "method": {"name": "hand-built"},
            "packages": package_versions(),
        }
        return write_version(s, tree, kind="build", message="hand-built", manifest=manifest,
                             checksum=content_checksum(tree))
