"""The ``json`` writer: one nested document ``{"version", "checksum", "manifest", "levels", "roots": [node, ...]}``.

A node is ``{id, name, description, level, member_count, weight, pct_total_occurrences}`` plus ``children``
(nodes of the level below) or, at level 1, ``values``: ``[{value, weight, pct_total_occurrences}]``. Children are
sorted by id, values by text; numbers are written at full precision; the manifest's keys are sorted.
"""

from __future__ import annotations

import json
from typing import Any, BinaryIO

from taxonomy.domain import Leaf, Node, Tree
from taxonomy.errors import TaxoError
from taxonomy.export.base import ExportContext, json_safe
from taxonomy.tree import leaf_pct


def tree_to_json_dict(tree: Tree, ctx: ExportContext) -> dict[str, Any]:
    """The nested document written by the ``json`` format."""
    total = tree.total_weight()
    children: dict[str | None, list[Node]] = {}
    for node in sorted(tree.nodes.values(), key=lambda n: n.uid):
        children.setdefault(node.parent_uid, []).append(node)
    values: dict[str, list[Leaf]] = {}
    for leaf in sorted(tree.leaves, key=lambda lf: lf.text):
        values.setdefault(leaf.parent_uid, []).append(leaf)

    def node_dict(node: Node) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": node.uid,
            "name": node.name,
            "description": node.description,
            "level": node.level,
            "member_count": node.member_count,
            "weight": node.weight,
            "pct_total_occurrences": node.pct_total_occurrences,
        }
        if node.level == 1:
            d["values"] = [
                {"value": lf.text, "weight": lf.weight, "pct_total_occurrences": leaf_pct(lf.weight, total)}
                for lf in values.get(node.uid, [])
            ]
        else:
            d["children"] = [node_dict(c) for c in children.get(node.uid, [])]
        return d

    return {
        "version": ctx.version,
        "checksum": ctx.checksum,
        "manifest": json_safe(ctx.manifest),
        "levels": tree.depth,
        "roots": [node_dict(n) for n in children.get(None, [])],
    }


def write_json(tree: Tree, fh: BinaryIO, ctx: ExportContext) -> int:
    """Nested JSON (see the module docstring)."""
    doc = tree_to_json_dict(tree, ctx)
    try:
        data = json.dumps(doc, ensure_ascii=False, indent=2, allow_nan=False)
    except ValueError as exc:  # NaN / infinite weight
        raise TaxoError(f"cannot export to JSON: {exc}") from None
    fh.write((data + "\n").encode("utf-8"))
    return len(tree.nodes) + len(tree.leaves)
